"""Fault tests of the factory (issue 4), event side: duplicate, cross-tenant and invalid events
sent to the orchestration-events topic through the host's broker, as the router receives them
on Azure."""

from __future__ import annotations

import json
import logging
import uuid

from podium import topology
from podium.localhost.broker import subscription_path
from podium.observability import get_metrics
from tests.factory.conftest import small_request

TOPIC = topology.ORCHESTRATION_EVENTS_TOPIC
ROUTER_DLQ = subscription_path(TOPIC, topology.ROUTER_SUBSCRIPTION) + "/$DeadLetterQueue"


def _send(factory, event: dict, message_id: str | None = None):
    return factory.host.send_message(
        TOPIC,
        json.dumps(event),
        message_id=message_id or event.get("eventId"),
        application_properties={
            topology.PROP_TENANT_ID: str(event.get("tenantId", "")),
            topology.PROP_PROJECT_ID: str(event.get("projectId", "")),
            topology.PROP_EVENT_TYPE: str(event.get("eventType", "")),
        },
    )


def _bootstrap_instances(factory, pid: str) -> list[str]:
    client = factory.host.durable_client()
    states = factory.host.run(client.get_status_all())
    return sorted(
        s.instance_id for s in states
        if s.instance_id.startswith(f"{pid}:project-bootstrap") and ":task:" not in s.instance_id
    )


def _duplicates(caplog, event_id: str) -> int:
    """How many copies of the event the router dropped as duplicates (from its log)."""
    return sum(
        1 for r in caplog.records
        if r.name == "podium.router" and event_id in r.getMessage()
        and "duplicate=True" in r.getMessage()
    )


def _rejected(event_type: str, reason: str) -> float:
    return get_metrics().value("event_rejected_total", event_type=event_type, reason=reason) or 0


def test_duplicate_project_created_starts_one_orchestration(factory, caplog):
    """The same ProjectCreated envelope published again (same MessageId: dropped by the
    broker's duplicate detection; new MessageId, as a second publisher or a redelivery after
    the detection window would send it: dropped by the router) → one orchestration, one run of
    each task."""
    caplog.set_level(logging.INFO, logger="podium.router")
    pid = factory.create(small_request("dup-1"))
    factory.wait_audit(pid, "OrchestrationTriggered")
    created = factory.events(pid, "ProjectCreated")
    assert len(created) == 1
    event = created[0]
    assert _send(factory, event) is None, "the broker should drop a duplicate MessageId"
    for _ in range(2):
        assert _send(factory, event, message_id=uuid.uuid4().hex) is not None
    factory.wait(lambda: factory.status_of(pid, "project-bootstrap", "ApproveDomainModel")
                 == "InProgress")
    assert factory.host.wait_for_idle(30)
    assert _bootstrap_instances(factory, pid) == [f"{pid}:project-bootstrap"]
    assert len(factory.audit(pid, "OrchestrationTriggered")) == 1
    assert len(factory.audit(pid, "ExecutionGraphBuilt")) == 1
    for task in ("GenerateVisionPlan", "GenerateDomainModel", "PlanMicroservices"):
        assert len(factory.audit(pid, "AgentTaskScheduled", taskId=task)) == 1, task
    assert len(factory.project(pid)["humanTasks"]) == 1
    assert factory.host.broker.peek(ROUTER_DLQ, 10) == []
    assert _duplicates(caplog, event["eventId"]) == 2


def test_duplicate_project_created_delivered_concurrently_starts_one_orchestration(
    factory, caplog
):
    """Two copies of a ProjectCreated (different MessageIds) routed at the same time: the
    deterministic instance id lets only one orchestration start."""
    request = small_request("dup-race")
    event = {
        "eventType": "ProjectCreated",
        "eventId": str(uuid.uuid4()),
        "traceId": uuid.uuid4().hex,
        "tenantId": request["tenantId"],
        "projectId": request["projectId"],
        "source": "studio",
        "timestamp": "2030-01-01T00:00:00Z",
        "payload": {"projectName": request["name"], "request": request},
    }
    caplog.set_level(logging.INFO, logger="podium.router")
    for _ in range(3):
        _send(factory, event, message_id=uuid.uuid4().hex)
    pid = request["projectId"]
    # (no project record nor workspace: the planning agents may fail; only routing matters)
    factory.wait_audit(pid, "AgentTaskScheduled", count=2)
    assert factory.host.wait_for_idle(30)
    assert _bootstrap_instances(factory, pid) == [f"{pid}:project-bootstrap"]
    assert len(factory.audit(pid, "OrchestrationTriggered")) == 1
    for task in ("GenerateVisionPlan", "GenerateDomainModel"):
        assert len(factory.audit(pid, "AgentTaskScheduled", taskId=task)) == 1, task
    assert factory.host.broker.peek(ROUTER_DLQ, 10) == []
    assert _duplicates(caplog, event["eventId"]) == 2


def test_cross_tenant_event_is_rejected_audited_and_counted(factory):
    """An event for an existing project of tenant contoso that claims tenant fabrikam is
    rejected: nothing is started or raised, an EventRejected row lands in the owner's audit
    trail, and event_rejected_total{reason=tenant} grows."""
    pid = factory.create(small_request("xt-1"))
    factory.wait(lambda: factory.status_of(pid, "project-bootstrap", "ApproveDomainModel")
                 == "InProgress")
    assert factory.host.wait_for_idle(30)
    before = _rejected("MicroservicePlanned", "tenant")
    intruder = {
        "eventType": "MicroservicePlanned",
        "eventId": str(uuid.uuid4()),
        "traceId": uuid.uuid4().hex,
        "tenantId": "fabrikam",
        "projectId": pid,
        "source": "planner-agent",
        "timestamp": "2030-01-01T00:00:00Z",
        "payload": {"microserviceId": "svc-evil", "name": "evil"},
    }
    assert _send(factory, intruder) is not None
    row = factory.wait_audit(pid, "EventRejected")[0]
    assert row["tenantId"] == "contoso"
    assert row["details"]["rejectedTenant"] == "fabrikam"
    assert row["details"]["eventId"] == intruder["eventId"]
    assert "another tenant" in row["action"]
    assert factory.host.wait_for_idle(30)
    assert _rejected("MicroservicePlanned", "tenant") == before + 1
    state = factory.project(pid)
    assert not [g for g in state["graphs"] if g["name"] == "microservice-assembly"]
    client = factory.host.durable_client()
    states = factory.host.run(client.get_status_all())
    assert not [s for s in states if "svc-evil" in s.instance_id]
    assert state["tenantId"] == "contoso"


def test_invalid_event_is_dead_lettered_and_the_router_keeps_serving(factory):
    """A malformed envelope and a non-JSON body end in the router subscription's dead-letter
    queue with the validation error as the description, counted once each; the router goes on
    routing valid events."""
    before = _rejected("invalid", "validation")
    bad = {"eventType": "ProjectCreated", "tenantId": "contoso", "projectId": "bad-1"}
    _send(factory, bad, message_id="bad-envelope")
    factory.host.send_message(TOPIC, b"\x00not json", message_id="not-json")
    dead = factory.wait(
        lambda: len(m := factory.host.broker.peek(ROUTER_DLQ, 10)) >= 2 and m, timeout=30
    )
    by_id = {m.message_id: m for m in dead}
    assert set(by_id) == {"bad-envelope", "not-json"}
    assert "eventId" in by_id["bad-envelope"].dead_letter_error_description, vars(
        by_id["bad-envelope"]
    )
    assert "not JSON" in by_id["not-json"].dead_letter_error_description
    assert factory.host.wait_for_idle(30)
    assert _rejected("invalid", "validation") == before + 2

    pid = factory.create(small_request("after-bad"))
    factory.wait_audit(pid, "OrchestrationTriggered")
    factory.wait(lambda: factory.audit(pid, "AgentTaskScheduled", taskId="GenerateVisionPlan"))


def test_duplicate_project_created_after_the_flow_failed_restarts_nothing(factory):
    """A late duplicate of ProjectCreated (new MessageId) after the bootstrap flow failed must
    not start it again: the router remembers the eventId + projectId it routed."""
    from datetime import timedelta

    task = "GenerateDomainModel"
    pid = factory.create(
        small_request(
            "dup-late", _fault={"taskTypes": [task], "failAttempts": 9, "permanent": True}
        )
    )
    factory.wait(lambda: factory.events(pid, "ManualInterventionRequired"))
    factory.quiet(pid)
    factory.host.advance(timedelta(hours=2, seconds=1))  # nobody answers: flow aborts
    factory.wait(lambda: factory.project(pid)["status"] == "Failed")
    assert factory.host.wait_for_idle(30)
    event = factory.events(pid, "ProjectCreated")[0]
    assert _send(factory, event, message_id=uuid.uuid4().hex) is not None
    assert factory.host.wait_for_idle(30)
    client = factory.host.durable_client()
    status = factory.host.run(client.get_status(f"{pid}:project-bootstrap"))
    # the flow ended (its outcome is Failed) and was not started again
    assert getattr(status.runtime_status, "value", status.runtime_status) == "Completed"
    assert status.output["status"] == "Failed", status.output
    assert len(factory.audit(pid, "OrchestrationTriggered")) == 1
    assert len(factory.audit(pid, "ExecutionGraphBuilt")) == 1
    assert len(factory.audit(pid, "AgentTaskScheduled", taskId="GenerateVisionPlan")) == 1


def test_forged_agent_result_from_another_tenant_is_ignored(factory):
    """While planner-agent stays silent, an AgentTaskCompleted for its dispatch claiming
    tenant fabrikam (or another project) arrives on the results queue: it does not complete
    the task; the real outcome (the fallback agent's plan) does."""
    from podium.coordination.ids import task_instance_id

    task = "PlanMicroservices"
    pid = factory.create(
        small_request("forged-1", _fault={"agents": ["planner-agent"], "silent": True})
    )
    factory.wait_audit(pid, "AgentTaskScheduled", taskId=task)
    dispatch = task_instance_id(f"{pid}:project-bootstrap", f"{task}#1")
    before = _rejected("AgentTaskCompleted", "project")
    trace = factory.project(pid)["traceId"]
    for tenant, project in (("fabrikam", pid), ("contoso", "someone-else")):
        forged = {
            "eventType": "AgentTaskCompleted",
            "eventId": str(uuid.uuid4()),
            "traceId": trace,
            "tenantId": tenant,
            "projectId": project,
            "source": "planner-agent",
            "timestamp": "2030-01-01T00:00:00Z",
            "payload": {
                "taskId": dispatch, "agentId": "planner-agent", "attempt": 1,
                "status": "Success", "outputs": {"services": ["evil"]}, "artifacts": [],
                "instanceId": dispatch,
            },
        }
        factory.host.send_message(topology.AGENT_RESULTS_QUEUE, json.dumps(forged))
    factory.quiet(pid, {task})
    assert factory.status_of(pid, "project-bootstrap", task) == "InProgress"
    assert _rejected("AgentTaskCompleted", "project") == before + 1  # the other project's
    dlq = factory.host.broker.peek(f"{topology.AGENT_RESULTS_QUEUE}/$DeadLetterQueue", 10)
    assert dlq == [], [m.dead_letter_error_description for m in dlq]
    factory.drive(
        pid,
        lambda: factory.status_of(pid, "project-bootstrap", task) == "Completed",
        expected={task},
    )
    node = factory.node(pid, "project-bootstrap", task)
    assert node["outputs"]["services"] != ["evil"], node["outputs"]
    assert factory.audit(pid, "AgentTaskScheduled", taskId=task)[-1]["agentId"] == (
        "basic-planner-agent"
    )


def test_invalid_agent_result_is_dead_lettered_and_results_keep_flowing(factory):
    """Garbage on the agent-results queue (not JSON; an envelope of the wrong type) ends in
    its dead-letter queue with the reason; real results keep being processed."""
    queue = topology.AGENT_RESULTS_QUEUE
    factory.host.send_message(queue, "{not json", message_id="garbage")
    wrong = {
        "eventType": "ProjectCreated", "eventId": str(uuid.uuid4()), "traceId": uuid.uuid4().hex,
        "tenantId": "contoso", "projectId": "nobody", "source": "x",
        "timestamp": "2030-01-01T00:00:00Z",
        "payload": {"projectName": "x", "request": {}},
    }
    factory.host.send_message(queue, json.dumps(wrong), message_id="wrong-type")
    dead = factory.wait(
        lambda: len(m := factory.host.broker.peek(f"{queue}/$DeadLetterQueue", 10)) >= 2 and m,
        timeout=30,
    )
    reasons = {m.message_id: m.dead_letter_error_description for m in dead}
    assert set(reasons) == {"garbage", "wrong-type"}, reasons
    assert "not an agent result" in reasons["wrong-type"], reasons
    pid = factory.create(small_request("results-ok"))
    factory.wait(lambda: factory.status_of(pid, "project-bootstrap", "PlanMicroservices")
                 == "Completed")


def test_event_of_a_tenant_not_served_is_rejected_and_counted(factory, monkeypatch):
    """PODIUM_TENANTS restricts the deployment to contoso: a ProjectCreated of fabrikam is
    rejected (nothing starts), audited and counted."""
    monkeypatch.setenv("PODIUM_TENANTS", "contoso")
    before = _rejected("ProjectCreated", "tenant")
    request = small_request("foreign-1", tenant_id="fabrikam")
    event = {
        "eventType": "ProjectCreated", "eventId": str(uuid.uuid4()), "traceId": uuid.uuid4().hex,
        "tenantId": "fabrikam", "projectId": "foreign-1", "source": "studio",
        "timestamp": "2030-01-01T00:00:00Z",
        "payload": {"projectName": request["name"], "request": request},
    }
    _send(factory, event)
    assert factory.host.wait_for_idle(30)
    assert _rejected("ProjectCreated", "tenant") == before + 1
    assert _bootstrap_instances(factory, "foreign-1") == []
    from activities._runtime import adapters

    rows, _ = adapters().audit.query("fabrikam", "foreign-1", type="EventRejected")
    assert rows and "not served" in rows[0]["action"], rows
