"""The documented way to use the fixture: `pytest_plugins = ["podium.localhost.testing"]`
in a user's top-level conftest, then a 3-day timer driven instantly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.localhost.host.conftest import BASIC_APP

REPO = Path(__file__).resolve().parents[3]

USER_TEST = f'''
from datetime import timedelta

def test_three_days_in_no_time(podium_host):
    host = podium_host({str(BASIC_APP)!r})
    assert host.port is None and host.clock.is_virtual
    host.advance(timedelta(days=3))
    assert host.wait_for_idle()
    assert host.engine.read_entity_state("counter", "ticks").state == 100  # once, past due
'''


def test_plugin_in_a_users_project(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["podium.localhost.testing"]\n')
    (tmp_path / "test_user.py").write_text(USER_TEST)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
