"""Retry, timeout, scheduling, failure-handling and flow-lock policies.

Everything here is a pure function of its arguments: orchestrators replay, so no policy may read
the clock, random numbers or settings. Time is always passed in (seconds or datetimes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol, TypeVar

from pydantic import AliasChoices, Field, field_validator

from ._base import DomainModel
from .errors import DomainError


class Backoff(StrEnum):
    """How the delay between attempts grows."""

    FIXED = "fixed"
    EXPONENTIAL = "exponential"


class RetryPolicy(DomainModel):
    """How often and how fast a failed task is tried again.

    ``maxAttempts`` counts every run including the first, so 3 means one run and two retries.
    The seed also spells the strategy ``backoffStrategy``; both are accepted on input.
    """

    max_attempts: int = Field(default=3, ge=1, le=100)
    initial_delay_sec: float = Field(default=30.0, ge=0)
    backoff: Backoff = Field(
        default=Backoff.EXPONENTIAL,
        validation_alias=AliasChoices("backoff", "backoffStrategy"),
    )
    coefficient: float = Field(default=2.0, ge=1.0)
    max_delay_sec: float = Field(default=3600.0, ge=0)

    @field_validator("backoff", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    def delay_for(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next.

        fixed: always ``initialDelaySec``; exponential: ``initialDelaySec * coefficient **
        (attempt - 1)``; both capped at ``maxDelaySec``. Deterministic: no jitter, because the
        orchestrator must compute the same timer on every replay.
        """
        if attempt < 1:
            raise DomainError(f"attempt must be >= 1, got {attempt}")
        if self.backoff is Backoff.FIXED:
            delay = self.initial_delay_sec
        else:
            exponent = min(attempt - 1, 64)  # avoid float overflow for absurd attempt numbers
            delay = self.initial_delay_sec * (self.coefficient**exponent)
        return float(min(delay, self.max_delay_sec))

    def can_retry(self, attempts_made: int) -> bool:
        """Whether another attempt is allowed after ``attempts_made`` runs."""
        return attempts_made < self.max_attempts


DEFAULT_RETRY_POLICY = RetryPolicy()


class Timeouts(DomainModel):
    """The seed's timeout defaults, in seconds (task 15 min, ack 30 s, human 2 h, TTL 24 h)."""

    task_sec: int = Field(default=900, gt=0)
    ack_sec: int = Field(default=30, gt=0)
    human_sec: int = Field(default=7200, gt=0)
    orchestration_ttl_sec: int = Field(default=86400, gt=0)


DEFAULT_TIMEOUTS = Timeouts()


class SchedulingLimits(DomainModel):
    """Concurrency caps applied when choosing which Ready tasks to dispatch now.

    ``strategy`` ``fifo`` keeps the order the tasks are handed in (the graph hands them in
    declaration order); ``priority`` sorts by descending ``priority`` first, stable otherwise.
    ``tenantConcurrencyLimit`` caps the tenant's tasks in flight across all its flows.
    """

    max_concurrent_tasks: int = Field(default=5, ge=1)
    agent_concurrency_limit: dict[str, int] = Field(default_factory=dict)
    tenant_concurrency_limit: int | None = Field(default=None, ge=1)
    strategy: Literal["fifo", "priority"] = "priority"
    phase_execution_window_sec: int | None = Field(default=None, gt=0)

    def phase_window_exceeded(self, entered_at: datetime, now: datetime) -> bool:
        """Whether the project has stayed in its phase longer than ``phaseExecutionWindow``
        (the seed's per-phase time window; ``None`` means no window). Times come from the
        caller, so the check is replay-safe."""
        if self.phase_execution_window_sec is None:
            return False
        return (now - entered_at).total_seconds() > self.phase_execution_window_sec

    @field_validator("agent_concurrency_limit")
    @classmethod
    def _positive(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [k for k, n in v.items() if not isinstance(n, int) or n < 0]
        if bad:
            raise ValueError(f"limits must be integers >= 0 (bad for {', '.join(sorted(bad))})")
        return v


class Dispatchable(Protocol):
    """What :func:`select_dispatchable` needs from a task."""

    @property
    def agent_id(self) -> str | None: ...

    @property
    def priority(self) -> int: ...

    @property
    def is_human(self) -> bool: ...


T = TypeVar("T", bound=Dispatchable)


def select_dispatchable(
    ready_tasks: Sequence[T],
    in_flight_by_agent: Mapping[str, int],
    in_flight_total: int,
    limits: SchedulingLimits,
    *,
    tenant_in_flight: int = 0,
) -> list[T]:
    """The Ready tasks that may be dispatched now, in dispatch order.

    Applies ``maxConcurrentTasks`` (against ``in_flight_total``), the per-agent cap (against
    ``in_flight_by_agent``) and the tenant cap (against ``tenant_in_flight``). Human tasks wait
    on a person, use no agent capacity and are never throttled. A task whose agent is full is
    passed over, so another agent's task behind it can still go (no head-of-line blocking).
    """
    ordered: list[T] = list(ready_tasks)
    if limits.strategy == "priority":
        ordered.sort(key=lambda t: -t.priority)  # stable: ties keep their given order
    chosen: list[T] = []
    total = in_flight_total
    tenant = tenant_in_flight
    per_agent: dict[str, int] = dict(in_flight_by_agent)
    tenant_cap = limits.tenant_concurrency_limit
    for task in ordered:
        if task.is_human:
            chosen.append(task)
            continue
        if total >= limits.max_concurrent_tasks:
            continue
        if tenant_cap is not None and tenant >= tenant_cap:
            continue
        agent = task.agent_id or ""
        cap = limits.agent_concurrency_limit.get(agent)
        if cap is not None and per_agent.get(agent, 0) >= cap:
            continue
        chosen.append(task)
        total += 1
        tenant += 1
        per_agent[agent] = per_agent.get(agent, 0) + 1
    return chosen


class ErrorClass(StrEnum):
    """The seed's error classifications."""

    RECOVERABLE = "Recoverable"
    PARTIALLY_RECOVERABLE = "PartiallyRecoverable"
    FATAL = "Fatal"
    POLICY_VIOLATION = "PolicyViolation"


# Error codes agents and activities report (AgentTaskFailed.errorCode), by class. Unknown codes
# are treated as recoverable: retrying is the safe default and escalation follows anyway.
ERROR_CODES: dict[str, ErrorClass] = {
    "AgentTimeout": ErrorClass.RECOVERABLE,
    "AgentNotAcknowledged": ErrorClass.RECOVERABLE,
    "Timeout": ErrorClass.RECOVERABLE,
    "TaskStalled": ErrorClass.RECOVERABLE,
    "MissingResource": ErrorClass.RECOVERABLE,
    "Transient": ErrorClass.RECOVERABLE,
    "Throttled": ErrorClass.RECOVERABLE,
    "RepoLocked": ErrorClass.RECOVERABLE,
    "VaultUnavailable": ErrorClass.RECOVERABLE,
    "TestFailed": ErrorClass.PARTIALLY_RECOVERABLE,
    "OptionalTemplateMissing": ErrorClass.PARTIALLY_RECOVERABLE,
    "CoverageBelowThreshold": ErrorClass.PARTIALLY_RECOVERABLE,
    "InvalidProjectModel": ErrorClass.FATAL,
    "InvalidDomainPlan": ErrorClass.FATAL,
    "AgentUnavailable": ErrorClass.FATAL,
    "TemplateInvalid": ErrorClass.FATAL,
    "RbacDenied": ErrorClass.POLICY_VIOLATION,
    "SecretInjectionBlocked": ErrorClass.POLICY_VIOLATION,
    "TenantViolation": ErrorClass.POLICY_VIOLATION,
    "PhaseRejected": ErrorClass.POLICY_VIOLATION,
}


def classify_error(code: str | None, declared: str | ErrorClass | None = None) -> ErrorClass:
    """Classify a failure: an explicit ``declared`` class (from the agent) wins, then the code
    table, then recoverable."""
    if declared:
        try:
            return ErrorClass(declared)
        except ValueError:
            pass
    if code and code in ERROR_CODES:
        return ERROR_CODES[code]
    return ErrorClass.RECOVERABLE


class FailureAction(StrEnum):
    """What the orchestrator does about a failed task."""

    RETRY = "Retry"
    SKIP_AND_CONTINUE = "SkipAndContinue"
    ESCALATE = "Escalate"
    FALLBACK_AGENT = "FallbackAgent"
    ABORT = "Abort"


class FailureDecision(DomainModel):
    """The decision of :func:`decide_failure`: an action plus the data needed to carry it out."""

    action: FailureAction
    reason: str
    delay_sec: float = 0.0
    agent_id: str | None = None


def decide_failure(
    *,
    error_class: ErrorClass,
    attempts: int,
    retry_policy: RetryPolicy,
    optional: bool,
    agent_id: str | None,
    fallback_agent: str | None,
) -> FailureDecision:
    """Map a classified failure to an action.

    * PolicyViolation: abort (never retried: it would be refused again and must be audited).
    * Fatal: switch to the fallback agent once if there is one, else escalate to a person.
    * Recoverable: retry with the policy's delay while attempts remain, then the fallback
      agent, then skip if the task is optional, else escalate.
    * PartiallyRecoverable: skip and continue when optional ("warn and continue"), otherwise
      as recoverable.
    """
    fallback_unused = bool(fallback_agent) and fallback_agent != agent_id
    if error_class is ErrorClass.POLICY_VIOLATION:
        return FailureDecision(action=FailureAction.ABORT, reason="policy violation")
    if error_class is ErrorClass.FATAL:
        if fallback_unused:
            return FailureDecision(
                action=FailureAction.FALLBACK_AGENT,
                reason=f"fatal error; falling back to {fallback_agent}",
                agent_id=fallback_agent,
            )
        return FailureDecision(action=FailureAction.ESCALATE, reason="fatal error")
    if error_class is ErrorClass.PARTIALLY_RECOVERABLE and optional:
        return FailureDecision(
            action=FailureAction.SKIP_AND_CONTINUE, reason="optional task partially failed"
        )
    if retry_policy.can_retry(attempts):
        return FailureDecision(
            action=FailureAction.RETRY,
            reason=f"attempt {attempts} of {retry_policy.max_attempts} failed",
            delay_sec=retry_policy.delay_for(max(attempts, 1)),
        )
    if fallback_unused:
        return FailureDecision(
            action=FailureAction.FALLBACK_AGENT,
            reason=f"retries exhausted; falling back to {fallback_agent}",
            agent_id=fallback_agent,
        )
    if optional:
        return FailureDecision(
            action=FailureAction.SKIP_AND_CONTINUE, reason="retries exhausted on optional task"
        )
    return FailureDecision(action=FailureAction.ESCALATE, reason="retries exhausted")


class FlowLockPolicy(DomainModel):
    """The seed's "flow lock on repeated failure": stop a flow from looping on failures.

    When at least ``maxFailures`` failures happened within ``windowSec`` of each other, the flow
    is locked for ``lockSec`` after the last of them. Failure times are passed in (the
    coordinator keeps them), so evaluation is pure and replay-safe.
    """

    max_failures: int = Field(default=3, ge=1)
    window_sec: int = Field(default=3600, gt=0)
    lock_sec: int = Field(default=1800, gt=0)

    def locked_until(self, failure_times: Iterable[datetime], now: datetime) -> datetime | None:
        """End of the current lock, or ``None`` when the flow may run at ``now``."""
        times = sorted(failure_times)
        window = timedelta(seconds=self.window_sec)
        recent = [t for t in times if now - t <= window + timedelta(seconds=self.lock_sec)]
        for i in range(len(recent) - self.max_failures + 1):
            first, last = recent[i], recent[i + self.max_failures - 1]
            if last - first <= window:
                until = recent[-1] + timedelta(seconds=self.lock_sec)
                if now < until:
                    return until
        return None

    def is_locked(self, failure_times: Iterable[datetime], now: datetime) -> bool:
        """True while the flow is locked."""
        return self.locked_until(failure_times, now) is not None


class SchedulingConfig(DomainModel):
    """Bundle of the policies a flow runs under (defaults are the seed's)."""

    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    limits: SchedulingLimits = Field(default_factory=SchedulingLimits)
    flow_lock: FlowLockPolicy = Field(default_factory=FlowLockPolicy)
