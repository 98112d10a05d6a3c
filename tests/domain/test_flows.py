"""Every flow YAML loads and validates; the loader rejects bad files with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.domain import DomainError, FlowDefinitionError, TaskStatus
from podium.domain.flows import (
    REPO_FLOWS_DIR,
    default_catalog,
    load_catalog,
    load_flow,
    plan_microservice_flows,
)
from podium.topology import AGENT_IDS

FLOW_FILES = sorted(
    p for p in REPO_FLOWS_DIR.glob("*.yaml") if p.name not in ("lifecycle.yaml", "routing.yaml")
)

# Task types and agents the agents engineer implements handlers for: keep in step.
EXPECTED = {
    "project-bootstrap": ("Planning", {
        "GenerateVisionPlan": "vision-architect-agent",
        "GenerateDomainModel": "enterprise-architect-agent",
        "PlanMicroservices": "planner-agent",
        "ApproveDomainModel": None,
    }),
    "microservice-assembly": ("Assembly", {
        "ApplyMicroserviceTemplate": "developer-agent",
        "ConfigureApiGateway": "gateway-agent",
        "SetupServiceBusEvents": "integration-agent",
        "ApplyObservabilityTemplates": "devops-agent",
        "RunMicroserviceValidation": "qa-agent",
    }),
    "security-hardening": ("Security", {
        "ScaffoldIdentityService": "developer-agent",
        "DefineRBACModel": "security-agent",
        "InjectSecrets": "devops-agent",
        "ApproveOAuthSettings": None,
        "TestAuthenticationFlow": "qa-agent",
    }),
    "testing-plan": ("Validation", {
        "GenerateTestSuite": "qa-agent",
        "RunUnitTests": "qa-agent",
        "RunCoverageAnalysis": "qa-agent",
        "ValidateResultAndEmitStatus": "qa-agent",
    }),
    "cicd-pipeline": ("Pipeline", {
        "ApplyPipelineYamlTemplate": "devops-agent",
        "ConfigureDockerBuild": "devops-agent",
        "TriggerPipelineRun": "devops-agent",
        "CapturePipelineStatus": "qa-agent",
    }),
    "infrastructure-provisioning": ("Deployment", {
        "ApplyInfrastructureTemplates": "devops-agent",
        "ProvisionResources": "devops-agent",
        "ApproveProductionDeployment": None,
        "ValidateDeployedResources": "devops-agent",
    }),
    "observability-setup": ("Observability", {
        "ApplyObservabilityDashboards": "devops-agent",
        "ConfigureAlerts": "devops-agent",
    }),
    "finalization": ("DeliveryComplete", {
        "CollectDeliveryArtifacts": "cleanup-agent",
        "CleanupWorkspace": "cleanup-agent",
        "GenerateDeliverySummary": "cleanup-agent",
    }),
}  # fmt: skip


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.stem)
def test_every_flow_file_loads_and_builds(path: Path) -> None:
    flow = load_flow(path)
    params = {n: f"<{n}>" for n in flow.parameters}
    graph = flow.build_graph(params, project_id="proj-1", tenant_id="t1", at="2025-05-05T00:00:00Z")
    assert graph.flow == flow.name and graph.phase is flow.phase
    assert len(graph) == len(flow.tasks)
    assert graph.next_executable_tasks(), "a flow needs at least one root task"
    # walking the flow to the end works
    while not graph.is_finished():
        for task in graph.next_executable_tasks():
            graph.mark_in_progress(task.task_id, at="2025-05-05T00:00:01Z")
            graph.mark_completed(task.task_id, at="2025-05-05T00:00:02Z")
    assert graph.count(TaskStatus.COMPLETED) == len(flow.tasks)


def test_catalog_matches_seed_tasks_and_agents() -> None:
    catalog = load_catalog(known_agents=AGENT_IDS)
    assert set(catalog.flows) == set(EXPECTED)
    for name, (phase, tasks) in EXPECTED.items():
        flow = catalog.flow(name)
        assert flow.phase.value == phase
        assert {t.type: t.agent_id for t in flow.tasks} == tasks


def test_seed_specific_details() -> None:
    c = default_catalog()
    boot = {t.task_id: t for t in c.flow("project-bootstrap").tasks}
    assert set(boot["PlanMicroservices"].depends_on) == {
        "GenerateVisionPlan",
        "GenerateDomainModel",
    }
    assert boot["PlanMicroservices"].fallback_agent == "basic-planner-agent"
    human = boot["ApproveDomainModel"].human
    assert human is not None
    assert (human.required_role, human.options, human.fallback_action) == (
        "Architect", ["Approve", "Edit", "Reject"], "continue",
    )  # fmt: skip
    assert boot["ApproveDomainModel"].depends_on == ["PlanMicroservices"]
    ms = {t.task_id: t for t in c.flow("microservice-assembly").tasks}
    assert ms["SetupServiceBusEvents"].optional
    assert set(ms["RunMicroserviceValidation"].depends_on) == {
        "ConfigureApiGateway", "SetupServiceBusEvents", "ApplyObservabilityTemplates",
    }  # fmt: skip
    assert "template-microservice-cleanarch" in ms["ApplyMicroserviceTemplate"].templates
    infra = {t.task_id: t for t in c.flow("infrastructure-provisioning").tasks}
    approve = infra["ApproveProductionDeployment"].human
    assert approve is not None and (approve.required_role, approve.fallback_action) == (
        "Admin", "abort",
    )  # fmt: skip
    sec = {t.task_id: t for t in c.flow("security-hardening").tasks}
    assert sec["ApproveOAuthSettings"].human is not None
    assert sec["InjectSecrets"].inputs["secrets"]["OAuthClientSecret"].startswith("@vault:")
    assert {t.task_id: t.optional for t in c.flow("testing-plan").tasks}["RunCoverageAnalysis"]


def test_parameters_are_substituted_and_required() -> None:
    flow = default_catalog().flow("microservice-assembly")
    g = flow.build_graph({"serviceName": "orders", "microserviceId": "svc-orders"})
    t = g.task("ApplyMicroserviceTemplate")
    assert t.inputs == {
        "serviceName": "orders", "microserviceId": "svc-orders",
        "namespace": "connectsoft.svc.orders",
    }  # fmt: skip
    assert t.retry_policy is not None and t.timeout_sec == 900  # flow defaults applied
    assert g.task("RunMicroserviceValidation").timeout_sec == 1800  # own value wins
    assert g.parameters["serviceName"] == "orders"
    with pytest.raises(DomainError, match="missing parameter\\(s\\) serviceName, microserviceId"):
        flow.build_graph({})
    # @vault references are left for an activity to resolve
    sec = default_catalog().flow("security-hardening").build_graph(project_id="p")
    assert sec.task("InjectSecrets").inputs["secrets"]["OAuthClientSecret"] == "@vault:auth-secret"
    assert sec.task("ScaffoldIdentityService").inputs["projectId"] == "p"


def test_human_checkpoints_get_no_agent_timeout() -> None:
    g = default_catalog().flow("project-bootstrap").build_graph(project_id="p")
    h = g.task("ApproveDomainModel")
    assert h.is_human and h.agent_id is None and h.timeout_sec is None
    assert h.effective_timeout_sec(900) == 7200


def test_fan_out_one_instance_per_service() -> None:
    planned = plan_microservice_flows(
        [{"microserviceId": "svc-orders", "name": "orders"}, {"id": "svc-auth", "name": "auth"},
         {"microserviceId": "svc-orders", "name": "orders"}],
        project_id="proj-1",
    )  # fmt: skip
    assert [p.instance_id for p in planned] == [
        "proj-1:microservice-assembly:svc-orders",
        "proj-1:microservice-assembly:svc-auth",
    ]
    graph = planned[1].graph()
    assert graph.task("ConfigureApiGateway").inputs == {"serviceName": "auth"}
    with pytest.raises(DomainError, match=r"services\[0\]: needs microserviceId and name"):
        plan_microservice_flows([{"name": "x"}], project_id="p")


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


GOOD_TASK = "tasks:\n  - {taskId: a, type: RunUnitTests, agentId: qa-agent}\n"


@pytest.mark.parametrize(
    "text,message",
    [
        ("name: bad\nphase: Validation\n" + GOOD_TASK, "must match the file name"),
        ("name: x\nphase: Lunch\n" + GOOD_TASK, "phase"),
        ("name: x\nphase: Validation\ntasks: []\n", "tasks"),
        ("name: x\nphase: Validation\ntasks:\n  - {taskId: a, type: T}\n", "needs an agentId"),
        (
            "name: x\nphase: Validation\ntasks:\n"
            "  - {taskId: a, type: T, agentId: q, dependsOn: [b]}\n"
            "  - {taskId: b, type: T, agentId: q, dependsOn: [a]}\n",
            "cycle: ",
        ),
        (
            "name: x\nphase: Planning\ntasks:\n  - {taskId: a, type: ApplyX, agentId: q}\n",
            "not allowed in phase Planning",
        ),
        (
            "name: x\nphase: Validation\ntasks:\n"
            "  - {taskId: a, type: T, agentId: q, inputs: {s: '${nope}'}}\n",
            "undeclared parameter",
        ),
        ("name: x\nphase: [unclosed\n", "invalid YAML"),
        ("- just\n- a list\n", "top level must be a mapping"),
    ],
)
def test_bad_flow_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FlowDefinitionError, match=message):
        load_flow(write(tmp_path, "x.yaml", text))


def test_catalog_cross_checks(tmp_path: Path) -> None:
    for f in REPO_FLOWS_DIR.glob("*.yaml"):
        if f.name != "finalization.yaml":
            (tmp_path / f.name).write_text(f.read_text())
    with pytest.raises(FlowDefinitionError, match="route starts unknown flow 'finalization'"):
        load_catalog(tmp_path)
    (tmp_path / "finalization.yaml").write_text((REPO_FLOWS_DIR / "finalization.yaml").read_text())
    load_catalog(tmp_path)
    with pytest.raises(FlowDefinitionError, match="unknown agent 'cleanup-agent'"):
        load_catalog(tmp_path, known_agents=[a for a in AGENT_IDS if a != "cleanup-agent"])
    with pytest.raises(FlowDefinitionError, match="does not exist"):
        load_catalog(tmp_path / "nope")


def test_parameter_defaults_and_optional(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "x.yaml",
        "name: x\nphase: Validation\ninstanceKey: '${suite}'\n"
        "parameters:\n  suite: {default: unit}\n  note: {required: false}\n"
        "tasks:\n  - {taskId: a, type: RunUnitTests, agentId: qa-agent, "
        "inputs: {suite: '${suite}', n: 3}}\n",
    )
    flow = load_flow(path)
    g = flow.build_graph({})
    assert g.task("a").inputs == {"suite": "unit", "n": 3}
    assert flow.instance_key_for(flow.resolve_parameters({})) == "unit"
    assert flow.task_types() == ["RunUnitTests"]


@pytest.mark.parametrize(
    "task,message",
    [
        (
            "{taskId: a, type: T, agentId: q, human: {title: t}}",
            "a human checkpoint has no agentId",
        ),
        ("{taskId: a, type: T, agentId: q, retryPolicy: {maxAttempts: 0}}", "maxAttempts"),
    ],
)
def test_bad_task_definitions(tmp_path: Path, task: str, message: str) -> None:
    with pytest.raises(FlowDefinitionError, match=message):
        load_flow(write(tmp_path, "x.yaml", f"name: x\nphase: Validation\ntasks:\n  - {task}\n"))


def test_undeclared_instance_key(tmp_path: Path) -> None:
    text = "name: x\nphase: Validation\ninstanceKey: '${svc}'\n" + GOOD_TASK
    with pytest.raises(FlowDefinitionError, match="instanceKey uses undeclared"):
        load_flow(write(tmp_path, "x.yaml", text))


def test_catalog_lookup_and_phase_index() -> None:
    c = default_catalog()
    with pytest.raises(DomainError, match="unknown flow 'nope'; known flows: cicd-pipeline"):
        c.flow("nope")
    assert [f.name for f in c.flows_for_phase("SecurityPhase")] == ["security-hardening"]
    assert c.flow("project-bootstrap").agents() == {
        "vision-architect-agent", "enterprise-architect-agent", "planner-agent",
        "basic-planner-agent",
    }  # fmt: skip


def test_lifecycle_file_errors(tmp_path: Path) -> None:
    from podium.domain.flows import load_lifecycle

    text = (REPO_FLOWS_DIR / "lifecycle.yaml").read_text()
    path = write(
        tmp_path, "lifecycle.yaml", text.replace("  - {from: Initialization, to: Planning}\n", "")
    )
    with pytest.raises(
        FlowDefinitionError, match="no transition rule leaves phase\\(s\\) Initialization"
    ):
        load_lifecycle(path)
    path = write(tmp_path, "lifecycle.yaml", text + "  - {from: Planning, to: Assembly}\n")
    with pytest.raises(FlowDefinitionError, match="two transition rules leave phase Planning"):
        load_lifecycle(path)
    path = write(
        tmp_path,
        "lifecycle.yaml",
        text.replace("requiredFlows: [testing-plan]", "requiredFlows: [qa]"),
    )
    rules = load_lifecycle(path)
    from podium.domain.flows import FlowCatalog, load_routing

    flows = {f: default_catalog().flow(f) for f in default_catalog().flows}
    with pytest.raises(FlowDefinitionError, match="rule requires unknown flow 'qa'"):
        FlowCatalog(flows, rules, load_routing(REPO_FLOWS_DIR / "routing.yaml"))


def test_validator_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from podium.domain.__main__ import main

    assert main([]) == 0
    out = capsys.readouterr().out
    assert "project-bootstrap" in out and "lifecycle rules=8" in out
    for f in REPO_FLOWS_DIR.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "testing-plan.yaml").write_text("name: testing-plan\nphase: Lunch\n")
    assert main([str(tmp_path)]) == 1
    assert "testing-plan.yaml" in capsys.readouterr().err
