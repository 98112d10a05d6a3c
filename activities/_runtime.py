"""What activities share: the adapters (built once per data dir), publishing and auditing.

The adapters come from ``podium.settings`` (environment / local.settings.json). Under the local
host, the host's embedded broker is used when one runs in this process, so published messages
wake the host's Service Bus trigger pumps at once.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from podium import topology
from podium.adapters.factory import Adapters, build_adapters
from podium.coordination.ids import stable_uuid
from podium.domain import parse_event
from podium.observability import get_metrics, traceparent_for
from podium.settings import load_settings

log = logging.getLogger("podium.activities")
_lock = threading.Lock()
_cache: dict[tuple[Any, ...], Adapters] = {}
_fast: dict[tuple[Any, ...], Adapters] = {}


def _host_broker() -> Any:
    try:
        from podium.localhost.broker.registry import current
    except ImportError:  # deployed without the local host package
        return None
    try:
        return current()
    except Exception:  # no local host in this process: the adapters pick their own
        return None


def adapters() -> Adapters:
    """The adapters for the current settings, cached per environment and host broker.

    Reading and validating the settings walks the whole environment, which is too slow for
    every activity call; the cache key is a cheap fingerprint of the ``PODIUM_*`` variables
    that select implementations, so a changed setting (a test, a new host) builds afresh."""
    broker = _host_broker()
    fingerprint = (
        tuple(
            sorted(
                (k, v)
                for k, v in os.environ.items()
                if k.startswith(("PODIUM_", "COSMOS_", "SERVICEBUS_", "KEYVAULT_", "ARTIFACTS_"))
            )
        ),
        id(broker),
    )
    with _lock:
        cached = _fast.get(fingerprint)
    if cached is not None:
        return cached
    settings = load_settings()
    if settings.publisher_kind != "local":
        broker = None
    key = (str(settings.data_dir.resolve()), id(broker), fingerprint)
    with _lock:
        if key not in _cache:
            _cache[key] = build_adapters(settings, broker=broker)
        _fast[fingerprint] = _cache[key]
        return _cache[key]


def workspace(tenant_id: str, project_id: str) -> str:
    """The project's workspace: where agents write what they generate. Locally it is the
    project's folder of the local artifact store, so delivery needs no copy."""
    settings = load_settings()
    return str((settings.data_dir / "artifacts" / tenant_id / project_id).resolve())


def metrics():
    return get_metrics()


def job_event(
    job: dict[str, Any],
    event_type: str,
    payload: dict[str, Any],
    *,
    event_id: str,
    timestamp: str | None = None,
    origin: str | None = None,
    microservice_id: str | None = None,
) -> dict[str, Any]:
    """An event envelope of the flow ``job`` belongs to (trace, tenant, project, source flow).
    The caller derives ``event_id`` from stable inputs, so a retried activity republishes the
    same id and the broker's duplicate detection drops it."""
    event: dict[str, Any] = {
        "eventType": event_type,
        "eventId": event_id,
        "traceId": job["traceId"],
        "tenantId": job["tenantId"],
        "projectId": job["projectId"],
        "source": job["flow"],
        "origin": origin or job["flowInstanceId"],
        "payload": payload,
        "timestamp": timestamp or job["at"],
    }
    if microservice_id is not None:
        event["microserviceId"] = microservice_id
    return event


def publish(
    envelope: dict[str, Any],
    destination: str = topology.ORCHESTRATION_EVENTS_TOPIC,
    extra_properties: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Validate an event envelope and publish it (MessageId = eventId for duplicate detection,
    CorrelationId = traceId, routing properties, W3C traceparent)."""
    event = parse_event(envelope).to_dict()
    props = {
        topology.PROP_TENANT_ID: event["tenantId"],
        topology.PROP_PROJECT_ID: event["projectId"],
        topology.PROP_EVENT_TYPE: event["eventType"],
        topology.PROP_TRACEPARENT: traceparent_for(event["traceId"]),
        **(extra_properties or {}),
    }
    adapters().publisher.publish(
        destination,
        event,
        message_id=event["eventId"],
        correlation_id=event["traceId"],
        application_properties=props,
    )
    return event


def audit(
    ids: dict[str, Any],
    type_: str,
    action: str,
    *,
    actor: str = "podium",
    phase: str | None = None,
    at: str,
    key: object = "",
    **details: Any,
) -> None:
    """Append one audit row. The id is derived from the inputs, so an activity retry appends
    nothing new (the audit log ignores a known id)."""
    record = {
        "id": stable_uuid("audit", ids.get("flowInstanceId", ""), type_, action, key, at),
        "tenantId": ids["tenantId"],
        "projectId": ids["projectId"],
        "traceId": ids["traceId"],
        "type": type_,
        "actor": actor,
        "action": action,
        "phase": phase or ids.get("phase") or "Initialization",
        "timestamp": at,
        "taskId": details.pop("taskId", None),
        "agentId": details.pop("agentId", None),
        "flow": ids.get("flow"),
        "details": {"flowInstanceId": ids.get("flowInstanceId"), **details},
    }
    adapters().audit.append(record)
