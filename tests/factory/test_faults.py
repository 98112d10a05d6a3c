"""Fault tests of the factory (issue 4), agent side: the real app under the local host on a
virtual clock, the built-in agents on the host's broker, faults injected through the project
request's ``_fault`` block (docs/agents.md). Each test shows the documented outcome."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from podium import topology
from tests.factory.conftest import ended, failed_nodes, small_request


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _scheduled(factory, pid: str, task_id: str) -> list[dict]:
    rows = factory.audit(pid, "AgentTaskScheduled", taskId=task_id)
    return sorted(rows, key=lambda r: r["details"]["attempt"])


def test_transient_failure_is_retried_with_growing_delays(factory):
    """GenerateVisionPlan fails twice (transient), then succeeds: the retries wait on durable
    timers of 30 s then 60 s (the flow's exponential policy), visible in the audit trail."""
    task = "GenerateVisionPlan"
    pid = factory.create(
        small_request("retry-1", _fault={"taskTypes": [task], "failAttempts": 2})
    )
    failed = factory.wait_audit(pid, "AgentTaskFailed", taskId=task)
    first = failed[0]["details"]["decision"]
    assert first["action"] == "Retry" and first["delaySec"] == 30, first
    factory.quiet(pid, {task})

    factory.host.advance(timedelta(seconds=29))
    factory.quiet(pid, {task})
    assert len(_scheduled(factory, pid, task)) == 1, "retried before its 30 s backoff"
    factory.host.advance(timedelta(seconds=2))
    factory.wait_audit(pid, "AgentTaskFailed", count=2, taskId=task)
    factory.quiet(pid, {task})

    failures = sorted(factory.audit(pid, "AgentTaskFailed", taskId=task),
                      key=lambda r: r["details"]["attempt"])
    second = failures[1]["details"]["decision"]
    assert second["action"] == "Retry" and second["delaySec"] > first["delaySec"], second

    factory.host.advance(timedelta(seconds=31))
    factory.quiet(pid, {task})
    assert len(_scheduled(factory, pid, task)) == 2, "retried before its 60 s backoff"
    factory.host.advance(timedelta(seconds=30))
    factory.wait(lambda: factory.status_of(pid, "project-bootstrap", task) == "Completed")

    scheduled = _scheduled(factory, pid, task)
    assert [r["details"]["attempt"] for r in scheduled] == [1, 2, 3]
    gaps = [
        (_ts(scheduled[i + 1]["timestamp"]) - _ts(failures[i]["timestamp"])).total_seconds()
        for i in range(2)
    ]
    assert gaps[0] >= 30 and gaps[1] >= 60 and gaps[1] > gaps[0], gaps
    node = factory.node(pid, "project-bootstrap", task)
    assert node["outputs"]  # attempt 3 did the real work
    state = factory.approve_all(pid, ended)
    assert state["status"] == "Completed", failed_nodes(state)
    summary = state["delivery"]["summary"]
    assert summary["retries"] == 2, summary["retries"]
    bootstrap = next(f for f in summary["flows"] if f["flow"] == "project-bootstrap")
    assert bootstrap["retries"] == 2, bootstrap


def test_silent_agent_falls_back_to_its_fallback_agent(factory):
    """planner-agent never acknowledges: each attempt ends in AgentNotAcknowledged after the
    30 s acknowledgement timeout; when retries are exhausted PlanMicroservices goes to its
    fallbackAgent basic-planner-agent, which plans, and the flow goes on to its checkpoint."""
    task = "PlanMicroservices"
    pid = factory.create(
        small_request("silent-1", _fault={"agents": ["planner-agent"], "silent": True})
    )
    factory.wait_audit(pid, "AgentTaskScheduled", taskId=task)
    factory.drive(
        pid,
        lambda: factory.status_of(pid, "project-bootstrap", task) == "Completed",
        expected={task},
    )
    scheduled = _scheduled(factory, pid, task)
    assert [r["agentId"] for r in scheduled] == ["planner-agent"] * 3 + ["basic-planner-agent"]
    nacks = sorted(factory.audit(pid, "AgentNotAcknowledged", taskId=task),
                   key=lambda r: r["details"]["attempt"])
    assert [r["agentId"] for r in nacks] == ["planner-agent"] * 3
    assert [r["details"]["decision"]["action"] for r in nacks] == [
        "Retry", "Retry", "FallbackAgent"
    ]
    assert nacks[-1]["details"]["decision"]["agentId"] == "basic-planner-agent"
    # the ack timeout is 30 s: each NotAcknowledged is >= 30 s after its dispatch
    for nack, sched in zip(nacks, scheduled, strict=False):
        assert (_ts(nack["timestamp"]) - _ts(sched["timestamp"])).total_seconds() >= 30
    events = factory.events(pid, "AgentNotAcknowledged")
    assert len(events) == 3 and {e["payload"]["agentId"] for e in events} == {"planner-agent"}
    assert factory.node(pid, "project-bootstrap", task)["outputs"]["services"]
    # the flow continues: the architect's checkpoint is requested, then the project delivers
    state = factory.approve_all(pid, ended)
    assert state["status"] == "Completed", failed_nodes(state)


def test_optional_task_failure_is_skipped_and_the_flow_continues(factory):
    """SetupServiceBusEvents (optional) fails on every attempt: after the retries it is
    Skipped, the assembly flow ends PartiallyCompleted (PartialOrchestrationCompleted), the
    dependent validation runs, and the project is delivered."""
    task = "SetupServiceBusEvents"
    pid = factory.create(
        small_request("optional-1", _fault={"taskTypes": [task], "failAttempts": 99})
    )
    factory.approve_all(pid, lambda s: factory.audit(pid, "AgentTaskFailed", taskId=task))
    factory.drive(
        pid,
        lambda: factory.status_of(pid, "microservice-assembly", task) == "Skipped",
        expected={task},
    )
    failures = factory.audit(pid, "AgentTaskFailed", taskId=task)
    assert len(failures) == 3, [r["action"] for r in failures]
    actions = sorted((r["details"]["attempt"], r["details"]["decision"]["action"])
                     for r in failures)
    assert actions == [(1, "Retry"), (2, "Retry"), (3, "SkipAndContinue")]
    assert factory.audit(pid, "TaskSkipped", taskId=task)
    state = factory.approve_all(pid, ended)
    assert state["status"] == "Completed", failed_nodes(state)
    partial = factory.events(pid, "PartialOrchestrationCompleted")
    assert [e["payload"]["flow"] for e in partial] == ["microservice-assembly"]
    assert partial[0]["payload"]["skippedTasks"] == [task]
    assembly = next(g for g in state["graphs"] if g["name"] == "microservice-assembly")
    nodes = {n["taskId"]: n["status"] for n in assembly["nodes"]}
    assert nodes[task] == "Skipped" and nodes["RunMicroserviceValidation"] == "Completed", nodes
    completed = factory.events(pid, "OrchestrationCompleted")
    outcome = {e["payload"]["flow"]: e["payload"]["outcome"] for e in completed}
    assert outcome["microservice-assembly"] == "PartiallyCompleted", outcome


def test_agent_answering_twice_counts_once(factory, caplog):
    """The vision agent sends Acknowledged and Completed twice (``duplicate`` fault: same
    eventIds, dropped by the broker's duplicate detection), and every Completed is also
    redelivered under a new MessageId (as after the detection window), so the results trigger
    sees it twice: the task completes once, and the flow dispatches its successor once."""
    task = "GenerateVisionPlan"
    transport = factory.agents.transport
    original, sent = transport.send, []

    def send_twice(envelope):
        original(envelope)
        if envelope.get("eventType") == "AgentTaskCompleted":
            sent.append(envelope)
            factory.host.send_message(
                topology.AGENT_RESULTS_QUEUE, json.dumps(envelope),
                message_id=f"redelivered-{envelope['eventId']}",
                application_properties={topology.PROP_EVENT_TYPE: "AgentTaskCompleted"},
            )

    transport.send = send_twice
    caplog.set_level(logging.INFO, logger="podium.agent_results")
    pid = factory.create(
        small_request("twice-1", _fault={"taskTypes": [task], "duplicate": True})
    )
    factory.wait(
        lambda: factory.status_of(pid, "project-bootstrap", "PlanMicroservices") == "Completed"
    )
    assert factory.host.wait_for_idle(30)
    vision = [e for e in sent if e["payload"].get("taskType", task) == task
              and e["source"] == "vision-architect-agent"]
    assert len(vision) == 2, "the duplicate fault should answer twice"
    assert len({e["eventId"] for e in vision}) == 1
    node = factory.node(pid, "project-bootstrap", task)
    assert node["status"] == "Completed" and node["attempts"] == 1, node
    assert len(factory.audit(pid, "TaskCompleted", taskId=task)) == 1
    assert len(factory.audit(pid, "AgentTaskScheduled", taskId=task)) == 1
    assert len(factory.audit(pid, "AgentTaskScheduled", taskId="PlanMicroservices")) == 1
    # the redelivered answer did reach the results trigger, which ignored it
    dispatch = vision[0]["payload"]["taskId"]
    ignored = [r.getMessage() for r in caplog.records if dispatch in r.getMessage()]
    assert ignored and all("duplicate" in m or "after the task ended" in m for m in ignored), (
        ignored
    )
    # no answer was lost or dead-lettered because of the duplicates
    dlq = factory.host.broker.peek(f"{topology.AGENT_RESULTS_QUEUE}/$DeadLetterQueue", 100)
    assert dlq == [], [m.dead_letter_error_description for m in dlq]


def test_agent_that_never_finishes_is_stalled_then_replaced_by_its_fallback(factory):
    """planner-agent acknowledges but never answers (``noResult``): each attempt is marked
    TaskStalled at the 15-minute task timeout; after the retries PlanMicroservices falls back
    to basic-planner-agent and the flow continues."""
    task = "PlanMicroservices"
    pid = factory.create(
        small_request("stall-1", _fault={"agents": ["planner-agent"], "noResult": True})
    )
    factory.wait_audit(pid, "AgentTaskScheduled", taskId=task)
    factory.drive(
        pid,
        lambda: factory.status_of(pid, "project-bootstrap", task) == "Completed",
        expected={task},
        step_sec=301,
    )
    stalls = sorted(factory.audit(pid, "TaskStalled", taskId=task),
                    key=lambda r: r["details"]["attempt"])
    assert [r["details"]["decision"]["action"] for r in stalls] == [
        "Retry", "Retry", "FallbackAgent"
    ]
    assert not factory.audit(pid, "AgentNotAcknowledged", taskId=task), "acks were sent"
    scheduled = _scheduled(factory, pid, task)
    assert [r["agentId"] for r in scheduled] == ["planner-agent"] * 3 + ["basic-planner-agent"]
    for stall, sched in zip(stalls, scheduled, strict=False):
        assert (_ts(stall["timestamp"]) - _ts(sched["timestamp"])).total_seconds() >= 900
    assert len(factory.events(pid, "TaskStalled")) == 3
    factory.wait(lambda: factory.project(pid)["humanTasks"])  # the flow went on


def test_fatal_failure_goes_to_the_fallback_agent_at_once(factory):
    """planner-agent fails permanently (Fatal): no retry, no backoff timer; PlanMicroservices
    goes straight to basic-planner-agent and the flow continues."""
    task = "PlanMicroservices"
    pid = factory.create(small_request(
        "fatal-1", _fault={"agents": ["planner-agent"], "failAttempts": 9, "permanent": True}
    ))
    factory.wait(lambda: factory.status_of(pid, "project-bootstrap", task) == "Completed")
    failed = factory.audit(pid, "AgentTaskFailed", taskId=task)
    assert [r["details"]["decision"]["action"] for r in failed] == ["FallbackAgent"], failed
    scheduled = _scheduled(factory, pid, task)
    assert [(r["agentId"], r["details"]["attempt"]) for r in scheduled] == [
        ("planner-agent", 1), ("basic-planner-agent", 2)
    ]
    assert scheduled[1]["timestamp"] == failed[0]["timestamp"]  # no backoff: the same instant
    factory.wait(_pending_domain_model(factory, pid))


def _pending_domain_model(factory, pid):
    return lambda: [t for t in factory.project(pid)["humanTasks"]
                    if t.get("graphTaskId") == "ApproveDomainModel"]
