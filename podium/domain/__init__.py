"""Podium's pure domain core: graphs, lifecycle, contracts, policies, routing, flows.

No Azure import anywhere in this package (stdlib, pydantic and PyYAML only), and no clock,
randomness or settings: callers pass timestamps and ids in, so orchestrators stay replay-safe.
See docs/domain.md for the rules and the public API.
"""

from .categories import TaskCategory, categorize, phase_constraint_violation
from .contracts import (
    PAYLOAD_TYPES,
    EventEnvelope,
    EventPayload,
    new_event,
    parse_event,
)
from .errors import (
    ContractError,
    DependencyCycleError,
    DomainError,
    FlowDefinitionError,
    GraphValidationError,
    IllegalTransitionError,
    UnknownTaskError,
)
from .graph import ExecutionGraph
from .phases import PHASE_ORDER, LifecyclePhase, next_phase, phase_cmp, previous_phase
from .policies import (
    DEFAULT_RETRY_POLICY,
    DEFAULT_TIMEOUTS,
    Backoff,
    ErrorClass,
    FailureAction,
    FailureDecision,
    FlowLockPolicy,
    RetryPolicy,
    SchedulingLimits,
    Timeouts,
    classify_error,
    decide_failure,
    select_dispatchable,
)
from .status import ALLOWED_TRANSITIONS, TaskStatus, can_transition
from .task import HumanTaskSpec, OrchestrationTask, TaskTransition, format_timestamp

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DEFAULT_RETRY_POLICY",
    "DEFAULT_TIMEOUTS",
    "PAYLOAD_TYPES",
    "PHASE_ORDER",
    "Backoff",
    "ContractError",
    "DependencyCycleError",
    "DomainError",
    "ErrorClass",
    "EventEnvelope",
    "EventPayload",
    "ExecutionGraph",
    "FailureAction",
    "FailureDecision",
    "FlowDefinitionError",
    "FlowLockPolicy",
    "GraphValidationError",
    "HumanTaskSpec",
    "IllegalTransitionError",
    "LifecyclePhase",
    "OrchestrationTask",
    "RetryPolicy",
    "SchedulingLimits",
    "TaskCategory",
    "TaskStatus",
    "TaskTransition",
    "Timeouts",
    "UnknownTaskError",
    "can_transition",
    "categorize",
    "classify_error",
    "decide_failure",
    "format_timestamp",
    "new_event",
    "next_phase",
    "parse_event",
    "phase_cmp",
    "phase_constraint_violation",
    "previous_phase",
    "select_dispatchable",
]
