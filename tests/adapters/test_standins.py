"""The stand-in launcher: clear reason when a package is missing; stop really ends the PID."""

from __future__ import annotations

import os

import pytest

from podium.adapters import standins


def test_missing_package_gives_a_reason() -> None:
    reason = standins.missing_reason("no-such-package-xyz")
    assert reason is not None and "npm ci" in reason


def test_stop_ends_the_process(azurite: standins.Azurite) -> None:
    if standins.missing_reason("azurite"):
        pytest.skip("node_modules missing")
    extra = standins.start_azurite()
    pid = extra.process.pid
    assert set(extra.ports) == {"blob", "queue", "table"}
    assert extra.ports["blob"] != azurite.ports["blob"]  # OS-assigned ports never collide
    extra.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not extra.log_path.exists()
