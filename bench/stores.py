"""Writes/s and reads/s of each store implementation for graph snapshots and audit appends.

    .venv/bin/python bench/stores.py [--n 500] [--snapshot-kb 4] [--only sqlite,cosmos,tables]

Backends: SQLite (file in a temp dir), the Cosmos DB emulator and Azurite tables (both started
from node_modules on free loopback ports and stopped at the end; skipped with a note when
node_modules is missing). One Python thread, sequential calls: the figures are per-caller
latency-bound rates, not a server's capacity. Operations measured:

* snapshot write: ``save_snapshot`` replacing with the current ETag (the orchestrator's path)
* snapshot read:  ``get_snapshot`` point read
* audit append:   ``append`` of a new record
* audit query:    ``query`` by traceId, one page of 50
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podium.adapters import standins  # noqa: E402
from podium.adapters.stores import cosmos_stores, sqlite_stores, table_stores  # noqa: E402


def rate(n: int, fn: Callable[[int], Any]) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def bench(name: str, graphs: Any, audit: Any, n: int, snapshot_kb: int) -> dict[str, float]:
    tenant, project = "bench", f"p-{uuid.uuid4().hex[:8]}"
    payload = "x" * (snapshot_kb * 1024)
    etag = graphs.save_snapshot(tenant, project, "main", {"i": -1, "payload": payload})

    def write(i: int) -> None:
        nonlocal etag
        etag = graphs.save_snapshot(tenant, project, "main", {"i": i, "payload": payload}, etag)

    out = {"snapshot write/s": rate(n, write)}
    out["snapshot read/s"] = rate(n, lambda i: graphs.get_snapshot(tenant, project, "main"))

    def append(i: int) -> None:
        audit.append({"id": f"a{i:08d}", "tenantId": tenant, "projectId": project,
                      "traceId": f"tr-{i % 10}", "type": "AgentTaskCompleted", "actor": "bench",
                      "action": "complete", "phase": "Assembly",
                      "timestamp": f"2026-01-01T00:00:00.{i:06d}Z", "taskId": f"t{i}",
                      "agentId": "qa-agent", "details": {"n": i, "note": "y" * 200}})

    out["audit append/s"] = rate(n, append)
    out["audit query/s"] = rate(max(1, n // 10),
                                lambda i: audit.query(tenant, project, trace_id="tr-3", limit=50))
    print(f"{name:8s} " + "  ".join(f"{k} {v:8.0f}" for k, v in out.items()), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="operations per measurement")
    parser.add_argument("--snapshot-kb", type=int, default=4, help="snapshot payload size")
    parser.add_argument("--only", default="sqlite,cosmos,tables")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    warnings.simplefilter("ignore")  # the emulator's self-signed TLS certificate
    print(f"n={args.n} per measurement, snapshot {args.snapshot_kb} KB, one thread, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")

    if "sqlite" in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            s = sqlite_stores(tmp)
            bench("sqlite", s.graphs, s.audit, args.n, args.snapshot_kb)
            s.close()

    if "cosmos" in wanted:
        reason = standins.missing_reason("@vercel/cosmosdb-server")
        if reason:
            print(f"cosmos   skipped: {reason}")
        else:
            emu = standins.start_cosmos_emulator()
            try:
                c = cosmos_stores(emu.endpoint, key=emu.key, database="bench",
                                  create_containers=True, verify_tls=False)
                bench("cosmos", c.graphs, c.audit, args.n, args.snapshot_kb)
                c.close()
            finally:
                emu.stop()

    if "tables" in wanted:
        reason = standins.missing_reason("azurite")
        if reason:
            print(f"tables   skipped: {reason}")
        else:
            az = standins.start_azurite()
            try:
                t = table_stores(az.connection_string, create_tables=True)
                bench("tables", t.graphs, t.audit, args.n, args.snapshot_kb)
                t.close()
            finally:
                az.stop()


if __name__ == "__main__":
    main()
