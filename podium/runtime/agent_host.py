"""Runs the built-in agents against a Service Bus broker: the embedded one of the local host, or
Azure Service Bus (``ServiceBusAgentTransport``).

Agents are separate workers in the architecture: they receive ``AgentTaskScheduled`` from their
own subscription of the agent-tasks topic (filtered by agentId) and answer on the agent-results
queue. Here they run as threads of the calling process, which is how ``podium run`` and the
end-to-end tests host them next to the local host.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from podium import topology
from podium.agents.transport import InboundMessage, run_workers
from podium.agents.worker import AgentWorker


class BrokerAgentTransport:
    """The agents' Transport over the local host's embedded broker."""

    def __init__(self, broker: Any, agent_ids: Iterable[str], *, poll: float = 0.05) -> None:
        from podium.localhost.broker import subscription_path

        self.broker = broker
        self.paths = [subscription_path(topology.AGENT_TASKS_TOPIC, a) for a in agent_ids]
        self.poll = poll
        self._wake = threading.Event()
        broker.add_listener(self._on_message)

    def _on_message(self, _path: str) -> None:
        self._wake.set()

    def close(self) -> None:
        self.broker.remove_listener(self._on_message)

    def receive(self, max_messages: int, timeout: float) -> list[InboundMessage]:
        deadline = time.monotonic() + timeout
        while True:
            self._wake.clear()
            out: list[InboundMessage] = []
            for path in self.paths:
                if len(out) >= max_messages:
                    break
                for msg in self.broker.receive(path, max_messages - len(out)):
                    try:
                        body = json.loads(msg.text)
                    except ValueError:
                        body = msg.text
                    out.append(
                        InboundMessage(
                            body, dict(msg.application_properties), (path, msg.lock_token)
                        )
                    )
            remaining = deadline - time.monotonic()
            if out or remaining <= 0:
                return out
            self._wake.wait(min(self.poll * 10, remaining))

    def complete(self, message: InboundMessage) -> None:
        path, token = message.handle
        self.broker.complete(path, token)

    def dead_letter(self, message: InboundMessage, reason: str) -> None:
        path, token = message.handle
        self.broker.dead_letter(path, token, reason.split(":", 1)[0][:120], reason)

    def send(self, envelope: dict[str, Any]) -> None:
        self.broker.send(
            topology.AGENT_RESULTS_QUEUE,
            json.dumps(envelope),
            message_id=envelope.get("eventId"),
            correlation_id=envelope.get("traceId"),
            application_properties={
                topology.PROP_TENANT_ID: envelope.get("tenantId", ""),
                topology.PROP_PROJECT_ID: envelope.get("projectId", ""),
                topology.PROP_EVENT_TYPE: envelope.get("eventType", ""),
                topology.PROP_AGENT_ID: envelope.get("source", ""),
            },
        )


class AgentHost:
    """Built-in agent workers on background threads, stoppable."""

    def __init__(
        self, broker: Any, workers: Mapping[str, AgentWorker], *, concurrency: int = 4
    ) -> None:
        self.transport = BrokerAgentTransport(broker, workers.keys())
        self.workers = dict(workers)
        self.concurrency = concurrency
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AgentHost:
        self._thread = threading.Thread(
            target=run_workers,
            args=(self.workers, self.transport, self._stop),
            kwargs={"concurrency": self.concurrency},
            name="podium-agent-host",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.transport.close()


class ServiceBusAgentTransport:
    """The agents' Transport on Azure Service Bus: one receiver per hosted agent on its
    subscription of the agent-tasks topic, answers sent to the agent-results queue.

    Connection: ``SERVICEBUS_CONNECTION`` (a connection string) or
    ``SERVICEBUS_CONNECTION__fullyQualifiedNamespace`` with DefaultAzureCredential (managed
    identity), the same settings the Functions app's triggers use.
    """

    def __init__(
        self,
        agent_ids: Iterable[str],
        *,
        connection: str | None = None,
        namespace: str | None = None,
        wait: float = 1.0,
    ) -> None:
        from azure.servicebus import ServiceBusClient

        if connection:
            self.client = ServiceBusClient.from_connection_string(connection)
        elif namespace:
            from azure.identity import DefaultAzureCredential

            self.client = ServiceBusClient(namespace, DefaultAzureCredential())
        else:
            raise ValueError(
                "set SERVICEBUS_CONNECTION or SERVICEBUS_CONNECTION__fullyQualifiedNamespace"
            )
        self.receivers = [
            self.client.get_subscription_receiver(topology.AGENT_TASKS_TOPIC, a) for a in agent_ids
        ]
        self.sender = self.client.get_queue_sender(topology.AGENT_RESULTS_QUEUE)
        self.wait = wait

    def receive(self, max_messages: int, timeout: float) -> list[InboundMessage]:
        out: list[InboundMessage] = []
        per_receiver = max(timeout / max(len(self.receivers), 1), 0.05)
        for receiver in self.receivers:
            if len(out) >= max_messages:
                break
            for msg in receiver.receive_messages(
                max_message_count=max_messages - len(out),
                max_wait_time=min(per_receiver, self.wait),
            ):
                raw = b"".join(msg.body) if not isinstance(msg.body, bytes) else msg.body
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                props = {
                    (k.decode() if isinstance(k, bytes) else k): (
                        v.decode() if isinstance(v, bytes) else v
                    )
                    for k, v in (msg.application_properties or {}).items()
                }
                out.append(InboundMessage(body, props, (receiver, msg)))
        return out

    def complete(self, message: InboundMessage) -> None:
        receiver, msg = message.handle
        receiver.complete_message(msg)

    def dead_letter(self, message: InboundMessage, reason: str) -> None:
        receiver, msg = message.handle
        receiver.dead_letter_message(
            msg, reason=reason.split(":", 1)[0][:120], error_description=reason[:1000]
        )

    def send(self, envelope: dict[str, Any]) -> None:
        from azure.servicebus import ServiceBusMessage

        self.sender.send_messages(
            ServiceBusMessage(
                json.dumps(envelope),
                message_id=envelope.get("eventId"),
                correlation_id=envelope.get("traceId"),
                content_type="application/json",
                application_properties={
                    topology.PROP_TENANT_ID: envelope.get("tenantId", ""),
                    topology.PROP_PROJECT_ID: envelope.get("projectId", ""),
                    topology.PROP_EVENT_TYPE: envelope.get("eventType", ""),
                    topology.PROP_AGENT_ID: envelope.get("source", ""),
                },
            )
        )

    def close(self) -> None:
        for receiver in self.receivers:
            receiver.close()
        self.sender.close()
        self.client.close()


def servicebus_transport(agent_ids: list[str]) -> ServiceBusAgentTransport:
    """``python -m podium.agents --transport podium.runtime.agent_host:servicebus_transport``"""
    import os

    return ServiceBusAgentTransport(
        agent_ids,
        connection=os.environ.get(topology.SERVICEBUS_CONNECTION_SETTING),
        namespace=os.environ.get(
            f"{topology.SERVICEBUS_CONNECTION_SETTING}__fullyQualifiedNamespace"
        ),
    )


def broker_transport(agent_ids: list[str]) -> BrokerAgentTransport:
    """``python -m podium.agents --transport podium.runtime.agent_host:broker_transport``:
    agents in their own process against a running ``podium host`` (its broker file in
    ``PODIUM_DATA_DIR``, default ``.podium``)."""
    import os
    from pathlib import Path

    from podium.localhost.broker import Broker, podium_topology

    data_dir = Path(os.environ.get("PODIUM_DATA_DIR", ".podium"))
    hub = os.environ.get("PODIUM_HUB_NAME", "PodiumHub")
    broker = Broker(data_dir / f"{hub}-servicebus.sqlite")
    broker.apply_topology(podium_topology())
    return BrokerAgentTransport(broker, agent_ids, poll=0.2)
