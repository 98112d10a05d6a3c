"""Event contracts: the normalized envelope and a typed payload for every event Podium uses.

Every event on the bus is an :class:`EventEnvelope` (the seed's normalized schema) whose
``payload`` is validated against the model registered for its ``eventType`` in
:data:`PAYLOAD_TYPES`. Models are frozen (events are immutable: emit a follow-up instead) and
keep unknown fields, so a newer producer's additions survive an older consumer.

Use :func:`parse_event` on anything received and :func:`new_event` to build one. Orchestrators
must pass ``event_id`` and ``timestamp`` derived replay-safely (e.g. from the instance id and
``context.current_utc_datetime``); the domain never invents them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import (
    AwareDatetime,
    Field,
    SerializeAsAny,
    ValidationError,
    field_serializer,
    field_validator,
)

from ._base import DomainModel, format_validation_errors
from .errors import ContractError
from .phases import LifecyclePhase

SCHEMA_VERSION = 1


class EventPayload(DomainModel):
    """Base of every payload: frozen, camelCase, extra fields kept."""


# --------------------------------------------------------------------------- project & planning


class ProjectCreated(EventPayload):
    """A project was created (Studio / API); starts the project-bootstrap flow."""

    triggered_by: str | None = None
    project_name: str | None = None
    description: str | None = None
    parent_project_ids: list[str] = Field(default_factory=list)
    request: dict[str, Any] = Field(default_factory=dict)


class MicroservicePlanned(EventPayload):
    """The planner proposed one microservice; starts one microservice-assembly flow for it."""

    microservice_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    entity_model: Any = None
    requires_auth: bool = False
    exposed_publicly: bool = False
    technology_stack: str | None = None
    agent_id: str | None = None


# --------------------------------------------------------------------------- agent tasks


class AgentTaskScheduled(EventPayload):
    """A task was delegated to an agent (published on the agent-tasks topic).

    ``instanceId`` is the orchestration waiting for the answer; agents echo it back so the
    results trigger can raise the result to the right instance.
    """

    task_id: str = Field(min_length=1)
    agent_id: str = Field(min_length=1)
    task_type: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)
    templates: list[str] = Field(default_factory=list)
    phase: LifecyclePhase | None = None
    attempt: int = Field(default=1, ge=1)
    timeout_sec: int | None = Field(default=None, gt=0)
    ack_timeout_sec: int | None = Field(default=None, gt=0)
    instance_id: str | None = None
    flow: str | None = None


class AgentTaskAcknowledged(EventPayload):
    """The agent received the task (must arrive within the acknowledgement timeout)."""

    task_id: str = Field(min_length=1)
    agent_id: str = Field(min_length=1)
    attempt: int = Field(default=1, ge=1)
    instance_id: str | None = None


class AgentTaskCompleted(EventPayload):
    """The agent finished the task; ``outputs`` feed the graph, big results go by reference."""

    task_id: str = Field(min_length=1)
    agent_id: str = Field(min_length=1)
    status: str = "Success"
    outputs: dict[str, Any] = Field(default_factory=dict)
    artifacts: list[str] = Field(default_factory=list)
    attempt: int = Field(default=1, ge=1)
    instance_id: str | None = None


class AgentTaskFailed(EventPayload):
    """The agent could not do the task. ``errorCode`` is classified by
    :func:`podium.domain.policies.classify_error`; ``errorClass`` overrides that."""

    task_id: str = Field(min_length=1)
    agent_id: str = Field(min_length=1)
    error_code: str = "Unknown"
    message: str = ""
    error_class: str | None = None
    attempt: int = Field(default=1, ge=1)
    instance_id: str | None = None


class AgentNotAcknowledged(EventPayload):
    """No acknowledgement arrived within the acknowledgement timeout."""

    task_id: str = Field(min_length=1)
    agent_id: str = Field(min_length=1)
    attempt: int = Field(default=1, ge=1)


class TemplateApplied(EventPayload):
    """A template was applied; artifact references point into the artifact store."""

    template_id: str = Field(min_length=1)
    task_id: str | None = None
    agent_id: str | None = None
    artifacts: list[str] = Field(default_factory=list)


class TaskStalled(EventPayload):
    """A task stayed InProgress beyond its timeout."""

    task_id: str = Field(min_length=1)
    agent_id: str | None = None
    stalled_after_sec: int | None = None


# --------------------------------------------------------------------------- lifecycle


class LifecyclePhaseAdvanced(EventPayload):
    """The project moved from one phase to the next. JSON keys are ``from`` and ``to``; phase
    names are accepted with or without the seed's ``Phase`` suffix."""

    from_phase: LifecyclePhase = Field(alias="from")
    to: LifecyclePhase
    triggered_by: str | None = None
    reason: str | None = None
    override_role: str | None = None


class PhaseAdvanced(LifecyclePhaseAdvanced):
    """The seed's other name for a phase advance (emitted by orchestrators)."""


class ExecutionGraphBuilt(EventPayload):
    """An orchestrator built (or rebuilt) its execution graph."""

    flow: str = Field(min_length=1)
    instance_id: str | None = None
    total_tasks: int = Field(ge=0)
    depth: int | None = Field(default=None, ge=0)


# --------------------------------------------------------------------------- humans


class HumanTaskRequested(EventPayload):
    """A person must answer before the flow continues (Studio shows it)."""

    task_id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    description: str = ""
    options: list[str] = Field(default_factory=lambda: ["Approve", "Reject"], min_length=1)
    required_role: str = Field(min_length=1)
    response_timeout_sec: int | None = Field(default=None, gt=0)
    fallback_action: str = "continue"
    escalation_target: str | None = None
    instance_id: str | None = None
    flow: str | None = None


class HumanTaskResponseReceived(EventPayload):
    """A person answered; routed (raised) to the waiting orchestration ``instanceId``."""

    task_id: str = Field(min_length=1)
    response: str = Field(min_length=1)
    submitted_by: str = Field(min_length=1)
    role: str | None = None
    comment: str | None = None
    instance_id: str | None = None


class ManualInterventionRequired(EventPayload):
    """Automation gave up; a person must retry, replace input or cancel."""

    reason: str = Field(min_length=1)
    task_id: str | None = None
    flow: str | None = None
    instance_id: str | None = None
    options: list[str] = Field(default_factory=lambda: ["Retry", "Skip", "Cancel"])


# --------------------------------------------------------------------------- failures & outcomes


class OrchestrationTaskFailed(EventPayload):
    """A task failed for good (retries exhausted or not retryable)."""

    task_id: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    attempts: int = Field(default=1, ge=0)
    max_attempts: int | None = Field(default=None, ge=1)
    error_class: str | None = None
    flow: str | None = None


class OrchestrationFailed(EventPayload):
    """A whole flow failed (graph could not be resolved, abort decision, TTL expired)."""

    flow: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    instance_id: str | None = None
    failed_tasks: list[str] = Field(default_factory=list)


class OrchestrationCompleted(EventPayload):
    """A flow instance finished; the coordinator uses it to evaluate phase rules."""

    flow: str = Field(min_length=1)
    instance_id: str | None = None
    instance_key: str | None = None
    outcome: str = "Completed"
    phase: LifecyclePhase | None = None


class PartialOrchestrationCompleted(EventPayload):
    """A flow finished with some (optional or overridden) tasks skipped."""

    flow: str = Field(min_length=1)
    skipped_tasks: list[str] = Field(min_length=1)
    instance_id: str | None = None


class OrchestrationExpired(EventPayload):
    """A flow exceeded its orchestration TTL."""

    flow: str = Field(min_length=1)
    instance_id: str | None = None
    ttl_sec: int | None = None


class OrchestrationCascadeTriggered(EventPayload):
    """An upstream project reached a phase and its dependent projects were triggered."""

    parent_project_id: str = Field(min_length=1)
    triggered_children: list[str] = Field(min_length=1)
    phase: LifecyclePhase | None = None


class MicroserviceOrchestrationFailed(EventPayload):
    """A microservice plan failed validation or its assembly failed (seed: "Input
    Validation"); ``problems`` lists what was wrong with the plan."""

    microservice_id: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    problems: list[str] = Field(default_factory=list)


class MicroserviceAssemblyCompleted(EventPayload):
    """One microservice was assembled and validated."""

    microservice_id: str = Field(min_length=1)
    status: str = "Validated"
    generated_artifacts: list[str] = Field(default_factory=list)


class MicroserviceQAVerified(EventPayload):
    """QA verdict for a microservice."""

    microservice_id: str = Field(min_length=1)
    result: str = Field(min_length=1)
    test_coverage: float | None = Field(default=None, ge=0, le=100)
    test_suite: str | None = None


class PipelineSetupCompleted(EventPayload):
    """CI/CD pipeline set up and first run captured."""

    status: str = Field(min_length=1)
    microservice_id: str | None = None
    pipeline_id: str | None = None
    coverage: float | None = Field(default=None, ge=0, le=100)
    docker_image: str | None = None


class SecurityHardeningVerified(EventPayload):
    """Identity, RBAC and secrets were applied and the auth flows tested."""

    access_control_status: str = Field(min_length=1)
    identity_service: str | None = None
    tested_roles: list[str] = Field(default_factory=list)


class ProjectDeliveryComplete(EventPayload):
    """The project is delivered; it becomes read-only."""

    completed_at: AwareDatetime | None = None
    delivery_artifacts: list[str] = Field(default_factory=list)


PAYLOAD_TYPES: dict[str, type[EventPayload]] = {
    cls.__name__: cls
    for cls in (
        ProjectCreated,
        MicroservicePlanned,
        AgentTaskScheduled,
        AgentTaskAcknowledged,
        AgentTaskCompleted,
        AgentTaskFailed,
        AgentNotAcknowledged,
        TemplateApplied,
        TaskStalled,
        LifecyclePhaseAdvanced,
        PhaseAdvanced,
        ExecutionGraphBuilt,
        HumanTaskRequested,
        HumanTaskResponseReceived,
        ManualInterventionRequired,
        OrchestrationTaskFailed,
        OrchestrationFailed,
        OrchestrationCompleted,
        PartialOrchestrationCompleted,
        OrchestrationExpired,
        OrchestrationCascadeTriggered,
        MicroserviceOrchestrationFailed,
        MicroserviceAssemblyCompleted,
        MicroserviceQAVerified,
        PipelineSetupCompleted,
        SecurityHardeningVerified,
        ProjectDeliveryComplete,
    )
}


class EventEnvelope(DomainModel):
    """The normalized event every Podium component emits and accepts.

    ``payload`` is the typed model for ``eventType`` (see :data:`PAYLOAD_TYPES`);
    ``idempotency_key`` (``projectId:eventId``) is what the router de-duplicates on.
    """

    event_type: str = Field(min_length=1)
    event_id: str = Field(min_length=1)
    trace_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    project_id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    payload: SerializeAsAny[EventPayload]
    timestamp: AwareDatetime
    microservice_id: str | None = None
    origin: str | None = None
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)

    @field_validator("payload", mode="before")
    @classmethod
    def _typed_payload(cls, value: Any, info: Any) -> Any:
        # parse_event validates the payload against its type first (for field paths in
        # errors); this keeps direct construction typed as well.
        event_type = info.data.get("event_type")
        model = PAYLOAD_TYPES.get(event_type or "", EventPayload)
        if isinstance(value, model):
            return value
        if isinstance(value, EventPayload):
            value = value.model_dump(by_alias=True)
        return model.model_validate(value if value is not None else {})

    @field_serializer("timestamp")
    def _ts(self, value: datetime) -> str:
        # Always UTC with a Z suffix, whatever offset the producer used.
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    @property
    def idempotency_key(self) -> str:
        """``projectId:eventId``: the seed's de-duplication key (eventId + projectId)."""
        return f"{self.project_id}:{self.event_id}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready camelCase dict (``None`` fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_event(data: Mapping[str, Any], *, allow_unknown_type: bool = False) -> EventEnvelope:
    """Validate a received event; raise :class:`ContractError` listing ``"field: why"``.

    Unknown ``eventType`` values are rejected unless ``allow_unknown_type`` (then the payload is
    kept untyped): the router must not start flows for events nobody defined.
    """
    if not isinstance(data, Mapping):
        raise ContractError([f"event must be a JSON object, got {type(data).__name__}"])
    event_type = data.get("eventType", data.get("event_type"))
    errors: list[str] = []
    model = PAYLOAD_TYPES.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        if not event_type:
            errors.append("eventType: field required")
        elif not allow_unknown_type:
            errors.append(f"eventType: unknown event type {event_type!r}")
        model = EventPayload
    payload = data.get("payload", {})
    typed: Any = payload
    if not isinstance(payload, Mapping):
        errors.append(f"payload: must be an object, got {type(payload).__name__}")
    else:
        try:
            typed = model.model_validate(payload)
        except ValidationError as exc:
            errors.extend(format_validation_errors(exc, "payload"))
    envelope_data = {k: v for k, v in data.items() if k != "payload"}
    try:
        envelope = EventEnvelope.model_validate({**envelope_data, "payload": typed})
    except ValidationError as exc:
        errors.extend(e for e in format_validation_errors(exc) if not e.startswith("payload"))
        raise ContractError(errors, event_type if isinstance(event_type, str) else None) from None
    if errors:
        raise ContractError(errors, event_type if isinstance(event_type, str) else None)
    return envelope


def new_event(
    event_type: str,
    *,
    tenant_id: str,
    project_id: str,
    trace_id: str,
    source: str,
    payload: Mapping[str, Any] | EventPayload,
    event_id: str,
    timestamp: datetime | str,
    microservice_id: str | None = None,
    origin: str | None = None,
) -> EventEnvelope:
    """Build and validate an event. ``event_id`` and ``timestamp`` come from the caller so an
    orchestrator can derive them replay-safely."""
    if isinstance(payload, EventPayload):
        payload = payload.model_dump(by_alias=True)
    return parse_event(
        {
            "eventType": event_type,
            "eventId": event_id,
            "traceId": trace_id,
            "tenantId": tenant_id,
            "projectId": project_id,
            "source": source,
            "payload": dict(payload),
            "timestamp": timestamp,
            "microserviceId": microservice_id,
            "origin": origin,
        }
    )
