"""Extended sessions: replay state kept between episodes equals a full replay."""

from __future__ import annotations

import logging

import pytest

from podium.localhost.api import RuntimeStatus
from podium.localhost.clock import VirtualClock
from podium.localhost.engine import Engine, EngineOptions
from podium.localhost.engine.sessions import ExtendedSessions
from podium.localhost.functions import FunctionIndex
from tests.localhost.apps.all_actions import make_app
from tests.localhost.engine.conftest import Harness, StoreFactory


def _run_all_actions(
    make_store: StoreFactory, name: str, **options: object
) -> tuple[object, Engine]:
    clock = VirtualClock()
    engine = Engine(
        FunctionIndex.from_app(make_app()),
        make_store(name),
        clock,
        EngineOptions(thread_count=4, **options),  # type: ignore[arg-type]
    )
    harness = Harness(engine, clock, engine.store)  # type: ignore[arg-type]
    iid = engine.start_new("all_actions", name)
    engine.raise_event(iid, "approval", "yes")
    state = harness.run(iid)
    engine.stop()
    return state.output, engine


def test_sessions_are_used_and_verified_equal_to_full_replay(harness: Harness) -> None:
    iid = harness.engine.start_new("chain", input=20)
    state = harness.run(iid)
    assert state.output == sum(range(20))
    invoker = harness.engine._invoker
    assert isinstance(invoker, ExtendedSessions) and invoker.verify
    assert invoker.hits >= 19  # every step after the first continued the session
    assert invoker.misses == 1


def test_same_result_with_and_without_sessions(make_store: StoreFactory) -> None:
    with_sessions, _ = _run_all_actions(make_store, "s1", verify_sessions=True)
    without, engine = _run_all_actions(make_store, "s2", extended_sessions=False)
    assert not isinstance(engine._invoker, ExtendedSessions)
    strip = {"caught", "child"}  # these embed instance-specific ids / tracebacks
    assert {k: v for k, v in with_sessions.items() if k not in strip} == {
        k: v for k, v in without.items() if k not in strip
    }


def test_evicted_session_falls_back_to_full_replay(make_store: StoreFactory) -> None:
    clock = VirtualClock()
    engine = Engine(
        FunctionIndex.from_app(make_app()),
        make_store(),
        clock,
        EngineOptions(thread_count=4, session_capacity=1, verify_sessions=True),
    )
    ids = [engine.start_new("chain", input=6) for _ in range(3)]
    assert engine.run_until_idle()
    for iid in ids:
        state = engine.get_status(iid)
        assert (state.runtime_status, state.output) == (RuntimeStatus.Completed, 15)
    invoker = engine._invoker
    assert isinstance(invoker, ExtendedSessions)
    assert invoker.misses > 3  # sessions were evicted and rebuilt by full replay
    engine.stop()


def test_fast_history_events_equal_the_sdks_own() -> None:
    from azure.durable_functions.models.history.HistoryEvent import HistoryEvent

    from podium.localhost.engine.sessions import _fast_event

    samples = [
        {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": "2026-11-25T12:00:00.5Z"},
        {
            "EventType": 15,
            "EventId": -1,
            "IsPlayed": True,
            "Timestamp": "2026-11-25T12:00:00.000001Z",
            "Name": "go",
            "Input": "1",
            "PodiumExternal": True,
        },
        {
            "EventType": 14,
            "EventId": 3,
            "IsPlayed": True,
            "Timestamp": "2026-11-25T12:00:00Z",
            "InstanceId": "@c@k",
            "Name": "add",
            "Input": "{}",
        },
    ]
    for sample in samples:
        fast, sdk = _fast_event(sample), HistoryEvent(**sample)
        assert vars(fast) == vars(sdk)
        assert fast.timestamp.utcoffset() == sdk.timestamp.utcoffset()


@pytest.mark.parametrize("sessions", [True, False])
def test_is_replaying_lets_user_code_log_each_step_once(
    make_store: StoreFactory, caplog: pytest.LogCaptureFixture, sessions: bool
) -> None:
    caplog.set_level(logging.INFO, logger="tests.all_actions")
    engine = Engine(
        FunctionIndex.from_app(make_app()),
        make_store(),
        VirtualClock(),
        EngineOptions(thread_count=2, extended_sessions=sessions),
    )
    iid = engine.start_new("replay_aware")
    assert engine.run_until_idle()
    engine.stop()
    assert engine.get_status(iid).output == "ok"
    steps = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step")]
    assert steps == ["step 0 done", "step 1 done", "step 2 done"]
    assert {r.function_name for r in caplog.records if r.getMessage().startswith("step")} == {
        "replay_aware"
    }
