"""The project coordinator's rules, without a host: phase gating, advancement by rule,
fan-out expectations, manual override, the read-only lock, multi-project readiness."""

from __future__ import annotations

import pytest

from podium.coordination.coordinator import CoordinatorError, ProjectCoordinator
from podium.domain.flows import default_catalog
from podium.domain.lifecycle import decide_task

RULES = default_catalog().lifecycle


def decide(phase: str, task_type: str, task_phase: str | None) -> dict:
    return decide_task(phase, task_type, task_phase=task_phase,
                       catalog=default_catalog()).model_dump(by_alias=True, mode="json")


def new(upstream=None, trigger=None) -> ProjectCoordinator:
    c = ProjectCoordinator()
    c.init({"projectId": "p1", "tenantId": "t1", "traceId": "a" * 32, "at": "T0",
            "upstream": upstream or [], "triggerOnUpstreamPhase": trigger})
    return c


def start(c: ProjectCoordinator, flow: str, phase: str, key: str = "") -> dict:
    return c.flow_started({"instanceId": f"p1:{flow}{':' + key if key else ''}", "flow": flow,
                           "phase": phase, "key": key, "at": "T1"})


def finish(c: ProjectCoordinator, flow: str, key: str = "", status="Completed", **extra) -> dict:
    return c.flow_finished({"instanceId": f"p1:{flow}{':' + key if key else ''}", "flow": flow,
                            "status": status, "at": "T2", **extra}, RULES)


def test_init_is_idempotent_and_refuses_another_tenant():
    c = new()
    assert c.init({"projectId": "p1", "tenantId": "t1"}) == {"created": False,
                                                              "waitingForUpstream": False}
    with pytest.raises(CoordinatorError, match="another tenant"):
        c.init({"projectId": "p1", "tenantId": "t2"})


def test_first_flow_leaves_initialization():
    c = new()
    decision = start(c, "project-bootstrap", "Planning")
    assert decision["advanced"] == {"from": "Initialization", "to": "Planning",
                                    "triggeredBy": "flow:project-bootstrap"}
    assert c.phase == "Planning" and c.status == "InProgress"


def test_phase_advances_only_when_every_expected_fan_out_flow_completed():
    c = new()
    start(c, "project-bootstrap", "Planning")
    d = finish(c, "project-bootstrap", expect=None)
    assert d["advanced"]["to"] == "Assembly"
    c.expect_flows({"phase": "Assembly", "flows": ["microservice-assembly:svc-a",
                                                   "microservice-assembly:svc-b"]})
    start(c, "microservice-assembly", "Assembly", "svc-a")
    d = finish(c, "microservice-assembly", "svc-a")
    assert d["advanced"] is None and any("svc-b" in m for m in d["missing"])
    start(c, "microservice-assembly", "Assembly", "svc-b")
    d = finish(c, "microservice-assembly", "svc-b")
    assert d["advanced"]["to"] == "Security"


def test_out_of_phase_tasks_are_postponed_counted_and_woken_on_advance():
    c = new()
    start(c, "project-bootstrap", "Planning")
    gate = c.check_tasks({"instanceId": "p1:microservice-assembly:svc-a", "phase": "Assembly",
                          "taskTypes": ["ApplyMicroserviceTemplate"]}, decide)
    assert gate["decisions"][0]["kind"] == "postponed"
    assert gate["decisions"][0]["untilPhase"] == "Assembly"
    assert c.blocked_tasks == 1 and c.waiting == ["p1:microservice-assembly:svc-a"]
    d = finish(c, "project-bootstrap")
    assert d["wake"] == ["p1:microservice-assembly:svc-a"] and c.waiting == []


def test_manual_advance_needs_an_override_role_and_lists_what_it_bypassed():
    c = new()
    start(c, "project-bootstrap", "Planning")
    with pytest.raises(CoordinatorError, match="roles"):
        c.manual_advance({"roles": ["Architect"], "actor": "user:a"}, RULES)
    d = c.manual_advance({"roles": ["Admin"], "actor": "user:b", "at": "T3"}, RULES)
    assert d["advanced"]["to"] == "Assembly" and d["overrideRole"] == "Admin"
    assert d["bypassed"] and "project-bootstrap" in d["bypassed"][0]


def test_delivery_locks_the_project_read_only():
    c = new()
    c.phase = "DeliveryComplete"
    start(c, "finalization", "DeliveryComplete")
    d = finish(c, "finalization", artifacts=["delivery/summary.json"])
    assert d["delivered"] is True and c.locked and c.status == "Completed"
    assert d["artifacts"] == ["delivery/summary.json"]
    with pytest.raises(CoordinatorError, match="read-only"):
        c.check_tasks({"taskTypes": ["ApplyMicroserviceTemplate"]}, decide)


def test_a_failed_flow_fails_the_project_and_reports_children():
    c = new()
    c.register_child({"childId": "child-1"})
    start(c, "project-bootstrap", "Planning")
    d = finish(c, "project-bootstrap", status="Failed")
    assert d == {"advanced": None, "failed": True, "children": ["child-1"]}
    assert c.status == "Failed"


def test_child_waits_for_every_upstream_phase_and_is_blocked_by_a_failure():
    c = new(upstream=["u1", "u2"], trigger="Assembly")
    assert c.status == "WaitingForUpstream"
    assert c.upstream_reached({"upstreamId": "u1", "phase": "Security"}) == {"start": False}
    assert c.upstream_reached({"upstreamId": "u2", "phase": "Assembly"}) == {"start": True}
    blocked = new(upstream=["u1"])
    assert blocked.upstream_failed_op({"upstreamId": "u1"})["status"] == "BlockedByUpstream"
    assert blocked.upstream_reached({"upstreamId": "u1", "phase": "DeliveryComplete"}) == {
        "start": False}


def test_state_round_trips_through_json():
    c = new()
    start(c, "project-bootstrap", "Planning")
    again = ProjectCoordinator.from_dict(c.to_dict())
    assert again == c


def test_a_failed_manual_rerun_does_not_fail_the_project():
    c = new()
    start(c, "project-bootstrap", "Planning")
    d = finish(c, "project-bootstrap", status="Failed", manual=True)
    assert d == {"advanced": None, "failed": False, "manualRunFailed": True}
    assert c.status == "InProgress" and c.flows["p1:project-bootstrap"]["status"] == "Failed"
