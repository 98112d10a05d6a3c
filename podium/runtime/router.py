"""EventTriggerRouting: validate, filter, de-duplicate and route domain events.

Used by the Service Bus trigger on the orchestration-events topic (``triggers/router.py``) and
by the agent-results trigger. For each event:

1. **Validate** the envelope against the contracts. An invalid event raises
   :class:`InvalidEvent`; the trigger lets it fail, so the message is retried and then
   dead-lettered by Service Bus with the validation error in its description (counted once, as
   ``event_rejected_total``). The router never crashes on input.
2. **Tenant filter**: ``PODIUM_TENANTS`` (comma list) restricts which tenants this deployment
   serves, and an event whose project belongs to another tenant (the coordinator entity knows the
   owner) is rejected and audited under the owner tenant.
3. **Route** by the YAML registry: ``start`` a flow under a deterministic instance id (a
   redelivered event finds the instance and starts nothing), or ``raise`` the event into a
   waiting orchestration. LifecyclePhaseAdvanced also wakes flows that postponed work.
4. **De-duplicate**: a new message carrying an event already routed (same eventId +
   projectId: a second publish, or a copy after the broker's duplicate-detection window) is
   dropped (``RouteReport.duplicate``). The key is remembered when the event is first seen; a
   redelivery of the same message (delivery count > 1, i.e. an earlier attempt failed maybe
   half-way) is routed again, so a crash in between causes a harmless re-route, never a loss.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from podium.coordination.ids import stable_uuid
from podium.domain import ContractError, DomainError, EventEnvelope, parse_event
from podium.domain.flows import default_catalog
from podium.domain.phases import LifecyclePhase, phase_cmp
from podium.domain.routing import instance_id_for

log = logging.getLogger("podium.router")
DEDUPE_TTL_SEC = 7 * 24 * 3600
ACTIVE = {"Pending", "Running", "Suspended", "ContinuedAsNew"}
COORDINATOR = "project_coordinator"


class InvalidEvent(ValueError):
    """The message is not a valid event envelope; the message says which field and why."""


@dataclass
class RouteReport:
    """What the router did with one event (returned for logs and tests)."""

    event_type: str = ""
    started: list[str] = field(default_factory=list)
    raised: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejected: str | None = None
    duplicate: bool = False


def parse_message(body: bytes | str) -> EventEnvelope:
    """Parse a message body into a validated envelope, or raise :class:`InvalidEvent`."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEvent("body must be a JSON object (the event envelope)")
    try:
        return parse_event(data)
    except (ContractError, DomainError, ValueError) as exc:
        raise InvalidEvent(str(exc)) from None


class EventRouter:
    """Routes one event with a Durable client (``DurableOrchestrationClient``-like, async)."""

    def __init__(self, client: Any, adapters: Any, metrics: Any) -> None:
        self.client = client
        self.adapters = adapters
        self.metrics = metrics
        self.registry = default_catalog().routing

    async def route(self, event: EventEnvelope, *, redelivery: bool = False) -> RouteReport:
        """Route one event. A copy of an event already routed (same eventId + projectId, a new
        message: a second publish, or a redelivery after the broker's duplicate-detection
        window) is dropped. ``redelivery`` (delivery count > 1: an earlier attempt of this very
        message failed, maybe half-way) routes again; every start and raise is idempotent."""
        report = RouteReport(event_type=event.event_type)
        if self.seen(event) and not redelivery:
            report.duplicate = True
            return report
        reason, owner = await self._tenant_problem(event)
        if reason:
            report.rejected = reason
            self._reject(event, reason, owner)
            return report
        if event.event_type == "ProjectCreated" and not await self._upstreams_ready(event):
            report.skipped.append("waiting for upstream projects")
            self._remember(event)
            return report
        for target in self.registry.resolve(event):
            if target.mode == "start":
                await self._start(
                    event,
                    target.flow,
                    target.instance_id,
                    target.instance_key,
                    target.parameters,
                    report,
                )
            else:
                await self._raise(target.instance_id, target.event_name, event, report)
        await self._special(event, report)
        self._remember(event)
        return report

    # ---------------------------------------------------------------- start / raise
    async def _start(
        self,
        event: EventEnvelope,
        flow: str,
        instance_id: str,
        key: str | None,
        params: dict[str, Any],
        report: RouteReport,
    ) -> None:
        state = await self._coordinator_state(event.project_id)
        if (state or {}).get("locked"):
            # A delivered project is read-only: no new flow (it would only be refused by the
            # coordinator after leaving a failed graph behind).
            report.skipped.append(instance_id)
            self._audit(
                event,
                "EventIgnored",
                f"{event.event_type} would start {flow}; the project is delivered and read-only",
                instanceId=instance_id,
                phase=state.get("phase"),
            )
            return
        status = await self.client.get_status(instance_id)
        runtime = getattr(status, "runtime_status", None)
        if runtime is not None and (
            getattr(runtime, "value", runtime) in ACTIVE
            or getattr(runtime, "value", runtime) == "Completed"
        ):
            report.skipped.append(instance_id)
            return
        run = {
            "flow": flow,
            "tenantId": event.tenant_id,
            "projectId": event.project_id,
            "traceId": event.trace_id,
            "params": params,
            "key": key or "",
            "trigger": event.event_type,
            "triggerEventId": event.event_id,
        }
        if event.event_type == "ProjectCreated":
            run["projectName"] = event.payload.model_dump(by_alias=True).get("projectName")
        await self.client.start_new("flow_runner", instance_id, run)
        report.started.append(instance_id)
        self.metrics.orchestration_triggered(event.event_type, flow)
        self._audit(
            event,
            "OrchestrationTriggered",
            f"{event.event_type} started {flow}",
            instanceId=instance_id,
        )

    async def _raise(
        self, instance_id: str, name: str | None, event: EventEnvelope, report: RouteReport
    ) -> None:
        try:
            await self.client.raise_event(instance_id, name or event.event_type, event.to_dict())
        except Exception as exc:  # noqa: BLE001 - unknown/finished instance: log, don't crash
            log.warning("could not raise %s into %s: %s", name, instance_id, exc)
            report.skipped.append(instance_id)
            return
        report.raised.append(instance_id)

    async def _special(self, event: EventEnvelope, report: RouteReport) -> None:
        payload = event.payload.model_dump(by_alias=True, mode="json")
        if event.event_type in ("LifecyclePhaseAdvanced", "PhaseAdvanced"):
            for instance_id in payload.get("wakeInstances") or []:
                await self._raise(instance_id, "LifecyclePhaseAdvanced", event, report)
        if event.event_type == "OrchestrationCascadeTriggered":
            await self._cascade(event, payload, report)

    # ---------------------------------------------------------------- multi-project
    async def _upstreams_ready(self, event: EventEnvelope) -> bool:
        """A child project starts only when every upstream reached its trigger phase."""
        payload = event.payload.model_dump(by_alias=True, mode="json")
        upstream = payload.get("parentProjectIds") or []
        if not upstream:
            return True
        trigger = (payload.get("request") or {}).get(
            "triggerOnUpstreamPhase"
        ) or LifecyclePhase.DELIVERY_COMPLETE.value
        ready = True
        for parent in upstream:
            state = await self._coordinator_state(parent)
            if state is None or state.get("status") == "Failed":
                self._audit(
                    event,
                    "BlockedByUpstream",
                    f"upstream {parent} " + ("failed" if state else "unknown"),
                    upstream=parent,
                )
                if state is not None:  # the child's status must say why it never starts
                    await self.client.signal_entity(
                        _entity(event.project_id), "upstream_failed", {"upstreamId": parent}
                    )
                return False
            if phase_cmp(state.get("phase", "Initialization"), trigger) < 0:
                ready = False
            await self.client.signal_entity(
                _entity(parent), "register_child", {"childId": event.project_id, "trigger": trigger}
            )
        if not ready:
            self._audit(
                event, "WaitingForUpstream", f"waits for {', '.join(upstream)} to reach {trigger}"
            )
        return ready

    async def _cascade(
        self, event: EventEnvelope, payload: dict[str, Any], report: RouteReport
    ) -> None:
        for child in payload.get("triggeredChildren") or []:
            record = self.adapters.projects.get(event.tenant_id, child)
            if record is None:
                self._audit(event, "CascadeSkipped", f"child {child} unknown in this tenant")
                continue
            created = _project_created_event(record, event)
            if not await self._upstreams_ready(created):
                report.skipped.append(child)
                continue
            instance = instance_id_for("project-bootstrap", child)
            await self._start(created, "project-bootstrap", instance, None, {}, report)
            self.metrics.cascaded_orchestration(event.project_id)

    # ---------------------------------------------------------------- tenancy, dedupe, audit
    async def _tenant_problem(self, event: EventEnvelope) -> tuple[str | None, str | None]:
        """(why the event is refused, the project's owner tenant when another one) or
        (None, None)."""
        allowed = self.adapters.settings.tenants
        if allowed and event.tenant_id not in allowed:
            return f"tenant {event.tenant_id!r} is not served by this deployment", None
        state = await self._coordinator_state(event.project_id)
        owner = (state or {}).get("tenant_id")
        if owner and owner != event.tenant_id:
            return (
                f"project {event.project_id} belongs to another tenant; "
                f"event claims tenant {event.tenant_id!r}"
            ), owner
        return None, None

    async def _coordinator_state(self, project_id: str) -> dict[str, Any] | None:
        response = await self.client.read_entity_state(_entity(project_id))
        if not getattr(response, "entity_exists", False):
            return None
        state = response.entity_state
        return json.loads(state) if isinstance(state, str) else state

    def _reject(self, event: EventEnvelope, reason: str, owner: str | None) -> None:
        """Count and audit a refused event. A cross-tenant event is audited under the project's
        owner tenant (whose trail must show the attempt; the claimed tenant's partition would
        hide it from the owner and leak the project id to the claimant)."""
        self.metrics.event_rejected(event.event_type, "tenant")
        log.warning("rejected %s %s: %s", event.event_type, event.event_id, reason)
        self._audit(
            event,
            "EventRejected",
            reason,
            tenant=owner,
            rejectedTenant=event.tenant_id,
            known=owner is not None,
        )

    def _remember(self, event: EventEnvelope) -> None:
        self.adapters.processed_events.remember(
            event.tenant_id, event.project_id, event.idempotency_key, DEDUPE_TTL_SEC
        )

    def seen(self, event: EventEnvelope) -> bool:
        """True when this event was already routed (a redelivery or a duplicate publish)."""
        return not self.adapters.processed_events.remember(
            event.tenant_id, event.project_id, "seen:" + event.idempotency_key, DEDUPE_TTL_SEC
        )

    def _audit(
        self, event: EventEnvelope, type_: str, action: str, tenant: str | None = None,
        **details: Any,
    ) -> None:
        self.adapters.audit.append(
            {
                "id": stable_uuid("router", event.event_id, type_),
                "tenantId": tenant or event.tenant_id,
                "projectId": event.project_id,
                "traceId": event.trace_id,
                "type": type_,
                "actor": "router",
                "action": action,
                "phase": details.pop("phase", None) or "Initialization",
                "timestamp": _ts(event),
                "taskId": None,
                "agentId": None,
                "details": {"eventType": event.event_type, "eventId": event.event_id, **details},
            }
        )


def _entity(project_id: str) -> Any:
    import azure.durable_functions as df

    return df.EntityId(COORDINATOR, project_id)


def _ts(event: EventEnvelope) -> str:
    return event.to_dict()["timestamp"]


def _project_created_event(record: dict[str, Any], cause: EventEnvelope) -> EventEnvelope:
    request = record.get("request") or {}
    return parse_event(
        {
            "eventType": "ProjectCreated",
            "eventId": stable_uuid("cascade", record["projectId"]),
            "traceId": record.get("traceId") or cause.trace_id,
            "tenantId": record["tenantId"],
            "projectId": record["projectId"],
            "source": "router",
            "timestamp": _ts(cause),
            "payload": {
                "projectName": record.get("name"),
                "request": request,
                "parentProjectIds": request.get("upstream") or [],
            },
        }
    )
