"""Project request validation and the planning agents' plans."""

from __future__ import annotations

import copy
import json

import pytest
from pydantic import ValidationError

from podium.agents.builtin.planning import (
    domain_model,
    plan_services_basic,
    validate_service_plan,
)
from podium.agents.examples import example_path, load_request, synthetic_request
from podium.agents.request import parse_request
from tests.agents.conftest import outputs, plan_project

CONTOSO = json.loads(example_path().read_text())


def test_example_request_is_valid_with_three_bounded_contexts() -> None:
    request = load_request(example_path())
    assert [c.name for c in request.domain.boundedContexts] == ["catalog", "orders", "customers"]
    assert request.config.secrets["ServiceBusConnectionString"] == "@vault:sb-dev"


@pytest.mark.parametrize(("path", "value", "message"), [
    (("tenantId",), "Contoso!", "must be a lowercase slug"),
    (("technologyStack",), "cobol", "technologyStack must be one of"),
    (("domain", "boundedContexts", 0, "name"), "identity", "reserved for the identity"),
    (("domain", "boundedContexts", 1, "name"), "catalog", "bounded context names must be unique"),
    (("domain", "boundedContexts", 0, "entities", 0, "fields", "title"), "text",
     "is not one of string, integer"),
    (("domain", "boundedContexts", 0, "entities", 0, "fields", "parentId"), "ref:Ghost",
     "refers to unknown entity 'Ghost'"),
    (("domain", "boundedContexts", 0, "entities", 0, "fields", "id"), "string", "reserved"),
    (("domain", "boundedContexts", 0, "entities", 0, "name"), "Customer", "must be unique"),
    (("config", "secrets", "OAuthClientSecret"), "hunter2", "never a value"),
])
def test_invalid_requests_are_refused_with_the_reason(path, value, message) -> None:
    document = copy.deepcopy(CONTOSO)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError, match=message):
        parse_request(document)


def test_domain_model_relationships_and_aggregates() -> None:
    model = domain_model(load_request(example_path()))
    assert [e["name"] for e in model["entities"]] == [
        "Category", "Product", "Order", "OrderLine", "Customer"]
    cross = {(r["from"], r["to"]) for r in model["relationships"] if r["crossContext"]}
    assert cross == {("Order", "Customer"), ("OrderLine", "Product")}
    assert {"context": "orders", "root": "Order", "members": ["OrderLine"]} in model["aggregates"]


def test_planner_uses_the_architects_files(run, workspace) -> None:
    plan_project(run)
    plan = json.loads((workspace / "plan/microservices.json").read_text())
    assert plan["planner"] == "planner-agent"
    assert plan["rationaleSource"] == "deterministic"
    customers = next(s for s in plan["services"] if s["name"] == "customers")
    assert (customers["requiresAuth"], customers["exposedPublicly"]) == (True, False)
    assert customers["technologyStack"] == "python-starlette"
    assert validate_service_plan(plan["services"]) == []


def test_basic_planner_needs_only_the_request(run, workspace) -> None:
    result = outputs(run("basic-planner-agent", "PlanMicroservices"))
    assert result == {"services": ["catalog", "orders", "customers"],
                      "planner": "basic-planner-agent"}
    assert not (workspace / "plan/vision.json").exists()


def test_request_can_come_in_the_task_inputs(run, workspace) -> None:
    (workspace / "request.json").unlink()
    result = outputs(run("enterprise-architect-agent", "GenerateDomainModel", request=CONTOSO))
    assert result["relationships"] == 4


def test_missing_or_invalid_request_fails_permanently(run, workspace) -> None:
    (workspace / "request.json").unlink()
    missing = run("vision-architect-agent", "GenerateVisionPlan")["payload"]
    assert (missing["errorCode"], missing["permanent"]) == ("MissingRequest", True)
    bad = dict(CONTOSO, technologyStack="cobol")
    invalid = run("vision-architect-agent", "GenerateVisionPlan", request=bad,
                  task_id="again")["payload"]
    assert invalid["errorCode"] == "InvalidProjectModel"
    assert any("technologyStack" in d for d in invalid["details"])


@pytest.mark.parametrize(("mutate", "problem"), [
    (lambda s: s.update(name="Orders Service"), "name must be a lowercase slug"),
    (lambda s: s.update(requiresAuth="yes"), "requiresAuth must be a boolean"),
    (lambda s: s.update(exposedPublicly=None), "exposedPublicly must be a boolean"),
    (lambda s: s.update(technologyStack="dotnet"), "has no compatible template"),
    (lambda s: s.update(entityModel=[]), "entityModel must be a non-empty list"),
    (lambda s: s["entityModel"][0]["fields"][0].update(type="blob"), "unknown type 'blob'"),
    (lambda s: s["entityModel"][0].update(fields=[]), "must have fields"),
])
def test_service_plan_validation_as_the_seed_requires(mutate, problem) -> None:
    services = plan_services_basic(load_request(example_path()))
    mutate(services[0])
    assert any(problem in error for error in validate_service_plan(services))


def test_duplicate_service_names_are_invalid() -> None:
    services = plan_services_basic(load_request(example_path()))
    assert validate_service_plan([services[0], services[0]]) == [
        "services[1].name 'catalog' is not unique"]
    assert validate_service_plan([]) == ["services must be a non-empty list"]


def test_synthetic_requests_scale_and_are_deterministic() -> None:
    for n in (1, 3, 30, 100):
        document = synthetic_request(n)
        request = parse_request(document)
        assert len(request.domain.boundedContexts) == n
        services = plan_services_basic(request)
        assert validate_service_plan(services) == []
    assert synthetic_request(30) == synthetic_request(30)
    with pytest.raises(ValueError):
        synthetic_request(0)


def test_prepare_workspace_writes_the_validated_request(tmp_path) -> None:
    from podium.agents import prepare_workspace, workspace_path

    path = prepare_workspace(tmp_path, CONTOSO)
    assert path == tmp_path.resolve() / "contoso" / "contoso-shop"
    assert json.loads((path / "request.json").read_text())["projectId"] == "contoso-shop"
    assert prepare_workspace(tmp_path, CONTOSO) == path  # idempotent
    with pytest.raises(ValueError):
        workspace_path(tmp_path, "..", "x")
    with pytest.raises(ValidationError):
        prepare_workspace(tmp_path, dict(CONTOSO, tenantId="../../etc"))


def test_every_agent_task_of_every_flow_has_a_builtin_handler() -> None:
    """The flows (flows/*.yaml) and the built-in agents agree on agent ids and task types."""
    from pathlib import Path

    import yaml

    from podium.agents import handled_task_types

    handled = handled_task_types()
    flows = sorted((Path(__file__).parents[2] / "flows").glob("*.yaml"))
    checked = 0
    for path in flows:
        flow = yaml.safe_load(path.read_text())
        for task in (flow or {}).get("tasks", []) if isinstance(flow, dict) else []:
            for agent in filter(None, (task.get("agentId"), task.get("fallbackAgent"))):
                assert task["type"] in handled.get(agent, []), (path.name, agent, task["type"])
                checked += 1
    assert checked >= 29  # 28 agent tasks + 1 fallback agent in the shipped flows
