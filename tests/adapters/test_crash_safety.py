"""A process killed (SIGKILL) in the middle of a write loop leaves no half-written graph or
audit row: every stored snapshot and audit record is complete and self-consistent afterwards.

The writer runs in a subprocess that updates graph snapshots (with ETags) and appends audit
records as fast as it can; it is killed at a random moment, several times, and each record's
embedded checksum is verified after each kill.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from podium.adapters.stores import RecordStores, cosmos_stores, sqlite_stores

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

WRITER = textwrap.dedent("""
    import hashlib, os, sys, warnings
    warnings.simplefilter("ignore")
    from podium.adapters.stores import cosmos_stores, sqlite_stores
    backend, tenant, project = sys.argv[1:4]
    if backend == "sqlite":
        s = sqlite_stores(os.environ["CRASH_DIR"])
    else:
        s = cosmos_stores(os.environ["CRASH_ENDPOINT"], key=os.environ["CRASH_KEY"],
                          database=os.environ["CRASH_DB"], verify_tls=False)
    start, token = 0, None
    while True:
        rows, token = s.audit.query(tenant, project, continuation=token, limit=1000)
        start += len(rows)
        if token is None:
            break
    etags = {}
    for flow in range(4):
        got = s.graphs.get_snapshot(tenant, project, f"flow-{flow}")
        etags[flow] = got[1] if got else None
    i = start
    while True:
        flow = i % 4
        payload = os.urandom(64).hex() * 200  # ~25 KB: a write takes long enough to be cut
        snap = {"seq": i, "payload": payload,
                "sha": hashlib.sha256(f"{i}:{payload}".encode()).hexdigest()}
        etags[flow] = s.graphs.save_snapshot(tenant, project, f"flow-{flow}", snap, etags[flow])
        detail = os.urandom(32).hex() * 100
        s.audit.append({"id": f"a{i:06d}", "tenantId": tenant, "projectId": project,
                        "traceId": "tr", "type": "Step", "actor": "crash-test", "action": "write",
                        "phase": "Assembly", "timestamp": f"2026-01-01T00:00:00.{i:06d}Z",
                        "details": {"d": detail,
                                    "sha": hashlib.sha256(detail.encode()).hexdigest()}})
        if i == start + 5:
            print("running", flush=True)
        i += 1
""")


def _verify(stores: RecordStores, tenant: str, project: str) -> tuple[int, int]:
    snaps, token = stores.graphs.list_snapshots(tenant, project, limit=100)
    assert token is None
    for item in snaps:
        s = item["snapshot"]
        assert set(s) == {"seq", "payload", "sha"}, "half-written snapshot"
        assert hashlib.sha256(f"{s['seq']}:{s['payload']}".encode()).hexdigest() == s["sha"]
    rows: list[dict] = []
    token = None
    while True:
        page, token = stores.audit.query(tenant, project, continuation=token, limit=1000)
        rows += page
        if token is None:
            break
    for n, row in enumerate(rows):
        assert row["id"] == f"a{n:06d}", "audit trail has a gap or a duplicate"
        d = row["details"]
        assert hashlib.sha256(d["d"].encode()).hexdigest() == d["sha"], "half-written audit row"
    return len(snaps), len(rows)


def _run_and_kill(backend: str, tenant: str, project: str, env: dict[str, str]) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, backend, tenant, project],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **env}, start_new_session=True)
    try:
        line = proc.stdout.readline() if proc.stdout else b""
        assert line.strip() == b"running", proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        time.sleep(random.uniform(0.05, 0.3))
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert proc.returncode == -signal.SIGKILL, "the writer should have been killed mid-loop"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "cosmos"])
def test_kill_mid_write_leaves_no_half_written_rows(backend: str, tmp_path: Path,
                                                    request: pytest.FixtureRequest) -> None:
    tenant, project = f"t-{uuid.uuid4().hex[:6]}", f"p-{uuid.uuid4().hex[:6]}"
    if backend == "sqlite":
        env = {"CRASH_DIR": str(tmp_path)}

        def open_stores() -> RecordStores:
            return sqlite_stores(tmp_path)
    else:
        emu = request.getfixturevalue("cosmos_emulator")
        env = {"CRASH_ENDPOINT": emu.endpoint, "CRASH_KEY": emu.key,
               "CRASH_DB": f"crash-{uuid.uuid4().hex[:8]}"}
        cosmos_stores(emu.endpoint, key=emu.key, database=env["CRASH_DB"],
                      create_containers=True, verify_tls=False).close()

        def open_stores() -> RecordStores:
            return cosmos_stores(emu.endpoint, key=emu.key, database=env["CRASH_DB"],
                                 verify_tls=False)

    last_rows = 0
    for _ in range(3):
        _run_and_kill(backend, tenant, project, env)
        stores = open_stores()
        try:
            snaps, rows = _verify(stores, tenant, project)
        finally:
            stores.close()
        assert snaps == 4 and rows > last_rows  # progress was made and survived
        last_rows = rows
    if backend == "sqlite":
        import sqlite3

        conn = sqlite3.connect(tmp_path / "podium-adapters.sqlite3")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
