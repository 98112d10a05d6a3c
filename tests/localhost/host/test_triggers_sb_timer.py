"""Service Bus triggers (queue, topic/subscription, poison -> dead-letter) and timer triggers,
in-process on a virtual clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from podium.localhost.api import InstanceQuery
from podium.localhost.broker import MAX_DELIVERY_REASON, registry
from tests.localhost.host.conftest import BASIC_APP


@pytest.fixture
def host(podium_host):
    return podium_host(BASIC_APP)


def test_queue_message_starts_orchestration_with_client_binding(host) -> None:
    host.send_message(
        "tasks", json.dumps({"names": ["q"]}), message_id="m1", application_properties={"weight": 5}
    )
    assert host.wait_for_idle()
    assert host.status("m1").output == ["hello q"]
    assert host.engine.read_entity_state("counter", "tasks").state == 5
    assert host.broker.counts("tasks") == {
        "active": 0,
        "scheduled": 0,
        "locked": 0,
        "dead_letter": 0,
    }


def test_service_bus_output_binding_feeds_the_queue_trigger(host) -> None:
    r = host.request("POST", "/api/enqueue", content=json.dumps({"names": ["out"]}).encode())
    assert r.status_code == 202
    assert host.wait_for_idle()
    assert host.engine.read_entity_state("counter", "tasks").state == 1
    states, _ = host.engine.list_instances(InstanceQuery())
    assert [s.output for s in states] == [["hello out"]]


def test_duplicate_message_id_is_processed_once(host) -> None:
    for _ in range(3):
        host.send_message("tasks", json.dumps({"names": ["d"]}), message_id="dup")
    assert host.wait_for_idle()
    assert host.engine.read_entity_state("counter", "tasks").state == 1


def test_poison_message_is_dead_lettered_and_host_keeps_serving(host) -> None:
    host.send_message("poison", "poison", message_id="bad")
    assert host.wait_for_idle()
    [dead] = host.broker.peek("poison/$DeadLetterQueue")
    assert dead.message_id == "bad" and dead.delivery_count == 2
    assert dead.dead_letter_reason == MAX_DELIVERY_REASON
    assert "ValueError: cannot handle message bad" in dead.dead_letter_error_description
    host.send_message("poison", "fine", message_id="good")
    host.send_message("tasks", json.dumps({"names": ["after"]}), message_id="after")
    assert host.wait_for_idle()
    assert host.broker.counts("poison")["active"] == 0
    assert host.status("after").output == ["hello after"]
    assert host.request("GET", "/api/hello").status_code == 200


def test_malformed_message_for_a_client_function_is_dead_lettered(host) -> None:
    host.send_message("tasks", "not json", message_id="junk")
    assert host.wait_for_idle()
    [dead] = host.broker.peek("tasks/$DeadLetterQueue")
    assert dead.message_id == "junk" and "JSONDecodeError" in dead.dead_letter_error_description


def test_topic_subscription_filter_and_str_binding(host) -> None:
    host.send_message("agent-tasks", "t1", application_properties={"agentId": "qa-agent"})
    host.send_message("agent-tasks", "t2", application_properties={"agentId": "dev-agent"})
    host.send_message("agent-tasks", "t3", application_properties={"agentId": "qa-agent"})
    assert host.wait_for_idle()
    assert host.engine.read_entity_state("counter", "qa").state == 2


def test_scheduled_message_waits_for_the_virtual_clock(host) -> None:
    host.send_message(
        "tasks",
        json.dumps({"names": ["later"]}),
        message_id="later",
        scheduled_enqueue_time=host.clock.now() + timedelta(hours=2),
    )
    assert host.wait_for_idle()
    assert host.status("later") is None
    host.advance(timedelta(hours=2))
    assert host.wait_for_idle()
    assert host.status("later").output == ["hello later"]


def test_batch_trigger_gets_every_visible_message_in_one_call(host) -> None:
    # "batch" is not in the app's topology: the host creates the queue for the trigger
    when = host.clock.now() + timedelta(minutes=1)
    for i in range(5):
        host.send_message("batch", f"b{i}", scheduled_enqueue_time=when)
    host.advance(timedelta(minutes=1))
    assert host.wait_for_idle()
    state = host.engine.read_entity_state
    assert (state("counter", "batches").state, state("counter", "batched").state) == (1, 5)
    assert host.broker.counts("batch")["active"] == 0


def test_registry_exposes_the_running_broker(host) -> None:
    assert registry.current() is host.broker


def test_timer_fires_on_schedule_and_past_due_after_a_jump(host) -> None:
    # the fixture's clock starts at 2030-01-01T00:00:00Z; the schedule is hourly at :00:00
    host.advance(timedelta(minutes=30))
    assert host.wait_for_idle()
    assert not host.engine.read_entity_state("counter", "ticks").exists
    host.advance(timedelta(minutes=30))
    assert host.wait_for_idle()
    assert host.engine.read_entity_state("counter", "ticks").state == 1  # on time
    host.advance(timedelta(days=3))
    assert host.wait_for_idle()
    # 72 missed occurrences run once, flagged past due (the function adds 100 then)
    assert host.engine.read_entity_state("counter", "ticks").state == 101
    [timer] = host.timers
    assert timer.runs == 2 and timer.next_due > host.clock.now()


def test_two_hour_approval_timeout_with_virtual_clock(host) -> None:
    iid = host.start_orchestration("approval", None, "ap1")
    assert host.wait_for_idle()
    assert host.status(iid).runtime_status.value == "Running"
    host.advance(timedelta(hours=2))
    assert host.wait_for_idle()
    assert host.status(iid).output == {"approved": False, "reason": "timeout"}


def test_occurrence_missed_while_the_host_was_down_runs_at_start(podium_host, tmp_path) -> None:
    from podium.localhost.clock import VirtualClock

    clock = VirtualClock(datetime(2030, 1, 1, tzinfo=UTC))
    data = tmp_path / "restart"
    first = podium_host(BASIC_APP, clock=clock, data_dir=data)
    clock.advance(timedelta(hours=1))
    assert first.wait_for_idle()
    assert first.engine.read_entity_state("counter", "ticks").state == 1
    first.stop()
    clock.advance(timedelta(hours=5))  # down over five occurrences
    second = podium_host(BASIC_APP, clock=clock, data_dir=data)
    assert second.wait_for_idle()
    assert second.engine.read_entity_state("counter", "ticks").state == 101  # once, past due
    assert second.timers[0].next_due == datetime(2030, 1, 1, 7, tzinfo=UTC)
