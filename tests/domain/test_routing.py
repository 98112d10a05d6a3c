"""Routing registry: the required routes, filters, deterministic instance ids, raise targets."""

from __future__ import annotations

from typing import Any

import pytest

from podium.domain import DomainError, external_event_name, instance_id_for, new_event
from podium.domain.flows import default_catalog
from podium.domain.routing import RoutingRegistry


def event(event_type: str, payload: dict[str, Any], **kw: Any):
    return new_event(
        event_type,
        tenant_id=kw.get("tenant", "tenant-a"),
        project_id=kw.get("project", "proj-1"),
        trace_id="trace",
        source=kw.get("source", "studio"),
        payload=payload,
        event_id=kw.get("event_id", "evt-1"),
        timestamp="2025-05-05T10:00:00Z",
    )


def resolve(ev):
    return default_catalog().routing.resolve(ev)


def test_project_created_starts_bootstrap_once_per_project() -> None:
    (t,) = resolve(event("ProjectCreated", {"triggeredBy": "user:d"}))
    assert (t.mode, t.flow, t.instance_id) == (
        "start",
        "project-bootstrap",
        "proj-1:project-bootstrap",
    )
    # a redelivery (even with another event id) targets the same instance
    (again,) = resolve(event("ProjectCreated", {}, event_id="evt-2"))
    assert again.instance_id == t.instance_id


def test_microservice_planned_starts_one_assembly_per_service() -> None:
    a = resolve(event("MicroservicePlanned", {"microserviceId": "svc-a", "name": "orders"}))
    b = resolve(event("MicroservicePlanned", {"microserviceId": "svc-b", "name": "auth"}))
    assert a[0].flow == "microservice-assembly"
    assert a[0].parameters == {"serviceName": "orders", "microserviceId": "svc-a"}
    assert a[0].instance_id != b[0].instance_id
    assert a[0].instance_key == "svc-a"


@pytest.mark.parametrize(
    "to,flow",
    [
        ("Security", "security-hardening"),
        ("ValidationPhase", "testing-plan"),
        ("Pipeline", "cicd-pipeline"),
        ("Deployment", "infrastructure-provisioning"),
        ("Observability", "observability-setup"),
        ("DeliveryComplete", "finalization"),
    ],
)
def test_phase_advance_routes(to: str, flow: str) -> None:
    targets = resolve(event("LifecyclePhaseAdvanced", {"from": "Planning", "to": to}))
    assert [t.flow for t in targets] == [flow]


def test_phase_advance_without_flow() -> None:
    assert resolve(event("LifecyclePhaseAdvanced", {"from": "Planning", "to": "Assembly"})) == []


def test_unrouted_event() -> None:
    assert resolve(event("TemplateApplied", {"templateId": "t"})) == []


def test_human_response_is_raised_to_waiting_instance() -> None:
    (t,) = resolve(
        event(
            "HumanTaskResponseReceived",
            {"taskId": "ApproveDomainModel", "response": "Approve", "submittedBy": "user:d",
             "instanceId": "proj-1:project-bootstrap"},
        )
    )  # fmt: skip
    assert t.mode == "raise"
    assert t.instance_id == "proj-1:project-bootstrap"
    assert t.event_name == external_event_name("HumanTaskResponseReceived", "ApproveDomainModel")


def test_raise_without_instance_is_an_error() -> None:
    ev = event("HumanTaskResponseReceived", {"taskId": "x", "response": "ok", "submittedBy": "u"})
    with pytest.raises(DomainError, match=r"payload.instanceId\} is missing"):
        resolve(ev)


def test_agent_results_are_raised() -> None:
    (t,) = resolve(
        event("AgentTaskCompleted", {"taskId": "T1", "agentId": "qa-agent", "instanceId": "i-1"})
    )
    assert (t.instance_id, t.event_name) == ("i-1", "AgentTaskCompleted:T1")


def test_filters_tenant_source_phase() -> None:
    reg = RoutingRegistry.model_validate(
        {
            "routes": {
                "ProjectCreated": [
                    {"flow": "a", "filters": {"tenant": ["tenant-a"]}},
                    {"flow": "b", "filters": {"source": "api"}},
                    {"flow": "c", "filters": {"phase": "Security"}},
                ]
            }
        }
    )
    assert [t.flow for t in reg.resolve(event("ProjectCreated", {}))] == ["a"]
    assert [t.flow for t in reg.resolve(event("ProjectCreated", {}, tenant="z", source="api"))] == [
        "b"
    ]
    assert [t.flow for t in reg.resolve(event("ProjectCreated", {"phase": "SecurityPhase"}))] == [
        "a",
        "c",
    ]


def test_registry_validation() -> None:
    with pytest.raises(ValueError, match="unknown event types: Bogus"):
        RoutingRegistry.model_validate({"routes": {"Bogus": [{"flow": "x"}]}})
    with pytest.raises(ValueError, match="start route needs 'flow'"):
        RoutingRegistry.model_validate({"routes": {"ProjectCreated": [{"mode": "start"}]}})
    with pytest.raises(ValueError, match="needs 'target' and 'eventName'"):
        RoutingRegistry.model_validate({"routes": {"ProjectCreated": [{"mode": "raise"}]}})
    reg = RoutingRegistry.model_validate(
        {"routes": {"ProjectCreated": [{"flow": "x", "instanceKey": "${oops}"}]}}
    )
    assert reg.check_placeholders() == ["ProjectCreated: unknown placeholder ${oops}"]


def test_instance_ids_are_deterministic_safe_and_distinct() -> None:
    assert instance_id_for("f", "p") == "p:f"
    assert instance_id_for("f", "p", "k") == "p:f:k"
    odd = instance_id_for("f", "proj/1#x", "a?b")
    assert "/" not in odd and "#" not in odd and "?" not in odd
    assert odd == instance_id_for("f", "proj/1#x", "a?b")
    assert odd != instance_id_for("f", "proj_1_x", "a_b")  # hash keeps them apart
    long = instance_id_for("f", "p" * 300, "k")
    assert len(long) <= 100 and long != instance_id_for("f", "p" * 299, "k")
    with pytest.raises(DomainError):
        instance_id_for("", "p")
