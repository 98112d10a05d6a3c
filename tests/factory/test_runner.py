"""`podium run`, the main job, as a user runs it: a real process, a real port, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.factory.conftest import EXAMPLE, REPO


def _run(tmp_path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PODIUM_SECRETS_FILE": str(tmp_path / "secrets.json")}
    env.pop("PODIUM_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "podium", "run", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_run_delivers_the_example_with_auto_approve(tmp_path):
    result = _run(tmp_path, str(EXAMPLE), "--auto-approve", "--port", "0",
                  "--data-dir", str(tmp_path / "data"), "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "delivered in" in result.stdout
    assert "auto-approved Approve domain model" in result.stdout
    assert "[Assembly" in result.stdout, "live progress shows the phases"
    out = tmp_path / "out" / "contoso-shop"
    assert {p.name for p in (out / "services").iterdir()} >= {"catalog", "orders", "customers"}
    summary = json.loads((out / "delivery" / "summary.json").read_text())
    assert summary["projectId"] == "contoso-shop" and summary["totalTasks"] > 30
    log = (tmp_path / "data" / "podium.log").read_text().splitlines()
    assert log and all(json.loads(line)["timestamp"] for line in log[:50])


def test_run_refuses_bad_input_with_exit_code_2(tmp_path):
    missing = _run(tmp_path, str(tmp_path / "nope.json"), "--port", "0", timeout=60)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = _run(tmp_path, str(bad), "--port", "0", timeout=60)
    assert result.returncode == 2 and "not valid JSON" in result.stderr
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"tenantId": "t", "projectId": "p-1", "name": "x"}))
    result = _run(tmp_path, str(invalid), "--port", "0", "--data-dir", str(tmp_path / "d"),
                  timeout=120)
    assert result.returncode == 2 and "domain" in result.stderr
