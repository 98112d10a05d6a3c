"""Every action kind, applied by the engine to the real Durable SDK."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from podium.localhost.api import InstanceQuery, RuntimeStatus, UnknownFunction
from podium.localhost.engine import Engine
from podium.localhost.engine import history as h
from podium.localhost.engine.episode import build_context, invoke_orchestrator
from podium.localhost.functions import FunctionIndex
from tests.localhost.apps import all_actions
from tests.localhost.engine.conftest import Harness


def _types(events: list[dict]) -> list[int]:
    return [e["EventType"] for e in events]


def test_all_actions_complete_under_the_real_sdk(harness: Harness) -> None:
    iid = harness.engine.start_new("all_actions", "every-action")
    harness.engine.raise_event(iid, "approval", {"by": "ann"})  # before anyone waits
    state = harness.run(iid)

    assert state.runtime_status == RuntimeStatus.Completed, state.output
    out = state.output
    assert out["hello"] == "Hello Tokyo"
    assert out["sums"] == [0, 2, 4, 6, 8]
    assert out["retried"] == "ok after 3"
    assert all_actions.ATTEMPTS["every-action:activity"] == 3
    assert "Activity function 'boom' failed: ValueError: expected failure" in out["caught"]
    assert out["child"] == {"child_of": iid, "doubled": 42}
    assert out["child_retried"] == "ok after 3"
    assert out["child_failed"] is True
    assert out["approval"] == {"by": "ann"}
    assert (out["entity_add"], out["entity_get"], out["entity_error"]) == (5, 6, True)
    assert state.custom_status == {"step": "done"}
    assert harness.engine.read_entity_state("Counter", "k1").state == 6

    events = harness.engine.history(iid)
    # retry protocol: a failed attempt is followed by a retry timer, then a new attempt
    retry_timers = [e for e in events if e["EventType"] == h.TIMER_FIRED]
    assert len(retry_timers) >= 5  # 2 activity retries, 2 child retries, the 1-hour timer
    # the cancelled 2-hour deadline never fired and no timer is left behind
    assert harness.engine.next_timer() is None
    assert harness.store.count("timers") == 0
    assert harness.store.count("messages") == 0 and harness.store.count("work") == 0


def test_completed_history_replays_to_the_same_result(harness: Harness) -> None:
    iid = harness.engine.start_new("all_actions", "replayed")
    harness.engine.raise_event(iid, "approval", "yes")
    state = harness.run(iid)
    assert state.runtime_status == RuntimeStatus.Completed
    record = harness.store.get_instance(iid)
    assert record is not None
    texts = [json.dumps({**e, "IsPlayed": True}) for e in harness.engine.history(iid)]
    fi = harness.engine.index.orchestrator("all_actions")
    replay, failure = invoke_orchestrator(fi, build_context(record, texts))
    assert failure is None
    assert replay["isDone"] is True
    assert replay["output"] == state.output
    actions = replay["actions"][0]
    assert len(actions) == len(record.state["sigs"])


def test_non_determinism_fails_naming_the_action(harness: Harness) -> None:
    all_actions.FLAGS["first_activity"] = "hello"
    try:
        iid = harness.engine.start_new("nondeterministic")
        harness.engine.run_until_idle()
        assert harness.engine.get_status(iid).runtime_status == RuntimeStatus.Running
        # the code changes under a running instance, and the host restarts on the same store
        harness.engine.stop()
        all_actions.FLAGS["first_activity"] = "add"
        restarted = Engine(
            FunctionIndex.from_app(all_actions.make_app()), harness.store, harness.clock
        )
        restarted.raise_event(iid, "continue", 1)
        assert restarted.run_until_idle()
        state = restarted.get_status(iid)
        restarted.stop()
    finally:
        all_actions.FLAGS["first_activity"] = "hello"
    assert state.runtime_status == RuntimeStatus.Failed
    assert "Non-deterministic" in state.output
    assert "action #0" in state.output
    assert "CallActivity 'hello'" in state.output and "CallActivity 'add'" in state.output


def test_orchestrator_exception_fails_with_message(harness: Harness) -> None:
    iid = harness.engine.start_new("raises")
    state = harness.run(iid)
    assert state.runtime_status == RuntimeStatus.Failed
    assert "Orchestrator function 'raises' failed" in state.output
    assert "missing thing" in state.output
    completed = harness.engine.history(iid)[-2]
    assert completed["EventType"] == 1  # ExecutionCompleted, then OrchestratorCompleted
    assert "KeyError" in completed["FailureDetails"]["Details"]


def test_external_event_raised_before_the_wait_is_buffered(harness: Harness) -> None:
    iid = harness.engine.start_new("wait_event")
    harness.engine.raise_event(iid, "go", "first")
    harness.engine.run_until_idle()
    assert harness.engine.get_status(iid).runtime_status == RuntimeStatus.Running
    harness.engine.raise_event(iid, "go", "second")
    state = harness.run(iid)
    assert state.output == ["first", "second"]


def test_events_raised_before_any_wait_are_all_kept_in_order(harness: Harness) -> None:
    iid = harness.engine.start_new("busy_then_wait")
    for value in ("one", "two", "three"):  # all before the orchestrator waits at all
        harness.engine.raise_event(iid, "go", value)
    state = harness.run(iid)
    assert state.output == ["one", "two"]
    # the third is still held for a wait that never came; nothing was collapsed or reordered
    record = harness.store.get_instance(iid)
    assert record is not None and record.state["held"] == [["go", '"three"']]


def test_continue_as_new_carries_unprocessed_events_and_bounds_history(harness: Harness) -> None:
    iid = harness.engine.start_new("loop")
    harness.engine.raise_event(iid, "final", "kept")  # arrives in execution 1, consumed in 4
    state = harness.run(iid)
    assert state.runtime_status == RuntimeStatus.Completed, state.output
    assert state.output == {"n": 3, "events": ["kept"]}
    # only the last execution's history is kept
    assert _types(harness.engine.history(iid)).count(h.EXECUTION_STARTED) == 1


def test_task_any_with_timer_times_out_on_virtual_clock(harness: Harness) -> None:
    iid = harness.engine.start_new("approval_or_timeout")
    harness.engine.run_until_idle()
    started = harness.clock.now()
    assert harness.engine.get_status(iid).runtime_status == RuntimeStatus.Running
    harness.clock.advance(timedelta(hours=1, minutes=59))
    harness.engine.run_until_idle()
    assert harness.engine.get_status(iid).runtime_status == RuntimeStatus.Running
    harness.clock.advance(timedelta(minutes=2))
    harness.engine.run_until_idle()
    state = harness.engine.get_status(iid)
    assert state.runtime_status == RuntimeStatus.Completed
    assert state.output["approved"] is None
    assert state.output["timed_out_at"] >= (started + timedelta(hours=2)).isoformat()


def test_task_any_event_wins_and_timer_is_cancelled(harness: Harness) -> None:
    iid = harness.engine.start_new("approval_or_timeout")
    harness.engine.run_until_idle()
    harness.engine.raise_event(iid, "approval", "ok")
    harness.engine.run_until_idle()
    state = harness.engine.get_status(iid)
    assert state.output == {"approved": "ok"}
    assert harness.engine.next_timer() is None
    assert harness.store.count("timers") == 0


def test_virtual_clock_jumps_a_three_day_timer(harness: Harness) -> None:
    start = harness.clock.now()
    iid = harness.engine.start_new("long_timer")
    harness.engine.run_until_idle()
    assert harness.engine.get_status(iid).runtime_status == RuntimeStatus.Running
    harness.clock.advance(timedelta(days=3))
    harness.engine.run_until_idle()
    state = harness.engine.get_status(iid)
    assert state.runtime_status == RuntimeStatus.Completed
    assert state.output >= (start + timedelta(days=3)).isoformat()


def test_fan_out_is_delivered_in_one_batch(harness: Harness) -> None:
    iid = harness.engine.start_new("fan_out", input=50)
    state = harness.run(iid)
    assert state.output == sum(i + 1 for i in range(50))
    events = harness.engine.history(iid)
    assert _types(events).count(h.ORCHESTRATOR_STARTED) == 2
    assert _types(events).count(h.TASK_COMPLETED) == 50


def test_chain_runs_one_episode_per_step(harness: Harness) -> None:
    iid = harness.engine.start_new("chain", input=5)
    state = harness.run(iid)
    assert state.output == 0 + 1 + 2 + 3 + 4
    assert _types(harness.engine.history(iid)).count(h.ORCHESTRATOR_STARTED) == 6


def test_unknown_names_give_clear_errors(harness: Harness) -> None:
    with pytest.raises(UnknownFunction, match="no orchestrator function named 'nope'.*all_actions"):
        harness.engine.start_new("nope")
    with pytest.raises(UnknownFunction, match="no entity function named 'ghost'"):
        harness.engine.signal_entity("ghost", "k", "add", 1)
    iid = harness.engine.start_new("calls_unknown")
    state = harness.run(iid)
    assert state.runtime_status == RuntimeStatus.Failed
    assert "no activity function named 'no_such_activity'" in state.output


def test_invocation_logs_carry_function_name_and_id(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tests.all_actions")
    iid = harness.engine.start_new("chain", input=1)
    harness.run(iid)
    iid = harness.engine.start_new("all_actions", "logs")
    harness.engine.raise_event(iid, "approval", 1)
    harness.run(iid)
    records = [r for r in caplog.records if r.name == "tests.all_actions"]
    assert records, "the activity logged nothing"
    assert all(r.function_name == "hello" for r in records)
    assert all(r.invocation_id for r in records)
    assert len({r.invocation_id for r in records}) == len(records)


def test_suspend_resume_terminate_purge_and_list(harness: Harness) -> None:
    engine = harness.engine
    a = engine.start_new("wait_event", "inst-a")
    b = engine.start_new("wait_event", "inst-b")
    c = engine.start_new("chain", "other-c", input=2)
    engine.run_until_idle()
    engine.suspend(a)
    engine.raise_event(a, "go", 1)
    engine.raise_event(a, "go", 2)
    engine.run_until_idle()
    assert engine.get_status(a).runtime_status == RuntimeStatus.Suspended
    engine.resume(a)
    engine.run_until_idle()
    assert engine.get_status(a).output == [1, 2]
    engine.terminate(b, "no longer needed")
    state = engine.get_status(b)
    assert (state.runtime_status, state.output) == (RuntimeStatus.Terminated, "no longer needed")

    page, token = engine.list_instances(InstanceQuery(page_size=2))
    assert len(page) == 2 and token
    rest, token2 = engine.list_instances(InstanceQuery(page_size=2, continuation_token=token))
    assert token2 is None
    assert {s.instance_id for s in page + rest} == {a, b, c}
    only = engine.list_instances(InstanceQuery(instance_id_prefix="inst-"))[0]
    assert {s.instance_id for s in only} == {a, b}
    done = engine.list_instances(InstanceQuery(runtime_status=[RuntimeStatus.Completed]))[0]
    assert {s.instance_id for s in done} == {a, c}

    assert engine.purge(a) == 1
    assert engine.get_status(a) is None
    assert engine.purge_instances(InstanceQuery(instance_id_prefix="inst-")) == 1
    assert engine.get_status(b) is None and engine.get_status(c) is not None


def test_timer_longer_than_six_days_is_split_by_the_sdk(harness: Harness) -> None:
    iid = harness.engine.start_new("long_timer_days", input=10)
    state = harness.run(iid)
    assert state.runtime_status == RuntimeStatus.Completed
    assert state.output == 10.0
    fired = [e for e in harness.engine.history(iid) if e["EventType"] == h.TIMER_FIRED]
    assert len(fired) == 3  # 3 + 3 + 4 days (longRunningTimerIntervalDuration = 3 days)
