"""Podium's pure domain core: graphs, lifecycle, contracts, policies, routing, flows.

No Azure import anywhere in this package (stdlib, pydantic and PyYAML only), and no clock,
randomness or settings: callers pass timestamps and ids in, so orchestrators stay replay-safe.
See docs/domain.md for the rules and the public API.
"""

from .categories import TaskCategory, categorize, phase_constraint_violation
from .config import (
    ProjectConfiguration,
    SecretResolver,
    find_vault_refs,
    redact,
    resolve_refs,
)
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
from .flows import (
    FlowCatalog,
    FlowDefinition,
    PlannedFlow,
    default_catalog,
    load_catalog,
    plan_microservice_flows,
)
from .graph import ExecutionGraph
from .lifecycle import (
    LifecycleRules,
    PhaseDecision,
    PhaseState,
    PhaseTransitionRule,
    can_advance,
    can_reopen,
    decide_task,
)
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
from .projects import ProjectDependency, ProjectDependencyGraph
from .routing import RouteTarget, RoutingRegistry, external_event_name, instance_id_for
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
    "FlowCatalog",
    "FlowDefinition",
    "FlowDefinitionError",
    "FlowLockPolicy",
    "GraphValidationError",
    "HumanTaskSpec",
    "IllegalTransitionError",
    "LifecyclePhase",
    "LifecycleRules",
    "OrchestrationTask",
    "PhaseDecision",
    "PhaseState",
    "PhaseTransitionRule",
    "PlannedFlow",
    "ProjectConfiguration",
    "ProjectDependency",
    "ProjectDependencyGraph",
    "RetryPolicy",
    "RouteTarget",
    "RoutingRegistry",
    "SchedulingLimits",
    "SecretResolver",
    "TaskCategory",
    "TaskStatus",
    "TaskTransition",
    "Timeouts",
    "UnknownTaskError",
    "can_advance",
    "can_reopen",
    "can_transition",
    "categorize",
    "classify_error",
    "decide_failure",
    "decide_task",
    "default_catalog",
    "external_event_name",
    "find_vault_refs",
    "format_timestamp",
    "instance_id_for",
    "load_catalog",
    "new_event",
    "next_phase",
    "parse_event",
    "phase_cmp",
    "phase_constraint_violation",
    "plan_microservice_flows",
    "previous_phase",
    "redact",
    "resolve_refs",
    "select_dispatchable",
]
