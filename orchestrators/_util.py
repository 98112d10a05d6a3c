"""Small replay-safe helpers shared by the orchestrators."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from podium.coordination.ids import stable_uuid

COORDINATOR = "project_coordinator"
THROTTLE = "agent_throttle"


def now_iso(context: df.DurableOrchestrationContext) -> str:
    """The orchestration's replay-safe 'now' as ISO-8601 UTC."""
    return context.current_utc_datetime.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def after(context: df.DurableOrchestrationContext, seconds: float) -> datetime:
    return context.current_utc_datetime + timedelta(seconds=max(seconds, 0))


def event_data(value: Any) -> Any:
    """External event payloads raised through the SDK client arrive JSON-encoded (twice in
    azure-functions-durable 1.7.0); decode until we have a non-string value."""
    for _ in range(3):
        if not isinstance(value, str):
            return value
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return value


def coordinator(project_id: str) -> df.EntityId:
    return df.EntityId(COORDINATOR, project_id)


def throttle(tenant_id: str, agent_id: str) -> df.EntityId:
    return df.EntityId(THROTTLE, f"{tenant_id}|{agent_id}")


def event_id(context: df.DurableOrchestrationContext, *parts: object) -> str:
    """A deterministic event id: same instance + same parts → same id on every replay."""
    return stable_uuid(context.instance_id, *parts)


def envelope(
    context: df.DurableOrchestrationContext,
    run: dict[str, Any],
    event_type: str,
    payload: dict[str, Any],
    *parts: object,
) -> dict[str, Any]:
    """An event envelope (validated later, in the publishing activity)."""
    return {
        "eventType": event_type,
        "eventId": event_id(context, event_type, *parts),
        "traceId": run["traceId"],
        "tenantId": run["tenantId"],
        "projectId": run["projectId"],
        "source": run.get("flow", "podium"),
        "origin": context.instance_id,
        "payload": payload,
        "timestamp": now_iso(context),
    }
