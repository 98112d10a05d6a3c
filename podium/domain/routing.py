"""Event routing registry: which flows an event starts and which instances it is raised into.

Loaded from ``flows/routing.yaml`` (see the comments there for the format). The router
function of the app calls :meth:`RoutingRegistry.resolve` on every parsed event and then, per
returned :class:`RouteTarget`, starts the flow under ``instance_id`` (a no-op when that instance
already exists: that is what makes redelivery safe) or raises ``event_name`` into ``instance_id``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ._base import DomainModel
from ._templating import placeholders, substitute
from .contracts import PAYLOAD_TYPES, EventEnvelope
from .errors import DomainError
from .phases import LifecyclePhase

_SAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_INSTANCE_ID = 100


def instance_id_for(flow: str, project_id: str, key: str | None = None) -> str:
    """Deterministic Durable instance id for one flow instance of one project.

    ``"<projectId>:<flow>"`` or ``"<projectId>:<flow>:<key>"``; characters Durable or storage
    reject are replaced, and whenever anything was replaced or the id would exceed 100 chars a
    short hash of the exact inputs is appended, so distinct inputs never collide.
    """
    if not flow or not project_id:
        raise DomainError("instance_id_for needs a flow and a projectId")
    parts = [project_id, flow] + ([key] if key else [])
    safe = [_SAFE.sub("_", p) for p in parts]
    ident = ":".join(safe)
    if safe != parts or len(ident) > MAX_INSTANCE_ID:
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]
        ident = ident[: MAX_INSTANCE_ID - 13] + "~" + digest
    return ident


def external_event_name(event_type: str, task_id: str) -> str:
    """Name under which a per-task event is raised into an orchestration, e.g.
    ``"HumanTaskResponseReceived:ApproveDomainModel"``; orchestrators wait for this name."""
    return f"{event_type}:{task_id}"


class RouteFilters(DomainModel):
    """Conditions an event must meet; an omitted list means "any"."""

    tenant: list[str] | None = None
    source: list[str] | None = None
    phase: list[LifecyclePhase] | None = None

    @field_validator("tenant", "source", "phase", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Route(DomainModel):
    """One routing rule for an event type."""

    mode: Literal["start", "raise"] = "start"
    flow: str | None = None
    filters: RouteFilters = Field(default_factory=RouteFilters)
    instance_key: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    target: str | None = None
    event_name: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Route:
        if self.mode == "start" and not self.flow:
            raise ValueError("a start route needs 'flow'")
        if self.mode == "raise" and not (self.target and self.event_name):
            raise ValueError("a raise route needs 'target' and 'eventName'")
        return self


class RouteTarget(DomainModel):
    """What the router must do for one matching route."""

    mode: Literal["start", "raise"]
    instance_id: str
    flow: str | None = None
    instance_key: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    event_name: str | None = None


class RoutingRegistry(DomainModel):
    """eventType -> routes, as in ``flows/routing.yaml``."""

    routes: dict[str, list[Route]]

    @field_validator("routes")
    @classmethod
    def _known_event_types(cls, value: dict[str, list[Route]]) -> dict[str, list[Route]]:
        unknown = sorted(set(value) - set(PAYLOAD_TYPES))
        if unknown:
            raise ValueError(f"routes for unknown event types: {', '.join(unknown)}")
        return value

    def flows(self) -> set[str]:
        """Every flow a route may start."""
        return {r.flow for routes in self.routes.values() for r in routes if r.flow}

    def event_types(self) -> list[str]:
        """Event types with at least one route."""
        return list(self.routes)

    def resolve(self, event: EventEnvelope) -> list[RouteTarget]:
        """Targets for ``event`` in registry order (empty when nothing matches).

        Raises :class:`DomainError` when a matching route cannot be filled in (e.g. a raise
        route whose ``payload.instanceId`` is missing): such an event must be dead-lettered,
        not silently dropped.
        """
        values = _values(event)
        out: list[RouteTarget] = []
        for route in self.routes.get(event.event_type, []):
            if not _matches(route.filters, event, values):
                continue
            where = f"route {event.event_type}->{route.flow or route.mode}"
            if route.mode == "raise":
                target = str(substitute(route.target, values, where + ".target"))
                name = str(substitute(route.event_name, values, where + ".eventName"))
                if not target:
                    raise DomainError(f"{where}: target instance id is empty")
                out.append(RouteTarget(mode="raise", instance_id=target, event_name=name))
                continue
            assert route.flow is not None  # checked by the model validator
            key = substitute(route.instance_key, values, where + ".instanceKey")
            params = substitute(route.parameters, values, where + ".parameters")
            out.append(
                RouteTarget(
                    mode="start",
                    flow=route.flow,
                    instance_key=str(key) if key else None,
                    instance_id=instance_id_for(route.flow, event.project_id, key or None),
                    parameters=params,
                )
            )
        return out

    def check_placeholders(self) -> list[str]:
        """Placeholders that can never resolve (not envelope fields nor ``payload.*``)."""
        allowed = {"projectId", "tenantId", "eventType", "eventId", "traceId", "source"}
        bad: list[str] = []
        for event_type, routes in self.routes.items():
            for route in routes:
                used = placeholders(
                    [route.instance_key, route.parameters, route.target, route.event_name]
                )
                for name in sorted(used):
                    if name not in allowed and not name.startswith("payload."):
                        bad.append(f"{event_type}: unknown placeholder ${{{name}}}")
        return bad


def _values(event: EventEnvelope) -> dict[str, Any]:
    return {
        "projectId": event.project_id,
        "tenantId": event.tenant_id,
        "eventType": event.event_type,
        "eventId": event.event_id,
        "traceId": event.trace_id,
        "source": event.source,
        "payload": event.payload.model_dump(mode="json", by_alias=True),
    }


def _matches(filters: RouteFilters, event: EventEnvelope, values: Mapping[str, Any]) -> bool:
    if filters.tenant is not None and event.tenant_id not in filters.tenant:
        return False
    if filters.source is not None and event.source not in filters.source:
        return False
    if filters.phase is not None:
        payload = values["payload"]
        raw = payload.get("to") or payload.get("phase")
        if raw is None:
            return False
        try:
            phase = LifecyclePhase.parse(raw)
        except DomainError:
            return False
        if phase not in filters.phase:
            return False
    return True
