"""Retry delays, timeouts, scheduling limits, error classification and the flow lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from podium.domain import (
    DEFAULT_TIMEOUTS,
    DomainError,
    ErrorClass,
    FailureAction,
    FlowLockPolicy,
    RetryPolicy,
    SchedulingLimits,
    classify_error,
    decide_failure,
    select_dispatchable,
)


def test_exponential_delays_are_deterministic_and_capped() -> None:
    p = RetryPolicy(max_attempts=5, initial_delay_sec=30, backoff="exponential", max_delay_sec=100)
    assert [p.delay_for(i) for i in (1, 2, 3, 4)] == [30, 60, 100, 100]
    assert p.delay_for(10_000) == 100  # no overflow
    q = RetryPolicy.model_validate({"initialDelaySec": 5, "backoffStrategy": "Fixed"})
    assert [q.delay_for(i) for i in (1, 2, 3)] == [5, 5, 5]
    c = RetryPolicy(initial_delay_sec=1, coefficient=3)
    assert [c.delay_for(i) for i in (1, 2, 3)] == [1, 3, 9]


def test_retry_policy_validation() -> None:
    with pytest.raises(DomainError, match="attempt must be >= 1"):
        RetryPolicy().delay_for(0)
    with pytest.raises(ValidationError, match="maxAttempts"):
        RetryPolicy.model_validate({"maxAttempts": 0})
    with pytest.raises(ValidationError, match="backoff"):
        RetryPolicy.model_validate({"backoff": "random"})
    p = RetryPolicy(max_attempts=3)
    assert [p.can_retry(n) for n in (1, 2, 3)] == [True, True, False]


def test_timeout_defaults_are_the_seeds() -> None:
    t = DEFAULT_TIMEOUTS
    assert (t.task_sec, t.ack_sec, t.human_sec, t.orchestration_ttl_sec) == (900, 30, 7200, 86400)


@dataclass
class T:
    name: str
    agent_id: str | None
    priority: int = 0
    is_human: bool = False


def names(tasks: list[T]) -> list[str]:
    return [t.name for t in tasks]


def test_global_limit() -> None:
    ready = [T(f"t{i}", "a") for i in range(6)]
    assert names(select_dispatchable(ready, {}, 3, SchedulingLimits(max_concurrent_tasks=5))) == [
        "t0",
        "t1",
    ]
    assert select_dispatchable(ready, {}, 5, SchedulingLimits(max_concurrent_tasks=5)) == []


def test_agent_limit_does_not_block_other_agents() -> None:
    ready = [T("q1", "qa-agent"), T("q2", "qa-agent"), T("d1", "devops-agent")]
    limits = SchedulingLimits(max_concurrent_tasks=10, agent_concurrency_limit={"qa-agent": 2})
    assert names(select_dispatchable(ready, {"qa-agent": 1}, 1, limits)) == ["q1", "d1"]


def test_tenant_limit() -> None:
    ready = [T("a", "x"), T("b", "y"), T("c", "z")]
    limits = SchedulingLimits(max_concurrent_tasks=10, tenant_concurrency_limit=4)
    assert names(select_dispatchable(ready, {}, 0, limits, tenant_in_flight=2)) == ["a", "b"]


def test_priority_vs_fifo() -> None:
    ready = [T("low", "a", 0), T("high", "a", 9), T("mid", "a", 5), T("high2", "a", 9)]
    pri = SchedulingLimits(max_concurrent_tasks=3, strategy="priority")
    fifo = SchedulingLimits(max_concurrent_tasks=3, strategy="fifo")
    assert names(select_dispatchable(ready, {}, 0, pri)) == ["high", "high2", "mid"]
    assert names(select_dispatchable(ready, {}, 0, fifo)) == ["low", "high", "mid"]


def test_human_tasks_are_never_throttled() -> None:
    ready = [T("a", "x"), T("h", None, is_human=True)]
    assert names(select_dispatchable(ready, {}, 1, SchedulingLimits(max_concurrent_tasks=1))) == [
        "h"
    ]


def test_bad_limits_rejected() -> None:
    with pytest.raises(ValidationError, match="qa-agent"):
        SchedulingLimits.model_validate({"agentConcurrencyLimit": {"qa-agent": -1}})
    with pytest.raises(ValidationError):
        SchedulingLimits.model_validate({"maxConcurrentTasks": 0})


def test_classification() -> None:
    assert classify_error("AgentTimeout") is ErrorClass.RECOVERABLE
    assert classify_error("TestFailed") is ErrorClass.PARTIALLY_RECOVERABLE
    assert classify_error("InvalidProjectModel") is ErrorClass.FATAL
    assert classify_error("RbacDenied") is ErrorClass.POLICY_VIOLATION
    assert classify_error("NeverHeardOfIt") is ErrorClass.RECOVERABLE
    assert classify_error("AgentTimeout", declared="Fatal") is ErrorClass.FATAL
    assert classify_error(None, declared="garbage") is ErrorClass.RECOVERABLE


def decide(cls: ErrorClass, attempts: int, *, optional: bool = False, fallback: str | None = None,
           agent: str = "planner-agent"):  # fmt: skip
    return decide_failure(
        error_class=cls, attempts=attempts, retry_policy=RetryPolicy(max_attempts=3,
        initial_delay_sec=10), optional=optional, agent_id=agent, fallback_agent=fallback,
    )  # fmt: skip


def test_failure_actions() -> None:
    R, P, F, V = (ErrorClass.RECOVERABLE, ErrorClass.PARTIALLY_RECOVERABLE, ErrorClass.FATAL,
                  ErrorClass.POLICY_VIOLATION)  # fmt: skip
    d = decide(R, 1)
    assert (d.action, d.delay_sec) == (FailureAction.RETRY, 10)
    assert decide(R, 2).delay_sec == 20
    assert decide(R, 3).action is FailureAction.ESCALATE
    d = decide(R, 3, fallback="basic-planner-agent")
    assert (d.action, d.agent_id) == (FailureAction.FALLBACK_AGENT, "basic-planner-agent")
    # the fallback agent itself failing does not fall back again
    assert decide(R, 3, fallback="b", agent="b").action is FailureAction.ESCALATE
    assert decide(R, 3, optional=True).action is FailureAction.SKIP_AND_CONTINUE
    assert decide(P, 1, optional=True).action is FailureAction.SKIP_AND_CONTINUE
    assert decide(P, 1).action is FailureAction.RETRY
    assert decide(F, 1).action is FailureAction.ESCALATE
    assert decide(F, 1, fallback="x").action is FailureAction.FALLBACK_AGENT
    assert decide(V, 1, optional=True, fallback="x").action is FailureAction.ABORT


def test_flow_lock_after_repeated_failures() -> None:
    t0 = datetime(2025, 5, 5, 12, 0, tzinfo=UTC)
    lock = FlowLockPolicy(max_failures=3, window_sec=600, lock_sec=1800)
    fails = [t0, t0 + timedelta(minutes=2), t0 + timedelta(minutes=5)]
    assert not lock.is_locked(fails[:2], t0 + timedelta(minutes=6))
    assert lock.locked_until(fails, t0 + timedelta(minutes=6)) == fails[-1] + timedelta(
        seconds=1800
    )
    assert not lock.is_locked(fails, fails[-1] + timedelta(seconds=1800))
    spread = [t0, t0 + timedelta(minutes=20), t0 + timedelta(minutes=40)]
    assert not lock.is_locked(spread, t0 + timedelta(minutes=41))


def test_phase_execution_window() -> None:
    t0 = datetime(2025, 5, 5, 12, 0, tzinfo=UTC)
    six_hours = SchedulingLimits(phase_execution_window_sec=6 * 3600)
    assert not six_hours.phase_window_exceeded(t0, t0 + timedelta(hours=6))
    assert six_hours.phase_window_exceeded(t0, t0 + timedelta(hours=6, seconds=1))
    assert not SchedulingLimits().phase_window_exceeded(t0, t0 + timedelta(days=30))
