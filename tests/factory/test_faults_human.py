"""Fault tests of the factory (issue 4), people side: checkpoints nobody answers (their
fallbackAction, on the virtual clock), an escalation nobody answers, and a phase rule that is
not met (Mark Phase Complete without / with an override role)."""

from __future__ import annotations

from datetime import timedelta

from tests.factory.conftest import ended, failed_nodes, small_request

TWO_HOURS = 7200


def _pending(factory, pid: str, graph_task: str):
    def find():
        response = factory.get(f"/api/projects/{pid}")
        if response.status_code != 200:
            return None
        tasks = response.json()["humanTasks"]
        return next((t for t in tasks if t.get("graphTaskId") == graph_task), None)

    return find


def test_unanswered_domain_model_approval_continues_after_its_ttl(factory):
    """ApproveDomainModel (fallbackAction: continue, TTL 2 h): nothing happens before the TTL;
    at the TTL a TimeoutWarning is audited, the checkpoint completes as TimedOut and the flow
    goes on (Assembly starts) up to delivery."""
    pid = factory.create(small_request("ttl-continue"))
    task = factory.wait(_pending(factory, pid, "ApproveDomainModel"))
    assert task["fallbackAction"] == "continue"
    factory.quiet(pid)
    factory.host.advance(timedelta(seconds=TWO_HOURS - 5))
    factory.quiet(pid)
    assert _pending(factory, pid, "ApproveDomainModel")(), "timed out before its TTL"
    assert factory.project(pid)["phase"] == "Planning"

    factory.host.advance(timedelta(seconds=10))
    warning = factory.wait_audit(pid, "TimeoutWarning", taskId="ApproveDomainModel")[0]
    assert warning["details"]["fallbackAction"] == "continue"
    factory.wait(lambda: factory.status_of(pid, "project-bootstrap", "ApproveDomainModel")
                 == "Completed")
    node = factory.node(pid, "project-bootstrap", "ApproveDomainModel")
    assert node["outputs"]["response"] == "TimedOut", node["outputs"]
    assert not _pending(factory, pid, "ApproveDomainModel")()
    late = factory.post(f"/api/projects/{pid}/human-tasks/{task['taskId']}",
                        {"response": "Reject"})
    assert late.status_code == 409, late.text  # the timeout answered it; nothing changes
    state = factory.approve_all(pid, ended)
    assert state["status"] == "Completed", failed_nodes(state)


def test_unanswered_production_approval_aborts_the_flow_and_fails_the_project(factory):
    """ApproveProductionDeployment (fallbackAction: abort): at its TTL the
    infrastructure-provisioning flow fails (OrchestrationFailed), the task after the
    checkpoint never runs, and the project is Failed (not delivered)."""
    target = "ApproveProductionDeployment"
    pid = factory.create(small_request("ttl-abort"))
    factory.approve_all(pid, lambda s: _pending(factory, pid, target)(), leave=(target,))
    factory.quiet(pid)
    assert factory.project(pid)["phase"] == "Deployment"
    factory.host.advance(timedelta(seconds=TWO_HOURS + 1))
    state = factory.wait(
        lambda: (s := factory.project(pid))["status"] == "Failed" and s, timeout=30
    )
    assert state["locked"] is False and state["phase"] == "Deployment"
    warning = factory.audit(pid, "TimeoutWarning", taskId=target)
    assert warning and warning[0]["details"]["fallbackAction"] == "abort"
    infra = next(g for g in state["graphs"] if g["name"] == "infrastructure-provisioning")
    assert infra["status"] == "Failed"
    nodes = {n["taskId"]: n["status"] for n in infra["nodes"]}
    assert nodes[target] == "Failed" and nodes["ValidateDeployedResources"] == "Pending", nodes
    failed = factory.events(pid, "OrchestrationFailed")
    assert [e["payload"]["flow"] for e in failed] == ["infrastructure-provisioning"]
    assert target in failed[0]["payload"]["reason"]
    assert not factory.events(pid, "ProjectDeliveryComplete")


def test_unanswered_escalation_falls_back_to_abort(factory):
    """GenerateDomainModel fails permanently (Fatal, no fallback agent): the runner escalates
    (ManualInterventionRequired with Retry / Skip / Abort for an Admin). Nobody answers: at the
    escalation's TTL its fallback (abort) fails the flow and the project."""
    task = "GenerateDomainModel"
    pid = factory.create(
        small_request(
            "escalate-1", _fault={"taskTypes": [task], "failAttempts": 9, "permanent": True}
        )
    )
    pending = factory.wait(_pending(factory, pid, task))
    assert pending["kind"] == "ManualInterventionRequired", pending
    assert pending["requiredRole"] == "Admin" and pending["fallbackAction"] == "abort"
    assert pending["options"] == ["Retry", "Skip", "Abort"]
    manual = factory.wait(lambda: factory.events(pid, "ManualInterventionRequired"))
    assert manual[0]["payload"]["taskId"] == task
    failure = factory.audit(pid, "AgentTaskFailed", taskId=task)
    assert [r["details"]["decision"]["action"] for r in failure] == ["Escalate"]
    factory.quiet(pid)

    factory.host.advance(timedelta(seconds=TWO_HOURS + 1))
    state = factory.wait(
        lambda: (s := factory.project(pid))["status"] == "Failed" and s, timeout=30
    )
    assert factory.audit(pid, "TimeoutWarning", taskId=task)
    boot = next(g for g in state["graphs"] if g["name"] == "project-bootstrap")
    assert boot["status"] == "Failed"
    assert not factory.audit(pid, "AgentTaskScheduled", taskId="PlanMicroservices")
    failed = factory.events(pid, "OrchestrationFailed")
    assert [e["payload"]["flow"] for e in failed] == ["project-bootstrap"]
    assert state["phase"] == "Planning" and not state["locked"]


def test_phase_rule_not_met_blocks_advance_unless_an_override_role_forces_it(factory):
    """In Planning the rule needs project-bootstrap completed; while its checkpoint waits the
    phase stays. Mark Phase Complete by an Architect (not an override role) → 403, nothing
    changed; by an Admin → advanced, with the bypassed requirement listed and audited."""
    pid = factory.create(small_request("override-1"))
    factory.wait(_pending(factory, pid, "ApproveDomainModel"))
    factory.quiet(pid)
    assert factory.project(pid)["phase"] == "Planning"

    path = f"/api/projects/{pid}/actions/mark-phase-complete"
    refused = factory.post(path, {}, user="ana", roles=["Architect"])
    assert refused.status_code == 403, refused.text
    assert "Admin" in refused.json()["error"]
    assert factory.project(pid)["phase"] == "Planning"
    assert not factory.audit(pid, "PhaseAdvanced", phase="Assembly")

    done = factory.post(path, {}, user="root", roles=["Admin"])
    assert done.status_code == 200, done.text
    decision = done.json()["decision"]
    assert decision["advanced"]["from"] == "Planning" and decision["advanced"]["to"] == "Assembly"
    assert decision["overrideRole"] == "Admin"
    assert any("project-bootstrap" in str(b) for b in decision["bypassed"]), decision
    assert factory.project(pid)["phase"] == "Assembly"
    row = factory.wait_audit(pid, "PhaseAdvanced", phase="Assembly")[0]
    assert "override:user:root:Admin" in row["details"]["triggeredBy"], row
    assert row["details"]["bypassed"] == decision["bypassed"], row
    # the forced advance does not derail the run: the checkpoint is answered, the planned
    # service is assembled, and the project goes through every phase to delivery
    state = factory.approve_all(pid, ended)
    assert state["status"] == "Completed", failed_nodes(state)
    advanced = [r["phase"] for r in factory.audit(pid, "PhaseAdvanced")]
    assert advanced.count("Assembly") == 1 and advanced[-1] == "DeliveryComplete", advanced


def test_escalation_answered_skip_by_an_admin_continues_the_flow(factory):
    """ConfigureApiGateway fails permanently: ManualInterventionRequired. An Architect may not
    answer it (403, still pending); an Admin answers Skip: the task is Skipped (by that
    person), the assembly flow continues and the project is delivered."""
    task = "ConfigureApiGateway"
    pid = factory.create(
        small_request(
            "escalate-skip", _fault={"taskTypes": [task], "failAttempts": 9, "permanent": True}
        )
    )
    factory.approve_all(pid, lambda s: _pending(factory, pid, task)(), leave=(task,))
    pending = _pending(factory, pid, task)()
    path = f"/api/projects/{pid}/human-tasks/{pending['taskId']}"
    refused = factory.post(path, {"response": "Skip"}, user="ana", roles=["Architect"])
    assert refused.status_code == 403, refused.text
    assert _pending(factory, pid, task)()
    answered = factory.post(path, {"response": "Skip"}, user="root", roles=["Admin"])
    assert answered.status_code == 200, answered.text
    factory.wait(lambda: factory.status_of(pid, "microservice-assembly", task) == "Skipped")
    skipped = factory.audit(pid, "TaskSkipped", taskId=task)
    assert skipped and skipped[0]["details"].get("overrideBy") == "user:root", skipped
    response = factory.audit(pid, "HumanTaskResponseReceived", taskId=task)
    assert [r["actor"] for r in response] == ["user:root"]
    state = factory.approve_all(pid, ended,
                                leave=(task,))
    assert state["status"] == "Completed", failed_nodes(state)


def test_escalation_answered_retry_runs_the_task_again(factory):
    """ConfigureApiGateway fails permanently (the gateway agent is broken): escalation. The
    agent is repaired, an Admin answers Retry: the task is dispatched again (a new attempt of
    the graph node) and succeeds; the project is delivered."""
    from podium.agents.faults import FaultSpec

    task = "ConfigureApiGateway"
    worker = factory.agents.workers["gateway-agent"]
    worker.inject_fault(FaultSpec(task_types=(task,), fail_attempts=99, permanent=True))
    pid = factory.create(small_request("escalate-retry"))
    factory.approve_all(pid, lambda s: _pending(factory, pid, task)(), leave=(task,))
    pending = _pending(factory, pid, task)()
    assert pending["kind"] == "ManualInterventionRequired"
    worker.inject_fault(None)  # the agent is fixed
    answered = factory.post(f"/api/projects/{pid}/human-tasks/{pending['taskId']}",
                            {"response": "Retry"}, user="root", roles=["Admin"])
    assert answered.status_code == 200, answered.text
    factory.wait(lambda: factory.status_of(pid, "microservice-assembly", task) == "Completed")
    node = factory.node(pid, "microservice-assembly", task)
    assert node["attempts"] == 2, node
    assert node["outputs"], node
    assert len(factory.audit(pid, "AgentTaskScheduled", taskId=task)) == 2
    state = factory.approve_all(pid, ended)
    assert state["status"] == "Completed", failed_nodes(state)


def test_a_checkpoint_answered_twice_takes_the_first_answer(factory):
    """Two answers to the same checkpoint: the first wins (200), the second gets 409 and
    changes nothing; one HumanTaskResponseReceived is audited."""
    pid = factory.create(small_request("answer-twice"))
    task = factory.wait(_pending(factory, pid, "ApproveDomainModel"))
    path = f"/api/projects/{pid}/human-tasks/{task['taskId']}"
    first = factory.post(path, {"response": "Approve"}, user="ana", roles=["Architect"])
    second = factory.post(path, {"response": "Reject"}, user="bob", roles=["Architect"])
    assert first.status_code == 200, first.text
    assert second.status_code == 409, second.text
    factory.wait(lambda: factory.status_of(pid, "project-bootstrap", "ApproveDomainModel")
                 == "Completed")
    rows = factory.audit(pid, "HumanTaskResponseReceived")
    assert [(r["actor"], r["action"].split()[0]) for r in rows] == [("user:ana", "Approve")]
    node = factory.node(pid, "project-bootstrap", "ApproveDomainModel")
    assert node["outputs"]["response"] == "Approve"
    factory.wait_audit(pid, "PhaseAdvanced", phase="Assembly")
