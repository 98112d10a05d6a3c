"""The same publishing scenarios against the embedded broker and, when configured, Azure.

The Azure variant runs only when ``SERVICEBUS_CONNECTION`` holds a connection string of a
namespace deployed from ``infra/`` (topics, per-agent subscriptions, queue, duplicate detection):

    SERVICEBUS_CONNECTION='Endpoint=sb://<ns>.servicebus.windows.net/;...' \
        .venv/bin/python -m pytest tests/adapters/test_publisher_contract.py -m servicebus_live

Messages are told apart by unique ids, so leftovers in a shared namespace do not disturb it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from podium import topology
from podium.adapters.ports import EventPublisher
from podium.adapters.servicebus import (
    LocalBrokerEventPublisher,
    PublishError,
    ServiceBusEventPublisher,
    event_properties,
)


@dataclass
class Got:
    body: dict[str, Any]
    message_id: str
    correlation_id: str | None
    subject: str | None
    content_type: str | None
    properties: dict[str, Any]


class Receiver(Protocol):
    def drain(self, entity: str, wait: float) -> list[Got]: ...


def _text(props: dict[Any, Any]) -> dict[str, Any]:
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
            else v) for k, v in props.items()}


class BrokerReceiver:
    def __init__(self, broker: Any) -> None:
        self.broker = broker

    def drain(self, entity: str, wait: float) -> list[Got]:
        out = []
        for m in self.broker.receive(entity, max_messages=100):
            self.broker.complete(entity, m.lock_token)
            out.append(Got(json.loads(m.body), m.message_id, m.correlation_id, m.subject,
                           m.content_type, dict(m.application_properties)))
        return out


class AzureReceiver:
    def __init__(self, conn: str) -> None:
        from azure.servicebus import ServiceBusClient

        self.client = ServiceBusClient.from_connection_string(conn)

    def drain(self, entity: str, wait: float) -> list[Got]:
        if "/Subscriptions/" in entity:
            topic, sub = entity.split("/Subscriptions/")
            receiver = self.client.get_subscription_receiver(topic, sub, max_wait_time=wait)
        else:
            receiver = self.client.get_queue_receiver(entity, max_wait_time=wait)
        out = []
        with receiver:
            for m in receiver.receive_messages(max_message_count=100, max_wait_time=wait):
                receiver.complete_message(m)
                out.append(Got(json.loads(b"".join(m.body)), m.message_id, m.correlation_id,
                               m.subject, m.content_type, _text(m.application_properties or {})))
        return out


@pytest.fixture(params=["embedded", pytest.param("azure", marks=pytest.mark.servicebus_live)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[
        tuple[EventPublisher, Receiver, float]]:
    if request.param == "embedded":
        from podium.localhost.broker import Broker, podium_topology

        broker = Broker(tmp_path / "broker.sqlite3")
        broker.apply_topology(podium_topology())
        yield LocalBrokerEventPublisher(broker), BrokerReceiver(broker), 0.0
        broker.close()
        return
    conn = os.environ.get(topology.SERVICEBUS_CONNECTION_SETTING)
    if not conn:
        pytest.skip("set SERVICEBUS_CONNECTION to a namespace deployed from infra/ to run this")
    publisher = ServiceBusEventPublisher(connection_string=conn)
    yield publisher, AzureReceiver(conn), 5.0
    publisher.close()


def envelope(agent: str = "qa-agent", event_type: str = "AgentTaskScheduled") -> dict[str, Any]:
    return {"eventId": uuid.uuid4().hex, "eventType": event_type, "tenantId": "t-1",
            "projectId": f"p-{uuid.uuid4().hex[:6]}", "agentId": agent, "traceId": "tr-9",
            "payload": {"task": "run tests"}}


def mine(got: list[Got], env: dict[str, Any]) -> list[Got]:
    return [g for g in got if g.body.get("projectId") == env["projectId"]]


def send(pub: EventPublisher, dest: str, env: dict[str, Any], **kw: Any) -> None:
    pub.publish(dest, env, message_id=env["eventId"], correlation_id=env["traceId"],
                application_properties=event_properties(env, traceparent="00-" + "a" * 32
                                                        + "-" + "b" * 16 + "-01"), **kw)


def test_agent_task_reaches_only_its_agent_with_properties(backend) -> None:  # type: ignore[no-untyped-def]
    pub, rx, wait = backend
    env = envelope("qa-agent")
    send(pub, topology.AGENT_TASKS_TOPIC, env)
    qa = mine(rx.drain(f"{topology.AGENT_TASKS_TOPIC}/Subscriptions/qa-agent", wait), env)
    dev = mine(rx.drain(f"{topology.AGENT_TASKS_TOPIC}/Subscriptions/developer-agent", wait), env)
    assert dev == []
    assert len(qa) == 1
    got = qa[0]
    assert got.body == env
    assert got.message_id == env["eventId"] and got.correlation_id == "tr-9"
    assert got.subject == "AgentTaskScheduled" and got.content_type == "application/json"
    assert got.properties[topology.PROP_TENANT_ID] == "t-1"
    assert got.properties[topology.PROP_PROJECT_ID] == env["projectId"]
    assert got.properties[topology.PROP_AGENT_ID] == "qa-agent"
    assert got.properties[topology.PROP_EVENT_TYPE] == "AgentTaskScheduled"
    assert got.properties[topology.PROP_TRACEPARENT].startswith("00-")


def test_domain_event_reaches_router_and_results_queue_works(backend) -> None:  # type: ignore[no-untyped-def]
    pub, rx, wait = backend
    env = envelope(event_type="PhaseAdvanced")
    send(pub, topology.ORCHESTRATION_EVENTS_TOPIC, env)
    routed = mine(rx.drain(f"{topology.ORCHESTRATION_EVENTS_TOPIC}/Subscriptions/"
                           f"{topology.ROUTER_SUBSCRIPTION}", wait), env)
    assert [g.body["eventType"] for g in routed] == ["PhaseAdvanced"]
    result = envelope(event_type="AgentTaskCompleted")
    send(pub, topology.AGENT_RESULTS_QUEUE, result)
    assert len(mine(rx.drain(topology.AGENT_RESULTS_QUEUE, wait), result)) == 1


def test_republish_with_same_event_id_is_delivered_once(backend) -> None:  # type: ignore[no-untyped-def]
    pub, rx, wait = backend
    env = envelope("developer-agent")
    send(pub, topology.AGENT_TASKS_TOPIC, env)
    send(pub, topology.AGENT_TASKS_TOPIC, env)  # a retried activity publishes again
    got = mine(rx.drain(f"{topology.AGENT_TASKS_TOPIC}/Subscriptions/developer-agent", wait), env)
    assert len(got) == 1


def test_scheduled_message_is_invisible_until_its_time(backend) -> None:  # type: ignore[no-untyped-def]
    pub, rx, wait = backend
    env = envelope("security-agent")
    send(pub, topology.AGENT_TASKS_TOPIC, env,
         scheduled_enqueue_time=datetime.now(UTC) + timedelta(seconds=1.5))
    path = f"{topology.AGENT_TASKS_TOPIC}/Subscriptions/security-agent"
    assert mine(rx.drain(path, min(wait, 1.0)), env) == []
    time.sleep(1.7)
    assert len(mine(rx.drain(path, wait), env)) == 1


def test_bad_property_and_unknown_destination_raise(backend) -> None:  # type: ignore[no-untyped-def]
    pub, _, _ = backend
    env = envelope()
    with pytest.raises(PublishError, match="nested"):
        pub.publish(topology.AGENT_TASKS_TOPIC, env, message_id="m", correlation_id="c",
                    application_properties={"nested": {"a": 1}})  # type: ignore[dict-item]
    with pytest.raises(PublishError):
        pub.publish("no-such-topic", env, message_id="m2", correlation_id="c",
                    application_properties={})
