"""Service Bus trigger on orchestration-events/router: the EventTriggerRouting entry point."""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from podium import topology
from podium.observability import bind_context, start_span
from podium.runtime.router import EventRouter, InvalidEvent, parse_message
from triggers import bp
from triggers._shared import adapters, metrics

log = logging.getLogger("podium.router")


@bp.service_bus_topic_trigger(
    arg_name="msg",
    topic_name=topology.ORCHESTRATION_EVENTS_TOPIC,
    subscription_name=topology.ROUTER_SUBSCRIPTION,
    connection=topology.SERVICEBUS_CONNECTION_SETTING,
)
@bp.durable_client_input(client_name="client")
async def route_orchestration_event(
    msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient
) -> None:
    try:
        event = parse_message(msg.get_body())
    except InvalidEvent as exc:
        if (msg.delivery_count or 1) <= 1:
            metrics().event_rejected("invalid", "validation")
        log.warning("invalid event %s: %s", msg.message_id, exc)
        raise  # retried, then dead-lettered with this message as the error description
    router = EventRouter(client, adapters(), metrics())
    with (
        bind_context(
            trace_id=event.trace_id, tenant_id=event.tenant_id, project_id=event.project_id
        ),
        start_span(
            f"route {event.event_type}",
            trace_id=event.trace_id,
            parent_traceparent=(msg.application_properties or {}).get(topology.PROP_TRACEPARENT),
            attributes={"podium.eventType": event.event_type, "podium.eventId": event.event_id},
        ),
    ):
        report = await router.route(event, redelivery=(msg.delivery_count or 1) > 1)
        log.info(
            "routed %s %s: started=%s raised=%s skipped=%s rejected=%s duplicate=%s",
            event.event_type,
            event.event_id,
            report.started,
            report.raised,
            report.skipped,
            report.rejected,
            report.duplicate,
        )
