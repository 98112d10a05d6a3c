"""OrchestrationTask: one node of an ExecutionGraph, and the transition records of its life.

Tasks are plain slotted objects rather than pydantic models: a graph may hold 100,000 of them
and orchestrators rebuild it from JSON on every replay, so construction must cost a few
microseconds. Their status is changed only through :class:`~podium.domain.graph.ExecutionGraph`,
which keeps its indexes in step; treat a task you get from the graph as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from pydantic import Field, ValidationError

from ._base import DomainModel, format_validation_errors
from .errors import DomainError
from .phases import LifecyclePhase
from .policies import RetryPolicy
from .status import TaskStatus

Timestamp = datetime | str


def format_timestamp(at: Timestamp | None) -> str | None:
    """ISO-8601 UTC text with a ``Z`` suffix; strings pass through unchanged.

    Timestamps always come from the caller (the orchestrator's replay-safe clock): the domain
    never reads the clock itself.
    """
    if at is None or isinstance(at, str):
        return at
    if at.tzinfo is None:
        raise DomainError(f"timestamp {at!r} has no timezone; pass an aware UTC datetime")
    text = at.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


class HumanTaskSpec(DomainModel):
    """A human checkpoint: what to ask whom, and what happens if nobody answers.

    ``fallbackAction`` on timeout: ``continue`` completes the task as if approved (the response
    is recorded as ``"TimedOut"``), ``skip`` skips it, ``abort`` fails the flow.
    """

    title: str = Field(min_length=1)
    description: str = ""
    options: list[str] = Field(default_factory=lambda: ["Approve", "Reject"], min_length=1)
    required_role: str = "Architect"
    response_timeout_sec: int = Field(default=7200, gt=0)
    fallback_action: Literal["continue", "skip", "abort"] = "continue"
    escalation_target: str | None = None


_EMPTY: Mapping[str, Any] = MappingProxyType({})
_SHAPES: tuple[tuple[str, type], ...] = (
    ("inputs", Mapping),
    ("outputs", Mapping),
    ("error", Mapping),
    ("templates", list),
    ("emittedEvents", list),
)

_OPTIONAL_KEYS = (
    "agentId",
    "phase",
    "inputs",
    "outputs",
    "attempts",
    "retryPolicy",
    "timeoutSec",
    "optional",
    "fallbackAgent",
    "human",
    "priority",
    "templates",
    "triggerEvent",
    "emittedEvents",
    "createdAt",
    "readyAt",
    "startedAt",
    "completedAt",
    "error",
    "skippedBy",
)
_KNOWN_KEYS = frozenset(("taskId", "type", "dependsOn", "status", *_OPTIONAL_KEYS))


class OrchestrationTask:
    """One agent-triggered step or human checkpoint (the seed's OrchestrationTask entity)."""

    __slots__ = (
        "task_id",
        "type",
        "agent_id",
        "depends_on",
        "inputs",
        "outputs",
        "status",
        "phase",
        "attempts",
        "retry_policy",
        "timeout_sec",
        "optional",
        "fallback_agent",
        "human",
        "priority",
        "templates",
        "trigger_event",
        "emitted_events",
        "created_at",
        "ready_at",
        "started_at",
        "completed_at",
        "error",
        "skipped_by",
        "extra",
    )

    def __init__(
        self,
        task_id: str,
        type: str,
        *,
        agent_id: str | None = None,
        depends_on: Sequence[str] = (),
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None,
        status: TaskStatus = TaskStatus.PENDING,
        phase: LifecyclePhase | None = None,
        attempts: int = 0,
        retry_policy: RetryPolicy | None = None,
        timeout_sec: int | None = None,
        optional: bool = False,
        fallback_agent: str | None = None,
        human: HumanTaskSpec | None = None,
        priority: int = 0,
        templates: Sequence[str] = (),
        trigger_event: str | None = None,
        emitted_events: Sequence[str] = (),
        created_at: str | None = None,
        ready_at: str | None = None,
        started_at: str | None = None,
        completed_at: str | None = None,
        error: Mapping[str, Any] | None = None,
        skipped_by: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(task_id, str) or not task_id:
            raise DomainError(f"taskId must be a non-empty string, got {task_id!r}")
        if not isinstance(type, str) or not type:
            raise DomainError(f"task {task_id!r}: type must be a non-empty string")
        if timeout_sec is not None and timeout_sec <= 0:
            raise DomainError(f"task {task_id!r}: timeoutSec must be > 0, got {timeout_sec}")
        if attempts < 0:
            raise DomainError(f"task {task_id!r}: attempts must be >= 0, got {attempts}")
        self.task_id = task_id
        self.type = type
        self.agent_id = agent_id
        self.depends_on: tuple[str, ...] = tuple(depends_on)
        # Empty containers are shared read-only singletons: a 100k-task graph would otherwise
        # allocate 300k empty dicts/lists (and pay for them again in every GC pass).
        self.inputs: Mapping[str, Any] = dict(inputs) if inputs else _EMPTY
        self.outputs: dict[str, Any] | None = dict(outputs) if outputs is not None else None
        self.status = status
        self.phase = phase
        self.attempts = attempts
        self.retry_policy = retry_policy
        self.timeout_sec = timeout_sec
        self.optional = optional
        self.fallback_agent = fallback_agent
        self.human = human
        self.priority = priority
        self.templates: tuple[str, ...] = tuple(templates)
        self.trigger_event = trigger_event
        self.emitted_events: tuple[str, ...] = tuple(emitted_events)
        self.created_at = created_at
        self.ready_at = ready_at
        self.started_at = started_at
        self.completed_at = completed_at
        self.error: dict[str, Any] | None = dict(error) if error is not None else None
        self.skipped_by = skipped_by
        self.extra: Mapping[str, Any] = dict(extra) if extra else _EMPTY

    @property
    def is_human(self) -> bool:
        """True for a human checkpoint (no agent runs it; a person answers in Studio)."""
        return self.human is not None

    def effective_retry_policy(self, default: RetryPolicy) -> RetryPolicy:
        """The task's own retry policy, else ``default``."""
        return self.retry_policy or default

    def effective_timeout_sec(self, default: int) -> int:
        """The task's own timeout, else ``default`` (human tasks use their response timeout)."""
        if self.timeout_sec is not None:
            return self.timeout_sec
        if self.human is not None:
            return self.human.response_timeout_sec
        return default

    def to_dict(self) -> dict[str, Any]:
        """Compact camelCase dict: defaults and empty values are left out."""
        d: dict[str, Any] = {"taskId": self.task_id, "type": self.type}
        if self.agent_id is not None:
            d["agentId"] = self.agent_id
        d["dependsOn"] = list(self.depends_on)
        d["status"] = self.status.value
        if self.phase is not None:
            d["phase"] = self.phase.value
        if self.inputs:
            d["inputs"] = dict(self.inputs)
        if self.outputs is not None:
            d["outputs"] = self.outputs
        if self.attempts:
            d["attempts"] = self.attempts
        if self.retry_policy is not None:
            d["retryPolicy"] = self.retry_policy.to_dict()
        if self.timeout_sec is not None:
            d["timeoutSec"] = self.timeout_sec
        if self.optional:
            d["optional"] = True
        if self.fallback_agent is not None:
            d["fallbackAgent"] = self.fallback_agent
        if self.human is not None:
            d["human"] = self.human.to_dict()
        if self.priority:
            d["priority"] = self.priority
        if self.templates:
            d["templates"] = list(self.templates)
        if self.trigger_event is not None:
            d["triggerEvent"] = self.trigger_event
        if self.emitted_events:
            d["emittedEvents"] = list(self.emitted_events)
        for key, value in (
            ("createdAt", self.created_at),
            ("readyAt", self.ready_at),
            ("startedAt", self.started_at),
            ("completedAt", self.completed_at),
        ):
            if value is not None:
                d[key] = value
        if self.error is not None:
            d["error"] = self.error
        if self.skipped_by is not None:
            d["skippedBy"] = self.skipped_by
        if self.extra:
            for key, value in self.extra.items():
                d.setdefault(key, value)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrchestrationTask:
        """Build a task from its camelCase dict, with errors that name the task and field."""
        if not isinstance(data, Mapping):
            raise DomainError(f"task must be an object, got {type(data).__name__}")
        task_id = data.get("taskId")
        label = f"task {task_id!r}" if task_id else "task without taskId"
        if not task_id or not isinstance(task_id, str):
            raise DomainError(f"{label}: taskId is required and must be a string")
        if "type" not in data:
            raise DomainError(f"{label}: type is required")
        depends_on = data.get("dependsOn") or ()
        if not isinstance(depends_on, list | tuple) or not set(map(type, depends_on)) <= {str}:
            raise DomainError(f"{label}: dependsOn must be a list of task ids")
        try:
            status = TaskStatus(data["status"]) if "status" in data else TaskStatus.PENDING
        except ValueError:
            valid = ", ".join(s.value for s in TaskStatus)
            raise DomainError(f"{label}: unknown status {data['status']!r} ({valid})") from None
        phase = LifecyclePhase.parse(data["phase"]) if data.get("phase") else None
        for key, kind in _SHAPES:
            value = data.get(key)
            if value is not None and not isinstance(value, kind):
                expected = "an object" if kind is Mapping else "a list"
                raise DomainError(f"{label}: {key} must be {expected}, got {type(value).__name__}")
        retry = _sub_model(RetryPolicy, data.get("retryPolicy"), label, "retryPolicy")
        human = _sub_model(HumanTaskSpec, data.get("human"), label, "human")
        extra_keys = data.keys() - _KNOWN_KEYS
        extra = {k: data[k] for k in data if k in extra_keys} if extra_keys else None
        try:
            return cls(
                task_id,
                data["type"],
                agent_id=data.get("agentId"),
                depends_on=depends_on,
                inputs=data.get("inputs"),
                outputs=data.get("outputs"),
                status=status,
                phase=phase,
                attempts=int(data.get("attempts", 0)),
                retry_policy=retry,
                timeout_sec=data.get("timeoutSec"),
                optional=bool(data.get("optional", False)),
                fallback_agent=data.get("fallbackAgent"),
                human=human,
                priority=int(data.get("priority", 0)),
                templates=data.get("templates") or (),
                trigger_event=data.get("triggerEvent"),
                emitted_events=data.get("emittedEvents") or (),
                created_at=data.get("createdAt"),
                ready_at=data.get("readyAt"),
                started_at=data.get("startedAt"),
                completed_at=data.get("completedAt"),
                error=data.get("error"),
                skipped_by=data.get("skippedBy"),
                extra=extra,
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, DomainError):
                raise
            raise DomainError(f"{label}: {exc}") from None

    def __repr__(self) -> str:
        return f"OrchestrationTask({self.task_id!r}, {self.type!r}, status={self.status.value})"


def _sub_model(model: type[DomainModel], value: Any, label: str, field: str) -> Any:
    if value is None:
        return None
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise DomainError(f"{label}: " + "; ".join(format_validation_errors(exc, field))) from None


_TRANSITION_KEYS = frozenset(("taskId", "to", "at"))


class TaskTransition:
    """One entry of a graph's event log: task ``taskId`` went to status ``to`` at ``at``.

    ``mark_*`` methods return one; store them (e.g. in the audit trail) and
    :meth:`ExecutionGraph.replay` rebuilds the same state from them. Automatic Pending -> Ready
    promotions are consequences, not entries: they are listed in ``newly_ready`` only.
    """

    __slots__ = ("task_id", "to", "at", "data", "newly_ready")

    def __init__(
        self,
        task_id: str,
        to: TaskStatus,
        at: str | None,
        data: Mapping[str, Any] | None = None,
        newly_ready: tuple[str, ...] = (),
    ) -> None:
        self.task_id = task_id
        self.to = to
        self.at = at
        self.data: dict[str, Any] = dict(data) if data else {}
        self.newly_ready = newly_ready

    def to_dict(self) -> dict[str, Any]:
        """``{"taskId", "to", "at", ...data}``: JSON-ready and compact."""
        d: dict[str, Any] = {"taskId": self.task_id, "to": self.to.value}
        if self.at is not None:
            d["at"] = self.at
        d.update(self.data)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskTransition:
        """Inverse of :meth:`to_dict`."""
        try:
            to = TaskStatus(data["to"])
            task_id = data["taskId"]
        except (KeyError, ValueError) as exc:
            raise DomainError(f"invalid transition record {dict(data)!r}: {exc}") from None
        rest = (
            {k: v for k, v in data.items() if k not in _TRANSITION_KEYS} if len(data) > 3 else None
        )
        return cls(task_id, to, data.get("at"), rest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskTransition) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.task_id, self.to, self.at))

    def __repr__(self) -> str:
        return f"TaskTransition({self.task_id!r} -> {self.to.value} at {self.at})"
