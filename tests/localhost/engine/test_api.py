"""The DurableEngine API's errors, entity serialization and restarts on the same store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from podium.localhost.api import (
    InstanceConflict,
    InstanceNotFound,
    InstanceQuery,
    InvalidOperation,
    RuntimeStatus,
)
from podium.localhost.clock import SystemClock, VirtualClock
from podium.localhost.engine import Engine, EngineOptions
from podium.localhost.functions import FunctionIndex
from tests.localhost.apps.all_actions import make_app
from tests.localhost.engine.conftest import Harness, StoreFactory


def _restart(harness: Harness) -> Engine:
    harness.engine.stop()
    engine = Engine(
        FunctionIndex.from_app(make_app()),
        harness.store,
        harness.clock,
        EngineOptions(thread_count=4, verify_sessions=True),
    )
    harness.engine = engine
    return engine


def test_api_errors_are_typed(harness: Harness) -> None:
    engine = harness.engine
    with pytest.raises(InstanceNotFound):
        engine.raise_event("missing", "go")
    with pytest.raises(InstanceNotFound):
        engine.terminate("missing")
    with pytest.raises(InstanceNotFound):
        engine.purge("missing")
    assert engine.get_status("missing") is None

    iid = engine.start_new("wait_event", "same-id")
    with pytest.raises(InstanceConflict):
        engine.start_new("wait_event", "same-id")
    with pytest.raises(InvalidOperation, match="terminate it first"):
        engine.purge(iid)
    with pytest.raises(InvalidOperation, match="not suspended"):
        engine.resume(iid)
    engine.terminate(iid, "stop")
    with pytest.raises(InvalidOperation):
        engine.raise_event(iid, "go", 1)
    # a terminal id can be started again: a fresh execution with a fresh history
    engine.start_new("chain", "same-id", input=3)
    assert engine.run_until_idle()
    state = engine.get_status(iid, show_history=True)
    assert (state.runtime_status, state.output) == (RuntimeStatus.Completed, 3)
    assert [e["EventType"] for e in state.history].count("ExecutionStarted") == 1


def test_calls_to_one_entity_are_serialized(harness: Harness) -> None:
    engine = harness.engine
    for _ in range(20):
        engine.signal_entity("Counter", "shared", "add", 1)
    ids = [engine.start_new("entity_adder", input=["shared", 1]) for _ in range(30)]
    assert engine.run_until_idle()
    seen = sorted(engine.get_status(i).output for i in ids)
    assert len(set(seen)) == 30  # each call saw a different state: no lost update
    assert engine.read_entity_state("counter", "shared").state == 50
    assert engine.read_entity_state("COUNTER", "shared").exists
    assert not engine.read_entity_state("counter", "never-touched").exists


def test_timers_activities_and_entity_ops_survive_a_restart(harness: Harness) -> None:
    engine = harness.engine
    timer = engine.start_new("long_timer")
    waiting = engine.start_new("wait_event")
    assert engine.run_until_idle()
    engine.signal_entity("counter", "r", "add", 5)  # queued, not yet run
    engine.raise_event(waiting, "go", "a")  # committed, not yet delivered
    engine = _restart(harness)
    harness.clock.advance(timedelta(days=3))
    engine.raise_event(waiting, "go", "b")
    assert engine.run_until_idle()
    assert engine.get_status(timer).runtime_status == RuntimeStatus.Completed
    assert engine.get_status(waiting).output == ["a", "b"]
    assert engine.read_entity_state("counter", "r").state == 5


def test_terminating_a_child_fails_the_parents_task(harness: Harness) -> None:
    engine = harness.engine
    parent = engine.start_new("parent_of_waiter")
    assert engine.run_until_idle()
    children = [
        s.instance_id for s in engine.list_instances(InstanceQuery())[0] if s.name == "wait_event"
    ]
    assert len(children) == 1
    engine.terminate(children[0], "cancelled by operator")
    assert engine.run_until_idle()
    state = engine.get_status(parent)
    assert state.runtime_status == RuntimeStatus.Completed
    assert "cancelled by operator" in state.output


def test_clocks_are_utc_and_never_go_back() -> None:
    system = SystemClock()
    first, second = system.now(), system.now()
    assert first.tzinfo is not None and second >= first
    start = datetime(2030, 1, 1, tzinfo=UTC)
    clock = VirtualClock(start)
    woken = []
    unsubscribe = clock.subscribe(lambda: woken.append(clock.now()))
    assert clock.advance(timedelta(hours=2)) == start + timedelta(hours=2)
    with pytest.raises(ValueError):
        clock.set(start)
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        VirtualClock(datetime(2030, 1, 1))
    unsubscribe()
    clock.advance(timedelta(seconds=1))
    assert woken == [start + timedelta(hours=2)]


def test_function_index_groups_and_looks_up() -> None:
    index = FunctionIndex.from_app(make_app())
    assert "all_actions" in index.orchestrators and "hello" in index.activities
    assert index.entity("COUNTER").name == "counter"
    assert index.activity("hello").trigger_binding["name"] == "name"
    assert {f.name for f in index.all()} >= {"all_actions", "hello", "counter"}
    with pytest.raises(Exception, match="no activity function named 'x'"):
        index.activity("x")


def test_operations_for_an_entity_the_app_dropped_fail_cleanly(harness: Harness) -> None:
    engine = harness.engine
    caller = engine.start_new("entity_adder", input=["gone", 1])
    assert engine.step()  # one episode: the call is committed to the entity's queue, not run
    engine.signal_entity("counter", "gone", "add", 1)
    assert harness.store.count("entity_ops") == 2
    engine.stop()  # the new code has no "counter" entity
    index = FunctionIndex.from_app(make_app())
    del index.entities["counter"]
    engine = Engine(index, harness.store, harness.clock, EngineOptions(thread_count=2))
    harness.engine = engine
    assert engine.run_until_idle()
    state = engine.get_status(caller)
    assert state.runtime_status == RuntimeStatus.Failed
    assert "no entity function named 'counter' is registered by the app" in state.output
    assert harness.store.count("entity_ops") == 0


def test_a_second_store_on_the_same_task_hub_is_refused(
    harness: Harness, make_store: StoreFactory
) -> None:
    from podium.localhost.engine.store import StoreLocked

    # the harness holds the task hub "hub"; a second host on it would run every activity twice
    with pytest.raises(StoreLocked, match="another host process"):
        make_store("hub", lock_wait=0.5)
    harness.engine.stop()
    harness.store.close()  # released: a new host (a restart) opens it at once
    reopened = make_store("hub", lock_wait=0.5)
    assert reopened.get_instance("missing") is None
