"""Fault tests of the factory (issue 4), lifecycle side: work of a later phase is postponed
(and counted) until the project reaches it; multi-project children wait for, cascade from, or
are blocked by their upstream."""

from __future__ import annotations

from podium.observability import get_metrics
from tests.factory.conftest import ended, failed_nodes, small_request


def _pending(factory, pid: str, graph_task: str):
    def find():
        response = factory.get(f"/api/projects/{pid}")
        if response.status_code != 200:
            return None
        tasks = response.json()["humanTasks"]
        return next((t for t in tasks if t.get("graphTaskId") == graph_task), None)

    return find


def _blocked_metric() -> float:
    snapshot = get_metrics().snapshot().get("blocked_tasks_due_to_phase", [])
    return sum(value for labels, value in snapshot if labels.get("phase") == "Assembly")


def test_out_of_phase_work_is_postponed_until_its_phase(factory):
    """"Regenerate Microservice" while the project is still in Planning starts an Assembly
    flow: its first task is postponed (blocked_tasks counted, TaskPostponed audited, nothing
    dispatched); when the domain model is approved the project enters Assembly, the
    LifecyclePhaseAdvanced event wakes the flow and it runs to completion."""
    pid = factory.create(small_request("postpone-1"))
    factory.wait(_pending(factory, pid, "ApproveDomainModel"))
    factory.quiet(pid)
    assert factory.project(pid)["phase"] == "Planning"
    metric_before = _blocked_metric()

    started = factory.post(
        f"/api/projects/{pid}/actions/regenerate-microservice", {"serviceName": "svc001"}
    )
    assert started.status_code == 202, started.text
    instance = started.json()["instanceId"]
    state = factory.wait(lambda: (s := factory.project(pid))["blockedTasks"] >= 1 and s)
    postponed = factory.wait_audit(pid, "TaskPostponed")
    assert "ApplyMicroserviceTemplate" in postponed[0]["action"], postponed[0]
    factory.quiet(pid)
    assert _blocked_metric() >= metric_before + 1
    mine = [r for r in factory.audit(pid, "AgentTaskScheduled")
            if r["details"].get("flowInstanceId") == instance]
    assert mine == [], "an Assembly task ran while the project was in Planning"
    regen = next(g for g in state["graphs"] if g["instanceId"] == instance)
    assert all(n["status"] != "InProgress" for n in regen["nodes"]), regen["nodes"]
    assert factory.project(pid)["phase"] == "Planning"

    task = factory.wait(_pending(factory, pid, "ApproveDomainModel"))
    approve = factory.post(f"/api/projects/{pid}/human-tasks/{task['taskId']}",
                           {"response": "Approve"})
    assert approve.status_code == 200, approve.text
    factory.wait_audit(pid, "PhaseAdvanced", phase="Assembly")

    def regen_done():
        graphs = factory.project(pid)["graphs"]
        graph = next(g for g in graphs if g["instanceId"] == instance)
        return graph["status"] in ("Completed", "Failed") and graph

    graph = factory.wait(regen_done, timeout=60)
    assert graph["status"] == "Completed", [(n["taskId"], n["status"]) for n in graph["nodes"]]
    mine = [r for r in factory.audit(pid, "AgentTaskScheduled")
            if r["details"].get("flowInstanceId") == instance]
    assert {r["taskId"] for r in mine} >= {"ApplyMicroserviceTemplate", "RunMicroserviceValidation"}
    state = factory.approve_all(pid, ended)
    assert state["status"] == "Completed", failed_nodes(state)


def test_child_waits_for_upstream_phase_then_is_cascaded(factory):
    """A child created with upstream=[parent], triggerOnUpstreamPhase=Assembly waits
    (WaitingForUpstream) until the parent enters Assembly; then the parent's advance emits
    OrchestrationCascadeTriggered and the child's bootstrap starts."""
    parent = factory.create(small_request("parent-ok"))
    factory.wait(_pending(factory, parent, "ApproveDomainModel"))
    child = factory.create(
        small_request("child-ok", upstream=[parent], triggerOnUpstreamPhase="Assembly")
    )
    factory.wait_audit(child, "WaitingForUpstream")
    factory.quiet(parent)
    state = factory.project(child)
    assert state["status"] == "WaitingForUpstream" and state["graphs"] == [], state["status"]
    assert child in factory.project(parent)["children"]

    task = factory.wait(_pending(factory, parent, "ApproveDomainModel"))
    factory.post(f"/api/projects/{parent}/human-tasks/{task['taskId']}", {"response": "Approve"})
    cascade = factory.wait(lambda: factory.events(parent, "OrchestrationCascadeTriggered"))
    assert cascade[0]["payload"]["triggeredChildren"] == [child]
    assert cascade[0]["payload"]["phase"] == "Assembly"
    factory.wait_audit(child, "OrchestrationTriggered")
    factory.quiet(parent)
    later = factory.events(parent, "OrchestrationCascadeTriggered")
    assert [e["payload"]["phase"] for e in later] == ["Assembly"], "cascaded at other phases"
    factory.wait_audit(child, "OrchestrationTriggered")
    factory.wait(_pending(factory, child, "ApproveDomainModel"))
    assert factory.project(child)["status"] == "InProgress"


def test_child_of_a_failed_upstream_is_blocked_and_audited(factory):
    """The parent's production approval is rejected: its flow fails and the project is Failed.
    Its waiting child (trigger DeliveryComplete) is never started: it is blocked and the block
    is audited in both projects."""
    target = "ApproveProductionDeployment"
    parent = factory.create(small_request("parent-ko"))
    factory.wait(_pending(factory, parent, "ApproveDomainModel"))
    child = factory.create(small_request("child-ko", upstream=[parent]))
    factory.wait_audit(child, "WaitingForUpstream")
    factory.approve_all(parent, lambda s: _pending(factory, parent, target)(), leave=(target,))
    task = _pending(factory, parent, target)()
    rejected = factory.post(f"/api/projects/{parent}/human-tasks/{task['taskId']}",
                            {"response": "Reject"}, user="ops", roles=["Admin"])
    assert rejected.status_code == 200, rejected.text
    factory.wait(lambda: factory.project(parent)["status"] == "Failed")
    factory.wait_audit(parent, "UpstreamFailed")
    row = factory.wait_audit(child, "BlockedByUpstream")[0]
    assert parent in row["action"]
    factory.quiet(parent)
    state = factory.project(child)
    assert state["status"] == "BlockedByUpstream", state["status"]
    assert state["graphs"] == []
    assert not factory.audit(child, "OrchestrationTriggered")


def test_grandchild_is_cascaded_by_the_second_advance_of_its_parents_bootstrap(factory):
    """A chain G -> P -> C, each child triggered when its upstream enters Assembly. P's
    bootstrap advances P twice (Initialization -> Planning when it starts, Planning -> Assembly
    when it ends), each advance cascading to C: the second cascade must reach C (distinct
    events), so C starts once P is in Assembly."""
    g = factory.create(small_request("chain-g"))
    factory.wait(_pending(factory, g, "ApproveDomainModel"))
    p = factory.create(small_request("chain-p", upstream=[g], triggerOnUpstreamPhase="Assembly"))
    factory.wait_audit(p, "WaitingForUpstream")
    c = factory.create(small_request("chain-c", upstream=[p], triggerOnUpstreamPhase="Assembly"))
    factory.wait_audit(c, "WaitingForUpstream")
    factory.wait(lambda: c in factory.project(p)["children"])

    factory.approve_all(g, lambda s: s["phase"] == "Assembly", leave=())
    factory.wait_audit(p, "OrchestrationTriggered")
    factory.approve_all(p, lambda s: s["phase"] == "Assembly")
    cascades = factory.wait(
        lambda: [e for e in factory.events(p, "OrchestrationCascadeTriggered")
                 if e["payload"]["phase"] == "Assembly"],
        timeout=30,
    )
    assert cascades[0]["payload"]["triggeredChildren"] == [c]
    # only the advance C waits for cascades (not Initialization -> Planning)
    phases = [e["payload"]["phase"] for e in factory.events(p, "OrchestrationCascadeTriggered")]
    assert phases == ["Assembly"], phases
    factory.wait_audit(c, "OrchestrationTriggered")
    factory.wait(_pending(factory, c, "ApproveDomainModel"))


def test_child_created_after_its_upstream_failed_is_blocked(factory):
    """The upstream already failed when the child is created: the child never starts, its
    status says BlockedByUpstream and its audit trail says why."""
    target = "ApproveProductionDeployment"
    parent = factory.create(small_request("parent-dead"))
    factory.approve_all(parent, lambda s: _pending(factory, parent, target)(), leave=(target,))
    task = _pending(factory, parent, target)()
    factory.post(f"/api/projects/{parent}/human-tasks/{task['taskId']}", {"response": "Reject"},
                 user="ops", roles=["Admin"])
    factory.wait(lambda: factory.project(parent)["status"] == "Failed")
    child = factory.create(small_request("child-late", upstream=[parent]))
    row = factory.wait_audit(child, "BlockedByUpstream")[0]
    assert parent in row["action"]
    factory.wait(lambda: factory.project(child)["status"] == "BlockedByUpstream", timeout=10)
    factory.quiet(parent)
    assert factory.project(child)["graphs"] == []
    assert not factory.audit(child, "OrchestrationTriggered")


def test_child_waiting_for_delivery_starts_when_its_upstream_is_delivered(factory):
    """Default trigger: the child starts when its upstream reaches DeliveryComplete."""
    parent = factory.create(small_request("parent-full"))
    factory.wait(_pending(factory, parent, "ApproveDomainModel"))
    child = factory.create(small_request("child-full", upstream=[parent]))
    factory.wait_audit(child, "WaitingForUpstream")
    state = factory.approve_all(parent, ended, leave=())
    assert state["status"] == "Completed", failed_nodes(state)
    cascade = factory.events(parent, "OrchestrationCascadeTriggered")
    assert [e["payload"]["phase"] for e in cascade] == ["DeliveryComplete"], cascade
    assert cascade[0]["payload"]["triggeredChildren"] == [child]
    factory.wait_audit(child, "OrchestrationTriggered")
    factory.wait(_pending(factory, child, "ApproveDomainModel"))


def test_delivered_project_is_read_only(factory):
    """After delivery the project is locked: manual actions get 409, and a late event that
    would start work for it (a MicroservicePlanned) changes nothing: the project stays
    Completed and locked, no task is dispatched."""
    import json
    import uuid

    from podium import topology

    pid = factory.create(small_request("readonly-1"))
    state = factory.approve_all(pid, ended)
    assert state["status"] == "Completed", failed_nodes(state)
    for action, body in (("mark-phase-complete", {}),
                         ("regenerate-microservice", {"serviceName": "svc001"})):
        response = factory.post(f"/api/projects/{pid}/actions/{action}", body)
        assert response.status_code == 409, (action, response.text)
    scheduled = len(factory.audit(pid, "AgentTaskScheduled"))
    late = {
        "eventType": "MicroservicePlanned", "eventId": str(uuid.uuid4()),
        "traceId": state["traceId"], "tenantId": "contoso", "projectId": pid,
        "source": "planner-agent", "timestamp": "2030-01-01T00:00:00Z",
        "payload": {"microserviceId": "svc-late", "name": "late"},
    }
    factory.host.send_message(topology.ORCHESTRATION_EVENTS_TOPIC, json.dumps(late),
                              message_id=late["eventId"])
    factory.quiet(pid)
    after = factory.project(pid)
    assert after["status"] == "Completed" and after["locked"] is True, after["status"]
    assert after["phase"] == "DeliveryComplete"
    assert len(factory.audit(pid, "AgentTaskScheduled")) == scheduled
    assert [g["key"] for g in after["graphs"] if g["key"] == "svc-late"] == []
    ignored = factory.audit(pid, "EventIgnored")
    assert ignored and ignored[0]["details"]["eventId"] == late["eventId"], ignored


def test_manual_rerun_the_phase_forbids_is_refused_and_does_not_fail_the_project(factory):
    """While finalization runs (DeliveryComplete, the cleanup agent held silent), "Regenerate
    Microservice" is work that phase forbids: it is refused up front (409 with the reason)
    instead of starting a flow whose rejection would mark the whole project Failed."""
    pid = factory.create(small_request(
        "late-regen", _fault={"agents": ["cleanup-agent"], "silent": True}
    ))
    factory.approve_all(pid, lambda s: s["phase"] == "DeliveryComplete")
    factory.quiet(pid, {"CollectDeliveryArtifacts"})
    response = factory.post(f"/api/projects/{pid}/actions/regenerate-microservice",
                            {"serviceName": "svc001"})
    assert response.status_code == 409, response.text
    assert "DeliveryComplete" in response.json()["error"]
    factory.quiet(pid, {"CollectDeliveryArtifacts"})
    state = factory.project(pid)
    assert state["status"] == "InProgress", state["status"]
    assert not factory.events(pid, "OrchestrationFailed")
    assert len([g for g in state["graphs"] if g["name"] == "microservice-assembly"]) == 1
