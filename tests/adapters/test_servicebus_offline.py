"""The Azure publisher without a namespace: the exact message it builds, and how it fails.

The message is the SDK's own ``ServiceBusMessage`` (what goes on the wire); the failure test
points a real ``ServiceBusClient`` at a closed loopback port (AMQP, emulator-style connection
string) and checks the error is a ``PublishError`` that does not leak the key.
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from podium import topology
from podium.adapters.servicebus import (
    PublishError,
    ServiceBusEventPublisher,
    build_message,
    event_properties,
)


def test_message_fields() -> None:
    env = {"eventId": "e-1", "eventType": "AgentTaskScheduled", "tenantId": "t1",
           "projectId": "p1", "agentId": "qa-agent", "traceId": "tr-1"}
    when = datetime.now(UTC) + timedelta(minutes=5)
    msg = build_message(env, message_id="e-1", correlation_id="tr-1",
                        application_properties=event_properties(env, traceparent="00-ab-cd-01"),
                        scheduled_enqueue_time=when)
    assert msg.message_id == "e-1" and msg.correlation_id == "tr-1"
    assert msg.subject == "AgentTaskScheduled" and msg.content_type == "application/json"
    assert msg.session_id is None
    assert msg.scheduled_enqueue_time_utc == when
    assert msg.application_properties == {
        topology.PROP_TENANT_ID: "t1", topology.PROP_PROJECT_ID: "p1",
        topology.PROP_AGENT_ID: "qa-agent", topology.PROP_EVENT_TYPE: "AgentTaskScheduled",
        topology.PROP_TRACEPARENT: "00-ab-cd-01"}
    assert b"".join(msg.body) == (b'{"eventId":"e-1","eventType":"AgentTaskScheduled",'
                                  b'"tenantId":"t1","projectId":"p1","agentId":"qa-agent",'
                                  b'"traceId":"tr-1"}')


def test_unreachable_namespace_raises_publish_error_without_the_key() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    conn = (f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=VERYSECRETKEY123=;UseDevelopmentEmulator=true")
    pub = ServiceBusEventPublisher(connection_string=conn, retry_total=0)
    start = time.monotonic()
    try:
        with pytest.raises(PublishError) as err:
            pub.publish(topology.AGENT_TASKS_TOPIC, {"a": 1}, message_id="m",
                        correlation_id="c", application_properties={})
    finally:
        pub.close()
    assert "VERYSECRETKEY123" not in str(err.value)
    assert topology.AGENT_TASKS_TOPIC in str(err.value)
    assert time.monotonic() - start < 60
