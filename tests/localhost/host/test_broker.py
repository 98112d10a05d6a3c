"""The embedded Service Bus broker: each Service Bus behaviour the app relies on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from podium.localhost.broker import (
    MAX_DELIVERY_REASON,
    Broker,
    EntityNotFound,
    FilterError,
    MessageLockLost,
    QueueSpec,
    SubscriptionSpec,
    TopicSpec,
    Topology,
    TopologyError,
    compile_sql_filter,
    podium_topology,
    subscription_path,
)


@pytest.fixture
def broker(tmp_path: Path, clock) -> Broker:
    b = Broker(tmp_path / "sb.sqlite", clock=clock)
    b.apply_topology(
        Topology(
            queues=(
                QueueSpec("q", max_delivery_count=3, lock_duration=timedelta(seconds=30)),
                QueueSpec("nodup", duplicate_detection_window=None),
            ),
            topics=(
                TopicSpec(
                    "events",
                    subscriptions=(
                        SubscriptionSpec("all"),
                        SubscriptionSpec("qa", sql_filter="agentId = 'qa-agent'"),
                        SubscriptionSpec(
                            "lifecycle",
                            sql_filter="eventType IN ('PhaseAdvanced', 'Delivered') AND n >= 2",
                        ),
                        SubscriptionSpec(
                            "corr", correlation_filter={"properties": {"agentId": "dev"}}
                        ),
                    ),
                ),
            ),
        )
    )
    yield b
    b.close()


def test_queue_peek_lock_complete(broker: Broker) -> None:
    seq = broker.send(
        "q", "hello", message_id="m1", correlation_id="c1", application_properties={"a": 1}
    )
    assert seq == 1
    [msg] = broker.receive("q")
    assert (msg.text, msg.message_id, msg.correlation_id) == ("hello", "m1", "c1")
    assert msg.application_properties == {"a": 1}
    assert msg.delivery_count == 1 and msg.lock_token
    assert broker.receive("q") == []  # locked: invisible to others
    broker.complete("q", msg.lock_token)
    assert broker.peek("q") == []
    with pytest.raises(MessageLockLost):
        broker.complete("q", msg.lock_token)


def test_abandon_redelivers_then_dead_letters_with_reason(broker: Broker) -> None:
    broker.send("q", b"poison", message_id="p")
    for attempt in (1, 2):
        [msg] = broker.receive("q")
        assert msg.delivery_count == attempt
        assert broker.abandon("q", msg.lock_token, "ValueError: bad") is False
    [msg] = broker.receive("q")
    assert msg.delivery_count == 3
    assert broker.abandon("q", msg.lock_token, "ValueError: bad") is True
    assert broker.receive("q") == []
    [dead] = broker.peek("q/$DeadLetterQueue")
    assert dead.dead_letter_reason == MAX_DELIVERY_REASON
    assert "ValueError: bad" in dead.dead_letter_error_description
    assert dead.body == b"poison"
    assert broker.counts("q")["dead_letter"] == 1


def test_lock_expiry_redelivers_and_counts_deliveries(broker: Broker, clock) -> None:
    broker.send("q", "x")
    [first] = broker.receive("q")
    clock.advance(timedelta(seconds=31))
    [again] = broker.receive("q")
    assert again.message_id == first.message_id and again.delivery_count == 2
    with pytest.raises(MessageLockLost):
        broker.complete("q", first.lock_token)  # the old lock is gone
    clock.advance(timedelta(seconds=31))
    [third] = broker.receive("q")
    assert third.delivery_count == 3
    clock.advance(timedelta(seconds=31))
    assert broker.receive("q") == []  # 3 deliveries used up: dead-lettered, not delivered
    [dead] = broker.peek("q/$DeadLetterQueue")
    assert dead.dead_letter_reason == MAX_DELIVERY_REASON


def test_release_does_not_count_a_delivery(broker: Broker) -> None:
    broker.send("q", "x")
    [msg] = broker.receive("q")
    broker.release("q", msg.lock_token)
    [again] = broker.receive("q")
    assert again.delivery_count == 1


def test_explicit_dead_letter_and_receive_from_dlq(broker: Broker) -> None:
    broker.send("q", "{}", message_id="bad")
    [msg] = broker.receive("q")
    broker.dead_letter("q", msg.lock_token, "SchemaInvalid", "missing field projectId")
    [dead] = broker.receive("q/$DeadLetterQueue")
    assert (dead.dead_letter_reason, dead.dead_letter_error_description) == (
        "SchemaInvalid",
        "missing field projectId",
    )
    broker.complete("q/$DeadLetterQueue", dead.lock_token)
    assert broker.peek("q/$DeadLetterQueue") == []


def test_duplicate_detection_by_message_id_within_window(broker: Broker, clock) -> None:
    assert broker.send("q", "a", message_id="same") is not None
    assert broker.send("q", "b", message_id="same") is None
    assert [m.text for m in broker.peek("q")] == ["a"]
    clock.advance(timedelta(minutes=11))
    assert broker.send("q", "c", message_id="same") is not None
    assert broker.send("nodup", "a", message_id="same") is not None
    assert broker.send("nodup", "b", message_id="same") is not None
    assert len(broker.peek("nodup")) == 2


def test_scheduled_messages_wait_for_enqueue_time(broker: Broker, clock) -> None:
    broker.send("q", "later", scheduled_enqueue_time=clock.now() + timedelta(hours=2))
    broker.send("q", "cancelled", scheduled_enqueue_time=clock.now() + timedelta(hours=2))
    assert broker.receive("q") == []
    assert broker.counts("q")["scheduled"] == 2
    assert broker.cancel_scheduled("q", 2) is True
    assert broker.next_visible_time() == clock.now() + timedelta(hours=2)
    clock.advance(timedelta(hours=2))
    [msg] = broker.receive("q")
    assert msg.text == "later" and msg.scheduled_enqueue_time is not None


def test_topic_filters_route_copies_to_matching_subscriptions(broker: Broker) -> None:
    broker.send("events", "1", application_properties={"agentId": "qa-agent"})
    broker.send("events", "2", application_properties={"eventType": "Delivered", "n": 2})
    broker.send("events", "3", application_properties={"eventType": "Delivered", "n": 1})
    broker.send("events", "4", application_properties={"eventType": "Other", "n": 5})
    broker.send("events", "5", application_properties={"agentId": "dev"})

    def texts(sub: str) -> list[str]:
        return [m.text for m in broker.peek(subscription_path("events", sub))]

    assert texts("all") == ["1", "2", "3", "4", "5"]
    assert texts("qa") == ["1"]
    assert texts("lifecycle") == ["2"]
    assert texts("corr") == ["5"]
    # each subscription settles its own copy
    [qa] = broker.receive(subscription_path("events", "qa"))
    broker.complete(subscription_path("events", "qa"), qa.lock_token)
    assert texts("all")[0] == "1"


def test_state_survives_reopen(tmp_path: Path, clock) -> None:
    b = Broker(tmp_path / "sb.sqlite", clock=clock)
    b.apply_topology(podium_topology())
    b.send("agent-tasks", "task", application_properties={"agentId": "qa-agent"})
    b.close()
    again = Broker(tmp_path / "sb.sqlite", clock=clock)
    [msg] = again.receive(subscription_path("agent-tasks", "qa-agent"))
    assert msg.text == "task"
    assert again.peek(subscription_path("agent-tasks", "developer-agent")) == []
    again.close()


def test_bad_names_and_filters_are_clear_errors(broker: Broker) -> None:
    with pytest.raises(EntityNotFound, match="nope"):
        broker.send("nope", "x")
    with pytest.raises(TypeError, match="'when'"):
        broker.send("q", "x", application_properties={"when": object()})
    with pytest.raises(FilterError):
        compile_sql_filter("agentId = ")
    with pytest.raises(TopologyError, match="events/bad"):
        broker.create_subscription("events", SubscriptionSpec("bad", sql_filter="a IN ("))


@pytest.mark.parametrize(
    ("expr", "props", "expected"),
    [
        ("a = 'x' OR b > 3", {"b": 4}, True),
        ("NOT (a = 'x')", {"a": "x"}, False),
        ("a <> 'x'", {}, False),  # missing property: unknown -> false
        ("a IS NULL", {}, True),
        ("EXISTS(a) AND a NOT IN ('p', 'q')", {"a": "r"}, True),
        ("name LIKE 'qa-%'", {"name": "qa-agent"}, True),
        ("[agent-id] = 'x'", {"agent-id": "x"}, True),
        ("sys.MessageId = 'm'", {}, False),
        ("1=1", {}, True),
        ("flag = TRUE", {"flag": True}, True),
    ],
)
def test_sql_filter_grammar(expr: str, props: dict, expected: bool) -> None:
    assert compile_sql_filter(expr)(props, {"messageid": "n"}) is expected


def test_competing_receivers_get_each_message_once(tmp_path: Path) -> None:
    import threading

    b = Broker(tmp_path / "sb.sqlite")
    b.apply_topology(Topology(queues=(QueueSpec("work"),)))
    for i in range(200):
        b.send("work", str(i), message_id=f"m{i}")
    got: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            batch = b.receive("work", 5)
            if not batch:
                return
            for msg in batch:
                b.complete("work", msg.lock_token)
                with lock:
                    got.append(msg.message_id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(f"m{i}" for i in range(200))
    b.close()


def test_podium_topology_routes_agent_tasks_by_agent_id(tmp_path: Path) -> None:
    from podium import topology as names

    b = Broker(tmp_path / "sb.sqlite")
    b.apply_topology(podium_topology())
    paths = {p for p, _ in b.entities()}
    assert {subscription_path(names.AGENT_TASKS_TOPIC, a) for a in names.AGENT_IDS} <= paths
    assert names.AGENT_RESULTS_QUEUE in paths
    b.send(names.AGENT_TASKS_TOPIC, "t", application_properties={names.PROP_AGENT_ID: "qa-agent"})
    b.send(names.ORCHESTRATION_EVENTS_TOPIC, "e", application_properties={"eventType": "X"})
    for agent in names.AGENT_IDS:
        expected = 1 if agent == "qa-agent" else 0
        assert len(b.peek(subscription_path(names.AGENT_TASKS_TOPIC, agent))) == expected
    router = subscription_path(names.ORCHESTRATION_EVENTS_TOPIC, names.ROUTER_SUBSCRIPTION)
    assert [m.text for m in b.peek(router)] == ["e"]
    b.close()
