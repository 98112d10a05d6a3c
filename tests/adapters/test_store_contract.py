"""One contract for every record-store backend: SQLite (local default) and Cosmos (emulator).

Each test uses fresh tenant/project ids, so the Cosmos database is shared for the session.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium.adapters.ports import (
    AlreadyAnsweredError,
    ConcurrencyError,
    NotFoundError,
    ValidationError,
    update_snapshot,
)
from podium.adapters.stores import RecordStores, cosmos_stores, sqlite_stores, table_stores

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture(scope="module")
def cosmos_set(cosmos_emulator) -> Iterator[RecordStores]:  # type: ignore[no-untyped-def]
    stores = cosmos_stores(cosmos_emulator.endpoint, key=cosmos_emulator.key,
                           database=f"podium-test-{uuid.uuid4().hex[:8]}",
                           create_containers=True, verify_tls=False)
    yield stores
    stores.close()


def _backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if kind == "sqlite":
        s = sqlite_stores(tmp_path)
        yield s
        s.close()
    elif kind == "cosmos":
        yield request.getfixturevalue("cosmos_set")
    else:
        azurite = request.getfixturevalue("azurite")
        t = table_stores(azurite.connection_string, create_tables=True,
                         table_prefix=f"t{uuid.uuid4().hex[:8]}")
        yield t
        t.close()


@pytest.fixture(params=["sqlite", "cosmos"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordStores]:
    yield from _backend(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "cosmos", "tables"])
def ga(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Backends of the graph + audit ports (Azure Tables implements only these two)."""
    yield from _backend(request.param, request, tmp_path)


def ids() -> tuple[str, str]:
    return f"t-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"


def audit_record(tenant: str, project: str, n: int, **extra: str) -> dict:
    return {"id": f"a{n:04d}", "tenantId": tenant, "projectId": project, "traceId": "tr-1",
            "type": "PhaseAdvanced", "actor": "orchestrator", "action": "advance",
            "phase": "Planning", "timestamp": f"2026-01-01T00:00:{n // 100:02d}.{n % 100:06d}Z",
            "details": {"n": n}, **extra}


# --- graphs ---------------------------------------------------------------------------------

def test_snapshot_create_get_replace(ga: RecordStores) -> None:
    t, p = ids()
    g = ga.graphs
    assert g.get_snapshot(t, p, "main") is None
    e1 = g.save_snapshot(t, p, "main", {"nodes": [1]})
    assert g.get_snapshot(t, p, "main") == ({"nodes": [1]}, e1)
    e2 = g.save_snapshot(t, p, "main", {"nodes": [1, 2]}, etag=e1)
    assert e2 != e1
    assert g.get_snapshot(t, p, "main") == ({"nodes": [1, 2]}, e2)


def test_snapshot_stale_etag_and_double_create_raise(ga: RecordStores) -> None:
    t, p = ids()
    g = ga.graphs
    e1 = g.save_snapshot(t, p, "f", {"v": 1})
    g.save_snapshot(t, p, "f", {"v": 2}, etag=e1)
    with pytest.raises(ConcurrencyError):
        g.save_snapshot(t, p, "f", {"v": 3}, etag=e1)  # lost update refused
    with pytest.raises(ConcurrencyError):
        g.save_snapshot(t, p, "f", {"v": 4})  # create over an existing one refused
    with pytest.raises(ConcurrencyError):
        g.save_snapshot(t, p, "missing", {"v": 1}, etag=e1)
    assert g.get_snapshot(t, p, "f")[0] == {"v": 2}  # type: ignore[index]


def test_snapshot_tenant_isolation(ga: RecordStores) -> None:
    t, p = ids()
    other = f"{t}-other"
    ga.graphs.save_snapshot(t, p, "f", {"secret": "mine"})
    assert ga.graphs.get_snapshot(other, p, "f") is None
    assert ga.graphs.list_snapshots(other, p) == ([], None)
    # the other tenant can have its own snapshot with the same project and flow ids
    ga.graphs.save_snapshot(other, p, "f", {"secret": "theirs"})
    assert ga.graphs.get_snapshot(t, p, "f")[0] == {"secret": "mine"}  # type: ignore[index]


def test_snapshot_listing_pages_with_continuation(ga: RecordStores) -> None:
    t, p = ids()
    for i in range(7):
        ga.graphs.save_snapshot(t, p, f"flow-{i}", {"i": i})
    seen, token, pages = [], None, 0
    while True:
        items, token = ga.graphs.list_snapshots(t, p, continuation=token, limit=3)
        seen += [it["flowId"] for it in items]
        pages += 1
        assert all(it["etag"] for it in items)
        if token is None:
            break
    assert seen == [f"flow-{i}" for i in range(7)]
    assert pages >= 3


def test_concurrent_read_modify_write_loses_no_update(ga: RecordStores) -> None:
    t, p = ids()
    ga.graphs.save_snapshot(t, p, "counter", {"n": 0})

    def bump() -> None:
        for _ in range(5):
            update_snapshot(ga.graphs, t, p, "counter", lambda s: {"n": s["n"] + 1},
                            attempts=100)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert ga.graphs.get_snapshot(t, p, "counter")[0] == {"n": 20}  # type: ignore[index]


# --- audit ----------------------------------------------------------------------------------

def test_audit_append_query_filters_and_paging(ga: RecordStores) -> None:
    t, p = ids()
    for n in range(10):
        extra = {"taskId": "task-a", "agentId": "qa-agent"} if n % 2 else {}
        ga.audit.append(audit_record(t, p, n, **extra))
    ga.audit.append(audit_record(t, p, 3, **{"taskId": "task-a", "agentId": "qa-agent"}))
    ga.audit.append({**audit_record(t, p, 50), "traceId": "tr-2", "type": "SecretAccessed"})

    all_items, token = ga.audit.query(t, p, limit=100)
    assert token is None
    assert [r["id"] for r in all_items] == [f"a{n:04d}" for n in (*range(10), 50)]
    assert all_items[0]["details"] == {"n": 0}

    by_task, _ = ga.audit.query(t, p, task_id="task-a")
    assert [r["id"] for r in by_task] == ["a0001", "a0003", "a0005", "a0007", "a0009"]
    assert ga.audit.query(t, p, agent_id="qa-agent", task_id="task-a")[0] == by_task
    assert [r["id"] for r in ga.audit.query(t, p, trace_id="tr-2")[0]] == ["a0050"]
    assert [r["id"] for r in ga.audit.query(t, p, type="SecretAccessed")[0]] == ["a0050"]

    paged, token = [], None
    while True:
        items, token = ga.audit.query(t, p, trace_id="tr-1", continuation=token, limit=4)
        paged += [r["id"] for r in items]
        if token is None:
            break
    assert paged == [f"a{n:04d}" for n in range(10)]
    assert ga.audit.query(f"{t}x", p) == ([], None)


def test_audit_rejects_incomplete_records(ga: RecordStores) -> None:
    t, p = ids()
    bad = audit_record(t, p, 1)
    del bad["traceId"]
    with pytest.raises(ValidationError, match="traceId"):
        ga.audit.append(bad)
    with pytest.raises(ValidationError):
        ga.audit.append({**audit_record(t, p, 2), "id": "a/b"})
    with pytest.raises(ValidationError, match="traceId"):
        ga.audit.append({**audit_record(t, p, 3), "traceId": ""})
    assert ga.audit.query(t, p) == ([], None)
    ga.audit.append({**audit_record(t, p, 4), "phase": "", "taskId": None})  # no phase applies
    assert [r["id"] for r in ga.audit.query(t, p)[0]] == ["a0004"]


# --- human tasks ----------------------------------------------------------------------------

def test_human_task_answered_once(stores: RecordStores) -> None:
    t, p = ids()
    h = stores.human_tasks
    etag = h.put({"tenantId": t, "projectId": p, "taskId": "approve-1", "question": "ok?"})
    h.put({"tenantId": t, "projectId": p, "taskId": "approve-2", "question": "ok too?"})
    assert [x["taskId"] for x in h.list_pending(t, p)] == ["approve-1", "approve-2"]
    with pytest.raises(NotFoundError):
        h.answer(t, p, "nope", {"ok": True}, answered_by="ann")
    with pytest.raises(NotFoundError):
        h.answer(f"{t}x", p, "approve-1", {"ok": True}, answered_by="mallory")
    done = h.answer(t, p, "approve-1", {"approved": True}, answered_by="ann", etag=etag)
    assert done["status"] == "answered" and done["answeredBy"] == "ann"
    with pytest.raises(AlreadyAnsweredError):
        h.answer(t, p, "approve-1", {"approved": False}, answered_by="bob")
    with pytest.raises(AlreadyAnsweredError):  # a retried put cannot re-open it
        h.put({"tenantId": t, "projectId": p, "taskId": "approve-1", "question": "ok?"})
    task, _ = h.get(t, p, "approve-1")  # type: ignore[misc]
    assert task["answer"] == {"approved": True} and task["status"] == "answered"
    assert [x["taskId"] for x in h.list_pending(t, p)] == ["approve-2"]
    assert h.list_pending(f"{t}x", p) == []


def test_human_task_stale_etag(stores: RecordStores) -> None:
    t, p = ids()
    h = stores.human_tasks
    old = h.put({"tenantId": t, "projectId": p, "taskId": "x", "question": "v1"})
    h.put({"tenantId": t, "projectId": p, "taskId": "x", "question": "v2"})
    with pytest.raises(ConcurrencyError):
        h.answer(t, p, "x", {"a": 1}, answered_by="ann", etag=old)


def test_concurrent_answers_one_wins(stores: RecordStores) -> None:
    t, p = ids()
    stores.human_tasks.put({"tenantId": t, "projectId": p, "taskId": "race"})
    results: list[str] = []

    def answer(who: str) -> None:
        try:
            stores.human_tasks.answer(t, p, "race", {"by": who}, answered_by=who)
            results.append("won")
        except AlreadyAnsweredError:
            results.append("lost")

    threads = [threading.Thread(target=answer, args=(f"u{i}",)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["lost", "lost", "lost", "won"]


# --- deliveries, processed events, projects -------------------------------------------------

def test_delivery_put_get_list(stores: RecordStores) -> None:
    t, p = ids()
    d = stores.deliveries
    assert d.get(t, p) is None
    d.put({"tenantId": t, "projectId": p, "status": "Delivered", "artifacts": ["a.zip"]})
    d.put({"tenantId": t, "projectId": p, "deliveryId": "rerun-2", "status": "Failed"})
    assert d.get(t, p)["status"] == "Delivered"  # type: ignore[index]
    assert d.get(t, p, "rerun-2")["status"] == "Failed"  # type: ignore[index]
    assert [x["deliveryId"] for x in d.list(t, p)] == [p, "rerun-2"]
    assert d.get(f"{t}x", p) is None and d.list(f"{t}x", p) == []


def test_processed_events_remember_once_and_expire(stores: RecordStores) -> None:
    t, p = ids()
    e = stores.processed_events
    assert e.remember(t, p, "evt-1", 3600) is True
    assert e.remember(t, p, "evt-1", 3600) is False
    assert e.remember(f"{t}x", p, "evt-1", 3600) is True  # other tenant: its own key space
    assert e.remember(t, p, "evt-2", 0) is True
    assert e.remember(t, p, "evt-2", 3600) is True  # expired (ttl 0) counts as new


def test_processed_events_concurrent_remember_exactly_one_true(stores: RecordStores) -> None:
    t, p = ids()
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(
        stores.processed_events.remember(t, p, "dup", 600))) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == [False] * 5 + [True]


def test_projects_put_get_list_filters(stores: RecordStores) -> None:
    t, _ = ids()
    pr = stores.projects
    for i in range(5):
        pr.put({"tenantId": t, "projectId": f"proj-{i}", "name": "shop" if i % 2 else "crm",
                "request": {"goal": i}, "createdAt": f"2026-01-0{i + 1}T00:00:00.000000Z"})
    assert pr.get(t, "proj-3")["request"] == {"goal": 3}  # type: ignore[index]
    assert pr.get(f"{t}x", "proj-3") is None
    names = [x["projectId"] for x in pr.list(t, name="shop")[0]]
    assert names == ["proj-3", "proj-1"]
    recent = [x["projectId"] for x in pr.list(t, created_after="2026-01-03T00:00:00.000000Z")[0]]
    assert recent == ["proj-4", "proj-3"]
    seen, token = [], None
    while True:
        items, token = pr.list(t, continuation=token, limit=2)
        seen += [x["projectId"] for x in items]
        if token is None:
            break
    assert seen == [f"proj-{i}" for i in (4, 3, 2, 1, 0)]
    assert pr.list(f"{t}x") == ([], None)
