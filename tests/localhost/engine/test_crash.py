"""kill -9 a host process mid fan-out; a new process on the same store finishes the job.

Runs on both stores. The committed state is read behind the host's back: the SQLite file
(read-only), or the Azure Storage tables (Azurite) directly, never through a second store,
which would take the task hub's lease and replay the running host's journal."""

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

from tests.localhost.engine.conftest import StoreSpec

ROOT = Path(__file__).resolve().parents[3]
COUNT = 200


def _sqlite_events(db: Path) -> list[str]:
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute("SELECT event FROM messages").fetchall()
        rows += con.execute("SELECT event FROM history").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()
    return [text for (text,) in rows]


def _table_events(connection_string: str, hub: str) -> list[str]:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableServiceClient

    from podium.adapters.durable_azure_storage import _unpack

    with TableServiceClient.from_connection_string(connection_string) as service:
        try:
            messages = [json.dumps(json.loads(_unpack(e))["event"])
                        for e in service.get_table_client(f"{hub}Pending").query_entities(
                            "PartitionKey eq @pk", parameters={"pk": "messages"})]
            history = [_unpack(e) for e in service.get_table_client(f"{hub}History")
                       .list_entities()]
        except ResourceNotFoundError:
            return []
    return messages + history


def _committed_results(events: list[str], strict: bool) -> dict[int, str]:
    """TaskCompleted results committed so far (pending messages and history), by seq.
    ``strict``: at rest, a result may be recorded only once. (The Azure Storage store applies a
    journaled batch step by step, so a reader racing a running host may briefly see a result
    both in history and still in the pending messages.)"""
    out: dict[int, str] = {}
    for text in events:
        event = json.loads(text)
        if event["EventType"] == 5:
            if strict:
                assert event["TaskScheduledId"] not in out, "a result was recorded twice"
            out[event["TaskScheduledId"]] = event["Result"]
    return out


@pytest.mark.slow
def test_sigkill_midway_then_a_new_process_completes(store_spec: StoreSpec,
                                                     tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    env = {**os.environ, "CRASH_LOG": str(log), "PYTHONPATH": str(ROOT)}
    if store_spec.kind == "sqlite":
        where = str(tmp_path / "hub.db")

        def events() -> list[str]:
            return _sqlite_events(Path(where))
    else:
        where = f"{store_spec.hub_prefix}crash"
        env["PODIUM_TEST_STORAGE"] = store_spec.connection_string

        def events() -> list[str]:
            return _table_events(store_spec.connection_string, where)

    def host() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.localhost.engine.crash_host", store_spec.kind, where,
             str(COUNT)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = host()
    deadline = time.monotonic() + 60
    before: dict[int, str] = {}
    while time.monotonic() < deadline:
        before = _committed_results(events(), strict=False)
        if len(before) >= 40:
            break
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert first.returncode == -signal.SIGKILL
    before = _committed_results(events(), strict=False)  # what the killed process had committed
    assert 40 <= len(before) < COUNT, f"not midway: {len(before)} results committed"

    second = host()  # on Azure Storage it first waits for the killed owner's lease to expire
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    status = json.loads(out.strip().splitlines()[-1])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"sum": sum(i * 2 for i in range(COUNT)), "count": COUNT}

    after = _committed_results(events(), strict=True)
    assert sorted(after) == list(range(COUNT))  # each result exactly once
    for seq, result in before.items():
        assert after[seq] == result  # nothing committed before the kill was lost or redone
    executions = Counter(int(line) for line in log.read_text().split())
    assert set(executions) == set(range(COUNT))  # at least once
    assert all(executions[seq] == 1 for seq in before)  # recorded results are never re-run
