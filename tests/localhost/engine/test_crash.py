"""kill -9 a host process mid fan-out; a new process on the same store finishes the job."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
COUNT = 200


def _committed_results(db: Path) -> dict[int, str]:
    """TaskCompleted results committed so far (pending messages and history), by seq."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute("SELECT event FROM messages").fetchall()
        rows += con.execute("SELECT event FROM history").fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        con.close()
    out: dict[int, str] = {}
    for (text,) in rows:
        event = json.loads(text)
        if event["EventType"] == 5:
            assert event["TaskScheduledId"] not in out, "a result was recorded twice"
            out[event["TaskScheduledId"]] = event["Result"]
    return out


def _host(db: Path, log: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CRASH_LOG": str(log), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.localhost.apps.crash_host", str(db), str(COUNT)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_midway_then_a_new_process_completes(tmp_path: Path) -> None:
    db, log = tmp_path / "hub.db", tmp_path / "executions.log"
    first = _host(db, log)
    deadline = time.monotonic() + 60
    before: dict[int, str] = {}
    while time.monotonic() < deadline:
        before = _committed_results(db) if db.exists() else {}
        if len(before) >= 40:
            break
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert first.returncode == -signal.SIGKILL
    before = _committed_results(db)  # what the killed process had committed
    assert 40 <= len(before) < COUNT, f"not midway: {len(before)} results committed"

    second = _host(db, log)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    status = json.loads(out.strip().splitlines()[-1])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"sum": sum(i * 2 for i in range(COUNT)), "count": COUNT}

    after = _committed_results(db)
    assert sorted(after) == list(range(COUNT))  # each result exactly once
    for seq, result in before.items():
        assert after[seq] == result  # nothing committed before the kill was lost or redone
    executions = Counter(int(line) for line in log.read_text().split())
    assert set(executions) == set(range(COUNT))  # at least once
    assert all(executions[seq] == 1 for seq in before)  # recorded results are never re-run
