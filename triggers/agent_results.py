"""Service Bus trigger on the agent-results queue: raise each agent answer into the
``agent_task`` orchestration waiting for it. The idempotency key taskId + traceId + attempt +
eventType makes a duplicate answer (an agent answering twice, a redelivery) a no-op."""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from podium import topology
from podium.domain.routing import external_event_name
from podium.observability import bind_context, start_span
from podium.runtime.router import InvalidEvent, parse_message
from triggers import bp
from triggers._shared import adapters, metrics

log = logging.getLogger("podium.agent_results")
DEDUPE_TTL_SEC = 7 * 24 * 3600
RESULT_TYPES = ("AgentTaskAcknowledged", "AgentTaskCompleted", "AgentTaskFailed")


def normalize(envelope: dict[str, Any]) -> dict[str, Any]:
    """Agents answer with the SDK's shapes; fill what the contracts need (the waiting
    instance is the dispatch id, a permanent failure is a Fatal error class)."""
    payload = dict(envelope.get("payload") or {})
    payload.setdefault("instanceId", payload.get("taskId"))
    if envelope.get("eventType") == "AgentTaskFailed":
        payload.setdefault("message", payload.get("reason") or "agent failed")
        reason = str(payload.get("reason") or "")
        code = reason.split(":", 1)[0].strip() if ":" in reason else "AgentFailed"
        payload.setdefault("errorCode", code or "AgentFailed")
        if payload.get("permanent"):
            payload.setdefault("errorClass", "Fatal")
    return {**envelope, "payload": payload}


@bp.service_bus_queue_trigger(
    arg_name="msg",
    queue_name=topology.AGENT_RESULTS_QUEUE,
    connection=topology.SERVICEBUS_CONNECTION_SETTING,
)
@bp.durable_client_input(client_name="client")
async def receive_agent_result(
    msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient
) -> None:
    try:
        raw = json.loads(msg.get_body())
        event = parse_message(json.dumps(normalize(raw)))
    except (ValueError, InvalidEvent) as exc:
        log.warning("invalid agent result %s: %s", msg.message_id, exc)
        raise InvalidEvent(str(exc)) from None
    if event.event_type not in RESULT_TYPES:
        raise InvalidEvent(f"eventType {event.event_type!r} is not an agent result")
    payload = event.payload.model_dump(by_alias=True, mode="json")
    if not str(payload.get("instanceId") or "").startswith(f"{event.project_id}:"):
        # Task instances are named "<projectId>:<flow>...": an answer naming another
        # project's instance is forged or misrouted; drop it (the agent_task orchestration also
        # ignores answers whose tenant / project / trace differ from its own).
        metrics().event_rejected(event.event_type, "project")
        log.warning(
            "agent result %s for %s rejected: instance %s is not a task of project %s",
            event.event_id, payload.get("taskId"), payload.get("instanceId"), event.project_id,
        )
        return
    key = f"{payload['taskId']}|{event.trace_id}|{payload.get('attempt', 1)}|{event.event_type}"
    with (
        bind_context(
            trace_id=event.trace_id,
            tenant_id=event.tenant_id,
            project_id=event.project_id,
            agent_id=payload.get("agentId"),
        ),
        start_span(
            f"agent result {event.event_type}",
            trace_id=event.trace_id,
            attributes={
                "podium.taskId": payload["taskId"],
                "podium.agentId": payload.get("agentId", ""),
            },
        ),
    ):
        name = external_event_name(event.event_type, payload["taskId"])
        try:
            await client.raise_event(payload["instanceId"], name, event.to_dict())
        except Exception as exc:  # noqa: BLE001 - the task ended (timeout) before the answer
            # An acknowledgement often lands after the result (the queue is processed in
            # parallel): normal. A late result means the task had already timed out.
            level = (
                logging.DEBUG if event.event_type == "AgentTaskAcknowledged" else logging.WARNING
            )
            log.log(
                level,
                "answer %s for %s arrived after the task ended: %s",
                event.event_type,
                payload["taskId"],
                exc,
            )
            return
    # Raised first, remembered second: a crash in between re-raises (harmless: the waiting
    # orchestration ignores an answer it already has or one for another attempt) instead of
    # losing the answer. The key only tells a duplicate apart for logs and metrics.
    if not adapters().processed_events.remember(
        event.tenant_id, event.project_id, key, DEDUPE_TTL_SEC
    ):
        log.info("duplicate %s for %s ignored", event.event_type, payload["taskId"])
        return
