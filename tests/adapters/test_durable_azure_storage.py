"""The engine's task hub on Azure Storage (Azurite): store contract, crash replay, and the
real engine + Durable SDK running the engine tests' every-action orchestration on it."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from podium.adapters.durable_azure_storage import (
    AzureStorageDurableStore,
    batch_from_json,
    batch_to_json,
    escape_key,
    unescape_key,
)
from podium.localhost.api import InstanceQuery, RuntimeStatus
from podium.localhost.engine.model import (
    EntityOp,
    EntityRecord,
    InstanceRecord,
    Message,
    TimerRecord,
    WorkItem,
    WriteBatch,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def hub() -> str:
    return f"Hub{uuid.uuid4().hex[:10]}"


def inst(iid: str, status: RuntimeStatus = RuntimeStatus.Running, minute: int = 0,
         big: int = 0) -> InstanceRecord:
    return InstanceRecord(iid, "orch", "e1", status, '{"x": "' + "y" * big + '"}',
                          T0 + timedelta(minutes=minute), T0 + timedelta(minutes=minute),
                          parent={"instance_id": "p"} if iid.endswith("child") else None,
                          state={"seq": 3})


def full_batch() -> WriteBatch:
    return WriteBatch(
        put_instances={i.instance_id: i for i in (
            inst("a/1?#", minute=1, big=70_000), inst("b", RuntimeStatus.Completed, 2),
            inst("c-child", minute=3))},
        append_history=[("a/1?#", 0, [f'{{"EventId": {n}}}' for n in range(150)])],
        add_messages=[Message(1, "a/1?#", {"EventType": 6}), Message(2, "b", {"EventType": 6})],
        add_work=[WorkItem(3, "a/1?#", "e1", 0, "hello", '"Tokyo"')],
        add_timers=[TimerRecord(4, "a/1?#", "e1", T0 + timedelta(hours=1), {"EventType": 10})],
        add_entity_ops=[EntityOp(5, "@counter@k1", {"name": "add", "input": "1"})],
        put_entities=[EntityRecord("@counter@k1", True, "5", T0)],
    )


def test_key_escaping_round_trips() -> None:
    for value in ("plain", "a/b\\c#d?e%f", "tab\there", "@counter@k1"):
        escaped = escape_key(value)
        assert not set("/\\#?\t") & set(escaped)
        assert unescape_key(escaped) == value


def test_batch_json_round_trip() -> None:
    b = full_batch()
    b.delete_messages.append(("x", 9))
    assert batch_from_json(batch_to_json(b)) == b


def test_store_contract(azurite: Any) -> None:
    store = AzureStorageDurableStore(azurite.connection_string, hub())
    try:
        store.apply(full_batch())
        got = store.get_instance("a/1?#")
        assert got == inst("a/1?#", minute=1, big=70_000)  # > one property: split and rejoined
        assert store.get_instance("nope") is None
        assert store.get_history("a/1?#") == [f'{{"EventId": {n}}}' for n in range(150)]
        pending = store.load_pending()
        assert sorted(i.instance_id for i in pending.instances) == ["a/1?#", "c-child"]
        assert [m.id for m in pending.messages] == [1, 2] and pending.max_id == 5
        assert pending.timers[0].fire_at == T0 + timedelta(hours=1)
        assert pending.entity_ops[0].op["name"] == "add"
        assert store.get_entity("@counter@k1") == EntityRecord("@counter@k1", True, "5", T0)
        assert store.count("history") == 150 and store.count("work") == 1

        page, token = store.query_instances(InstanceQuery(page_size=2))
        assert [r.instance_id for r in page] == ["a/1?#", "b"] and token
        page2, token2 = store.query_instances(InstanceQuery(page_size=2, continuation_token=token))
        assert [r.instance_id for r in page2] == ["c-child"] and token2 is None
        done = store.query_instances(InstanceQuery(runtime_status=[RuntimeStatus.Completed]))
        assert [r.instance_id for r in done[0]] == ["b"]
        assert store.instance_ids(InstanceQuery(instance_id_prefix="c-")) == ["c-child"]
        late = store.query_instances(InstanceQuery(created_from=T0 + timedelta(minutes=2)))
        assert [r.instance_id for r in late[0]] == ["b", "c-child"]

        store.apply(WriteBatch(delete_messages=[("a/1?#", 1)], delete_work=[3],
                               delete_timers=[4], delete_entity_ops=[("@counter@k1", 5)]))
        pending = store.load_pending()
        assert [m.id for m in pending.messages] == [2]
        assert not pending.work and not pending.timers and not pending.entity_ops
        store.apply(WriteBatch(purge_instances=["a/1?#"], delete_all_messages=["b"]))
        assert store.get_instance("a/1?#") is None and store.get_history("a/1?#") == []
        assert store.count("messages") == 0
    finally:
        store.close()


class CrashAfter(AzureStorageDurableStore):
    """Dies (like kill -9) after the journal write and a few table operations."""

    budget = 3

    def _upsert_many(self, table: str, entities: list[dict[str, Any]]) -> None:
        if entities:
            if self.budget == 0:
                raise SystemExit("simulated crash mid-batch")
            self.budget -= 1
        super()._upsert_many(table, entities)


def test_crash_mid_batch_is_completed_on_reopen(azurite: Any) -> None:
    name = hub()
    crashing = CrashAfter(azurite.connection_string, name)
    with pytest.raises(SystemExit):
        crashing.apply(full_batch())
    crashing.close()
    assert crashing.budget == 0  # it really stopped half-way
    reopened = AzureStorageDurableStore(azurite.connection_string, name)
    try:
        assert reopened.recovered == 1
        assert reopened.get_instance("c-child") is not None
        assert reopened.get_entity("@counter@k1") is not None  # the last step of the batch
        assert len(reopened.get_history("a/1?#")) == 150
        assert reopened.load_pending().max_id == 5
    finally:
        reopened.close()
    again = AzureStorageDurableStore(azurite.connection_string, name)
    try:
        assert again.recovered == 0  # the journal was emptied by the first recovery
    finally:
        again.close()


@pytest.mark.slow
def test_engine_runs_every_action_on_azure_storage(azurite: Any) -> None:
    from podium.localhost.clock import VirtualClock
    from podium.localhost.engine import Engine, EngineOptions
    from podium.localhost.functions import FunctionIndex
    from tests.localhost.apps.all_actions import make_app
    from tests.localhost.engine.conftest import Harness

    store = AzureStorageDurableStore(azurite.connection_string, hub())
    clock = VirtualClock()
    engine = Engine(FunctionIndex.from_app(make_app()), store, clock,
                    EngineOptions(thread_count=4, verify_sessions=True))
    harness = Harness(engine, clock, store)  # type: ignore[arg-type]
    try:
        iid = engine.start_new("all_actions", "on-azurite")
        engine.raise_event(iid, "approval", {"by": "ann"})
        state = harness.run(iid)
        assert state.runtime_status == RuntimeStatus.Completed, state.output
        assert state.output["hello"] == "Hello Tokyo"
        assert state.output["child"] == {"child_of": iid, "doubled": 42}
        assert engine.read_entity_state("Counter", "k1").state == 6
        assert store.count("timers") == 0 and store.count("work") == 0
        assert store.get_history(iid) and store.get_instance(iid).status == RuntimeStatus.Completed  # type: ignore[union-attr]
    finally:
        engine.stop()
        store.close()


def test_one_owner_per_task_hub(azurite: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.storage.blob import BlobLeaseClient, BlobServiceClient

    from podium.adapters import durable_azure_storage as mod
    from podium.localhost.engine.store import StoreLocked

    monkeypatch.setattr(mod, "RENEW_EVERY", 0.1)
    name = hub()
    owner = AzureStorageDurableStore(azurite.connection_string, name)
    try:
        with pytest.raises(StoreLocked, match=f"another host process is using the task hub "
                                              f"'{name}'"):
            AzureStorageDurableStore(azurite.connection_string, name, lock_wait=0.3)
        time.sleep(0.5)  # renewed meanwhile: still ours
        owner.apply(WriteBatch(put_instances={"a": inst("a")}))
        # somebody breaks our lease (an operator, or we were paused past its expiry)
        with BlobServiceClient.from_connection_string(azurite.connection_string) as svc:
            blob = svc.get_blob_client(f"{name.lower()}-leases", "owner")
            BlobLeaseClient(blob).break_lease(lease_break_period=0)
            deadline = time.monotonic() + 5
            while not owner._lease_lost and time.monotonic() < deadline:
                time.sleep(0.05)
        with pytest.raises(StoreLocked, match="lease .* was lost"):
            owner.apply(WriteBatch(put_instances={"b": inst("b")}))
        assert owner.get_instance("b") is None
    finally:
        owner.close()
    again = AzureStorageDurableStore(azurite.connection_string, name, lock_wait=0.3)
    try:
        assert again.get_instance("a") is not None
    finally:
        again.close()


class NoCleaner(AzureStorageDurableStore):
    """Never deletes applied journal blobs: as if the process died before its cleaner ran."""

    def _clean_journal(self) -> None:
        return None


def _snapshot(store: AzureStorageDurableStore) -> Any:
    pending = store.load_pending()
    return (sorted((i.instance_id, i.status) for i in pending.instances),
            [(m.id, m.instance_id) for m in pending.messages], [w.id for w in pending.work],
            [t.id for t in pending.timers], [o.id for o in pending.entity_ops],
            store.get_history("x"), store.get_history("y"), store.get_instance("y"),
            store.get_entity("@c@k"))


def test_replaying_already_applied_batches_changes_nothing(azurite: Any) -> None:
    """Journal blobs left behind are always the last batches applied, in order; re-applying
    them onto tables that already hold them (predicate deletes included) is harmless."""
    name = hub()
    batches = [
        WriteBatch(put_instances={"x": inst("x"), "y": inst("y")},
                   append_history=[("x", 0, ['{"n": 0}', '{"n": 1}']), ("y", 0, ['{"y": 0}'])],
                   add_messages=[Message(1, "x", {"EventType": 6}),
                                 Message(2, "y", {"EventType": 6})],
                   add_work=[WorkItem(3, "x", "e1", 0, "a", None)]),
        WriteBatch(delete_messages=[("x", 1)], delete_work=[3],
                   add_messages=[Message(4, "x", {"EventType": 6})],
                   add_entity_ops=[EntityOp(5, "@c@k", {"name": "add"})]),
        WriteBatch(clear_history=["x"], append_history=[("x", 0, ['{"new": 0}'])],
                   delete_all_messages=["y"], delete_entity_ops=[("@c@k", 5)],
                   put_entities=[EntityRecord("@c@k", True, "1", T0)],
                   add_timers=[TimerRecord(6, "x", "e1", T0, {"EventType": 10})]),
        WriteBatch(purge_instances=["y"], add_messages=[Message(7, "y", {"EventType": 6})]),
        WriteBatch(delete_instance_timers=["x"], delete_messages=[("x", 4)],
                   put_instances={"x": inst("x", RuntimeStatus.Completed)}),
    ]
    crashed = NoCleaner(azurite.connection_string, name)
    for batch in batches:
        crashed.apply(batch)
    expected = _snapshot(crashed)
    crashed.close()
    reopened = AzureStorageDurableStore(azurite.connection_string, name)
    try:
        assert reopened.recovered == len(batches)  # all five re-applied, in order
        assert _snapshot(reopened) == expected
        assert expected[1] == [(7, "y")] and expected[6] == []  # the predicates really ran
    finally:
        reopened.close()
    again = AzureStorageDurableStore(azurite.connection_string, name)
    try:
        assert again.recovered == 0  # a clean close leaves no journal behind
        again.apply(batches[1])
    finally:
        again.close()  # waits for the cleaner
    last = AzureStorageDurableStore(azurite.connection_string, name)
    try:
        assert last.recovered == 0
    finally:
        last.close()
