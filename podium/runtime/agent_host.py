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
