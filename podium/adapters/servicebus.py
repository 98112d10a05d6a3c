"""Event publishers: Azure Service Bus and the local host's embedded broker.

Both stamp the same message: body = the JSON envelope, ``content_type`` application/json,
``MessageId`` = the event id (Service Bus duplicate detection drops a re-publish from a retried
activity), ``CorrelationId`` = the trace id, ``Subject`` = the event type, and the application
properties from :mod:`podium.topology` (tenantId, projectId, agentId, eventType, traceparent) that
subscription filters (``agentId = '...'``) and the router read. Sessions are not used.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from podium import topology
from podium.adapters.ports import AdapterError, Json

_PROP_TYPES = (str, int, float, bool)
_TOPICS = frozenset({topology.ORCHESTRATION_EVENTS_TOPIC, topology.AGENT_TASKS_TOPIC})


class PublishError(AdapterError):
    """The message could not be published (destination missing, broker down, bad property)."""


def _props(application_properties: Mapping[str, Any]) -> dict[str, Any]:
    props = {k: v for k, v in application_properties.items() if v is not None}
    for key, value in props.items():
        if not isinstance(value, _PROP_TYPES):
            raise PublishError(f"application property {key!r} must be str/int/float/bool, "
                               f"not {type(value).__name__}")
    return props


def _body(envelope: Json) -> str:
    return json.dumps(envelope, separators=(",", ":"), default=str)


def build_message(envelope: Json, *, message_id: str, correlation_id: str,
                  application_properties: Mapping[str, Any],
                  scheduled_enqueue_time: datetime | None = None) -> Any:
    """The ``ServiceBusMessage`` Podium sends for an event (sessions off: no session id)."""
    from azure.servicebus import ServiceBusMessage

    props = _props(application_properties)
    return ServiceBusMessage(
        _body(envelope), content_type="application/json", message_id=message_id,
        correlation_id=correlation_id, subject=props.get(topology.PROP_EVENT_TYPE),
        application_properties=props, scheduled_enqueue_time_utc=scheduled_enqueue_time,
    )


class ServiceBusEventPublisher:
    """Publishes with azure-servicebus; one client, one cached sender per destination.

    Build it with a connection string (``SERVICEBUS_CONNECTION``) or with a fully qualified
    namespace and a credential (managed identity, the Functions identity-based connection
    convention ``SERVICEBUS_CONNECTION__fullyQualifiedNamespace``). Senders are created lazily
    and reused: opening an AMQP link per message costs round trips (CBS auth, attach).
    """

    def __init__(self, *, connection_string: str | None = None,
                 fully_qualified_namespace: str | None = None, credential: Any = None,
                 **client_kwargs: Any) -> None:
        """``client_kwargs`` go to ``ServiceBusClient`` (e.g. ``retry_total``)."""
        from azure.servicebus import ServiceBusClient

        if connection_string:
            self._client = ServiceBusClient.from_connection_string(connection_string,
                                                                   **client_kwargs)
        elif fully_qualified_namespace:
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            self._client = ServiceBusClient(fully_qualified_namespace, credential,
                                            **client_kwargs)
        else:
            raise PublishError("ServiceBusEventPublisher needs a connection string or a namespace")
        self._senders: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _sender(self, destination: str) -> tuple[Any, threading.Lock]:
        with self._guard:
            if destination not in self._senders:
                if destination in _TOPICS:
                    sender = self._client.get_topic_sender(destination)
                else:
                    sender = self._client.get_queue_sender(destination)
                self._senders[destination] = sender
                self._locks[destination] = threading.Lock()
            return self._senders[destination], self._locks[destination]

    def publish(
        self,
        destination: str,
        envelope: Json,
        *,
        message_id: str,
        correlation_id: str,
        application_properties: Mapping[str, str],
        scheduled_enqueue_time: datetime | None = None,
    ) -> None:
        from azure.servicebus.exceptions import ServiceBusError

        message = build_message(envelope, message_id=message_id, correlation_id=correlation_id,
                                application_properties=application_properties,
                                scheduled_enqueue_time=scheduled_enqueue_time)
        sender, lock = self._sender(destination)
        try:
            with lock:  # a sender is not thread-safe; one lock per destination
                sender.send_messages(message)
        except ServiceBusError as exc:
            raise PublishError(f"publishing to {destination!r} failed: "
                               f"{type(exc).__name__}") from exc

    def close(self) -> None:
        with self._guard:
            for sender in self._senders.values():
                sender.close()
            self._senders.clear()
        self._client.close()


class LocalBrokerEventPublisher:
    """Publishes to the local host's embedded broker (``podium.localhost.broker.Broker``).

    Which broker: the one passed in; else the broker of the local host running in this process
    (``podium.localhost.broker.registry``, looked up at each publish so the adapters can be
    built before the host starts); else ``fallback()`` (the factory opens the host's broker file,
    whose messages the host's trigger pumps pick up on their next poll).
    """

    def __init__(self, broker: Any = None, *, fallback: Callable[[], Any] | None = None) -> None:
        self.broker = broker
        self._fallback = fallback
        self._own: Any = None
        self._lock = threading.Lock()

    def _target(self) -> Any:
        if self.broker is not None:
            return self.broker
        from podium.localhost.broker import BrokerError, registry

        try:
            return registry.current()
        except BrokerError:
            if self._fallback is None:
                raise
        with self._lock:
            if self._own is None:
                self._own = self._fallback()
            return self._own

    def publish(
        self,
        destination: str,
        envelope: Json,
        *,
        message_id: str,
        correlation_id: str,
        application_properties: Mapping[str, str],
        scheduled_enqueue_time: datetime | None = None,
    ) -> None:
        from podium.localhost.broker import BrokerError

        props = _props(application_properties)
        try:
            self._target().send(
                destination, _body(envelope), message_id=message_id,
                correlation_id=correlation_id, application_properties=props,
                scheduled_enqueue_time=scheduled_enqueue_time, content_type="application/json",
                subject=props.get(topology.PROP_EVENT_TYPE),
            )
        except BrokerError as exc:
            raise PublishError(f"publishing to {destination!r} failed: {exc}") from exc

    def close(self) -> None:
        """Closes only a broker this publisher opened itself (the host closes its own)."""
        with self._lock:
            if self._own is not None:
                self._own.close()
                self._own = None


def event_properties(envelope: Json, *, traceparent: str | None = None) -> dict[str, str]:
    """The standard application properties for an event envelope (missing ones left out)."""
    fields = {
        topology.PROP_TENANT_ID: envelope.get("tenantId"),
        topology.PROP_PROJECT_ID: envelope.get("projectId"),
        topology.PROP_AGENT_ID: envelope.get("agentId"),
        topology.PROP_EVENT_TYPE: envelope.get("eventType") or envelope.get("type"),
        topology.PROP_TRACEPARENT: traceparent or envelope.get("traceparent"),
    }
    return {k: str(v) for k, v in fields.items() if v}
