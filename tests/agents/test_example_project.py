"""The example project through every built-in agent, in flow order, in one workspace.

This is the key proof of the agents: the developer agent's generated services are run by the
qa agent with pytest in a subprocess, and their own tests pass with real coverage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from podium.agents import builtin_workers
from tests.agents.conftest import copy_request, make_runner, outputs

SERVICES = ["catalog", "orders", "customers"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the whole factory sequence once; tests inspect the answers and the workspace."""
    workspace = tmp_path_factory.mktemp("example") / "workspace"
    copy_request(workspace)
    sent: list[dict[str, Any]] = []
    run = make_runner(builtin_workers(), workspace, sent)
    answers: dict[str, Any] = {}

    def step(key: str, agent: str, task_type: str, **inputs: Any) -> None:
        answers[key] = run(agent, task_type, **inputs)

    step("vision", "vision-architect-agent", "GenerateVisionPlan")
    step("domain", "enterprise-architect-agent", "GenerateDomainModel")
    step("plan", "planner-agent", "PlanMicroservices")
    for name in SERVICES:
        step(f"dev:{name}", "developer-agent", "ApplyMicroserviceTemplate", serviceName=name)
        step(f"gw:{name}", "gateway-agent", "ConfigureApiGateway", serviceName=name)
        step(f"events:{name}", "integration-agent", "SetupServiceBusEvents", serviceName=name)
        step(f"obs:{name}", "devops-agent", "ApplyObservabilityTemplates", serviceName=name)
        step(f"qa:{name}", "qa-agent", "RunMicroserviceValidation", serviceName=name)
    step("identity", "developer-agent", "ScaffoldIdentityService")
    step("rbac", "security-agent", "DefineRBACModel")
    answers["secrets"] = run("devops-agent", "InjectSecrets",
                             config={"ServiceBusConnectionString": "Endpoint=sb://resolved-value"})
    step("auth", "qa-agent", "TestAuthenticationFlow")
    step("suite", "qa-agent", "GenerateTestSuite", serviceName="orders")
    step("unit", "qa-agent", "RunUnitTests", serviceName="orders")
    step("judge", "qa-agent", "ValidateResultAndEmitStatus")
    step("coverage", "qa-agent", "RunCoverageAnalysis")
    step("pipeline", "devops-agent", "ApplyPipelineYamlTemplate")
    step("docker", "devops-agent", "ConfigureDockerBuild")
    step("trigger", "devops-agent", "TriggerPipelineRun")
    step("capture", "qa-agent", "CapturePipelineStatus")
    step("infra", "devops-agent", "ApplyInfrastructureTemplates")
    step("provision", "devops-agent", "ProvisionResources")
    step("validate", "devops-agent", "ValidateDeployedResources")
    step("dashboards", "devops-agent", "ApplyObservabilityDashboards")
    step("alerts", "devops-agent", "ConfigureAlerts")
    step("cleanup", "cleanup-agent", "CleanupWorkspace")
    step("collect", "cleanup-agent", "CollectDeliveryArtifacts")
    step("summary", "cleanup-agent", "GenerateDeliverySummary")
    return {"workspace": workspace, "answers": answers, "sent": sent}


def _read(project: dict[str, Any], relative: str) -> Any:
    return json.loads((project["workspace"] / relative).read_text())


def test_every_task_completes_and_declares_existing_artifacts(project) -> None:
    for key, answer in project["answers"].items():
        payload = answer["payload"]
        assert answer["eventType"] == "AgentTaskCompleted", (key, payload)
        assert payload["status"] == "Success"
        for artifact in payload["artifacts"]:
            assert (project["workspace"] / artifact).is_file(), (key, artifact)


def test_every_task_was_acknowledged_before_its_answer(project) -> None:
    by_task: dict[str, list[str]] = {}
    for message in project["sent"]:
        by_task.setdefault(message["payload"]["taskId"], []).append(message["eventType"])
    for events in by_task.values():
        assert events[0] == "AgentTaskAcknowledged"
        assert events[-1] == "AgentTaskCompleted"


def test_plan_has_three_valid_microservices(project) -> None:
    assert outputs(project["answers"]["plan"])["services"] == SERVICES
    plan = _read(project, "plan/microservices.json")
    orders = next(s for s in plan["services"] if s["name"] == "orders")
    assert orders["dependsOn"] == ["customers", "catalog"]
    assert orders["requiresAuth"] is True
    assert orders["subscribes"] == ["CustomerDeleted", "ProductDeleted"]
    vision = _read(project, "plan/vision.json")
    assert vision["systemName"] == "ContosoShop"
    model = _read(project, "plan/domain-model.json")
    order_line = next(e for e in model["entities"] if e["name"] == "OrderLine")
    assert {"name": "quantity", "type": "integer", "required": True} in order_line["fields"]
    assert {"from": "OrderLine", "to": "Order", "via": "orderId", "cardinality": "many-to-one",
            "crossContext": False} in model["relationships"]


@pytest.mark.parametrize("name", SERVICES)
def test_generated_service_tests_pass_with_coverage(project, name) -> None:
    result = outputs(project["answers"][f"qa:{name}"])
    assert result["status"] == "Validated"
    assert result["failed"] == 0 and result["errors"] == 0
    assert result["passed"] >= 10
    assert result["coverage"] >= 90
    on_disk = _read(project, f"qa/{name}/results.json")
    assert on_disk["passed"] == result["passed"] and on_disk["exitCode"] == 0
    assert (project["workspace"] / f"qa/{name}/junit.xml").is_file()


def test_generated_service_layout_and_contract(project) -> None:
    base: Path = project["workspace"] / "services/orders"
    for relative in ("app/api.py", "app/domain.py", "app/repository.py", "app/auth.py",
                     "tests/test_api.py", "Dockerfile", "README.md", "requirements.txt"):
        assert (base / relative).is_file(), relative
    contract = json.loads((base / "openapi.json").read_text())
    assert set(contract["paths"]) == {"/health", "/orders", "/orders/{item_id}",
                                      "/order-lines", "/order-lines/{item_id}"}
    assert contract["security"] == [{"bearer": []}]
    assert not (project["workspace"] / "services/catalog/app/auth.py").exists()


def test_identity_and_rbac(project) -> None:
    rbac = _read(project, "security/rbac.json")
    assert rbac["roles"] == ["Admin", "User", "QA"]
    assert "orders.write" in rbac["scopes"] and "identity.profile" in rbac["scopes"]
    assert "CanViewOrders" in rbac["claims"]
    assert _read(project, "services/identity/app/rbac.json") == rbac
    auth = outputs(project["answers"]["auth"])
    assert auth["accessControlStatus"] == "Passed"
    assert auth["protectedServices"] == ["orders", "customers"]


def test_gateway_and_events(project) -> None:
    routes = _read(project, "gateway/routes.json")["routes"]
    assert [r["service"] for r in routes] == ["catalog", "identity", "orders"]  # customers internal
    assert next(r for r in routes if r["service"] == "orders")["requiresAuth"] is True
    events = _read(project, "services/orders/events.json")
    assert [s["event"] for s in events["subscriptions"]] == ["CustomerDeleted", "ProductDeleted"]
    assert {"event": "OrderCreated", "topic": "orders-events", "entity": "Order"} in \
        events["publishes"]


def test_pipelines_infra_and_simulated_runs(project) -> None:
    for name in SERVICES:
        document = yaml.safe_load(
            (project["workspace"] / f"pipelines/{name}/azure-pipelines.yml").read_text())
        assert [s["stage"] for s in document["stages"]] == ["Test", "Coverage", "Build", "Publish"]
        assert _read(project, f"pipelines/{name}/run.json")["status"] == "Succeeded"
    assert outputs(project["answers"]["capture"])["status"] == "Success"
    bicep = (project["workspace"] / "infra/main.bicep").read_text()
    assert bicep.count("Microsoft.App/containerApps@") == 4  # 3 services + identity
    resources = _read(project, "deploy/resources.json")
    assert resources["simulated"] is True
    assert "contoso-shop-orders" in {r["name"] for r in resources["resources"]}
    assert outputs(project["answers"]["validate"])["containerApps"] == [
        "contoso-shop-catalog", "contoso-shop-customers", "contoso-shop-identity",
        "contoso-shop-orders"]


def test_qa_judgement_and_delivery(project) -> None:
    judged = outputs(project["answers"]["judge"])
    assert judged["status"] == "QAVerified" and set(judged["statuses"]) == set(SERVICES)
    summary = _read(project, "delivery/summary.json")
    assert summary["allTestsPassed"] is True
    assert [s["name"] for s in summary["services"]] == SERVICES
    manifest = _read(project, "delivery/artifacts.json")
    paths = {a["path"] for a in manifest["artifacts"]}
    assert "services/orders/app/api.py" in paths
    assert not any("__pycache__" in p or ".podium-locks" in p for p in paths)


def test_rerunning_a_task_is_idempotent(project) -> None:
    api = project["workspace"] / "services/orders/app/api.py"
    before = api.read_text()
    run = make_runner(builtin_workers(), project["workspace"], [])
    again = outputs(run("developer-agent", "ApplyMicroserviceTemplate", serviceName="orders",
                        attempt=2))
    assert api.read_text() == before
    assert again["filesGenerated"] == outputs(project["answers"]["dev:orders"])["filesGenerated"]


def test_a_broken_service_fails_validation_permanently(project, tmp_path) -> None:
    """The validation is real: a service whose code is wrong makes the QA task fail."""
    import shutil

    workspace = tmp_path / "ws"
    shutil.copytree(project["workspace"], workspace)
    api = workspace / "services/catalog/app/api.py"
    api.write_text(api.read_text().replace("status_code=201", "status_code=200"))
    answer = make_runner(builtin_workers(), workspace, [])(
        "qa-agent", "RunMicroserviceValidation", serviceName="catalog")
    assert answer["eventType"] == "AgentTaskFailed"
    assert answer["payload"]["permanent"] is True
    assert answer["payload"]["reason"].startswith("TestFailed: 2 failed")
    assert answer["payload"]["details"]["failed"] == 2


def test_hostile_text_in_the_request_cannot_break_generated_code(tmp_path) -> None:
    """Descriptions and names land in docstrings, Dockerfiles and Markdown: they are defused."""
    request = json.loads((Path(__file__).parents[2] / "examples/contoso-shop.json").read_text())
    request["name"] = 'Evil "Shop"\\\n"""; import os'
    context = request["domain"]["boundedContexts"][0]
    context["description"] = 'ends with a quote" \\N{x} """ | pipe'
    context["entities"][0]["description"] = '"""\nraise SystemExit(1)\n"""\\'
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "request.json").write_text(json.dumps(request))
    run = make_runner(builtin_workers(), workspace, [])
    outputs(run("vision-architect-agent", "GenerateVisionPlan"))
    outputs(run("planner-agent", "PlanMicroservices"))
    outputs(run("developer-agent", "ApplyMicroserviceTemplate", serviceName="catalog"))
    result = outputs(run("qa-agent", "RunMicroserviceValidation", serviceName="catalog"))
    assert result["failed"] == 0 and result["passed"] > 0
    assert _read({"workspace": workspace}, "plan/vision.json")["systemName"] == "EvilShopImportOs"


def test_entity_names_the_generated_code_uses_are_refused() -> None:
    from pydantic import ValidationError

    from podium.agents.request import parse_request

    request = json.loads((Path(__file__).parents[2] / "examples/contoso-shop.json").read_text())
    request["domain"]["boundedContexts"][0]["entities"][0]["name"] = "Entity"
    with pytest.raises(ValidationError, match="reserved by the generated code"):
        parse_request(request)


def test_generated_services_run_under_uvicorn(project) -> None:
    """Runnable means runnable: start the service as its Dockerfile does and call it over HTTP."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = project["workspace"] / "services/orders"
    env = {**os.environ, "IDENTITY_SIGNING_KEY": "smoke-test-key", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.api:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        health = None
        for _ in range(100):
            try:
                health = httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None, "the service did not start"
        assert health.json() == {"status": "ok", "service": "orders"}
        assert httpx.get(f"{url}/orders").status_code == 401
        token = subprocess.run(
            [sys.executable, "-c", "from app.auth import issue_token; "
             "print(issue_token({'scopes': ['orders.read', 'orders.write']}))"],
            cwd=base, env=env, capture_output=True, text=True, check=True).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        order = {"customerId": "c-1", "placedAt": "2026-11-25T12:00:00+00:00", "total": 12.5,
                 "status": "placed"}
        created = httpx.post(f"{url}/orders", json=order, headers=headers)
        assert created.status_code == 201
        assert httpx.get(f"{url}/orders", headers=headers).json() == [created.json()]
    finally:
        server.terminate()
        server.wait(10)
        server.stderr.close()


def test_unit_tests_reuse_a_passing_run_on_identical_sources(project, tmp_path) -> None:
    import shutil

    workspace = tmp_path / "ws"
    shutil.copytree(project["workspace"], workspace)
    run = make_runner(builtin_workers(), workspace, [])
    # config written after validation (appsettings) does not invalidate the verdict
    assert (workspace / "services/catalog/appsettings.dev.json").is_file()
    reused = outputs(run("qa-agent", "RunUnitTests", serviceName="catalog"))
    assert reused["reused"] == 1 and reused["passedAll"] is True
    forced = outputs(run("qa-agent", "RunUnitTests", serviceName="catalog", rerun=True,
                         task_id="forced"))
    assert forced["reused"] == 0 and forced["passed"] == reused["passed"]
    api = workspace / "services/catalog/app/api.py"
    api.write_text(api.read_text().replace("status_code=201", "status_code=200"))
    changed = outputs(run("qa-agent", "RunUnitTests", serviceName="catalog", task_id="changed"))
    assert changed["reused"] == 0 and changed["failed"] == 2 and changed["passedAll"] is False


def test_auth_flow_passes_when_the_flow_adds_roles_and_scopes(tmp_path) -> None:
    """security-hardening's DefineRBACModel adds roles/scopes after the identity service was
    scaffolded: the identity service is refreshed and its own tests still pass."""
    request = json.loads((Path(__file__).parents[2] / "examples/contoso-shop.json").read_text())
    request["roles"] = ["Admin", "User"]
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "request.json").write_text(json.dumps(request))
    run = make_runner(builtin_workers(), workspace, [])
    outputs(run("basic-planner-agent", "PlanMicroservices"))
    for name in SERVICES:
        outputs(run("developer-agent", "ApplyMicroserviceTemplate", serviceName=name))
    outputs(run("developer-agent", "ScaffoldIdentityService", serviceName="identity"))
    rbac = outputs(run("security-agent", "DefineRBACModel", roles=["Admin", "User", "QA"],
                       scopes=["api.read", "api.write", "identity.profile"]))
    assert rbac["identityRefreshed"] is True and rbac["roles"] == ["Admin", "User", "QA"]
    auth = outputs(run("qa-agent", "TestAuthenticationFlow"))
    assert auth["testedRoles"] == ["Admin", "User", "QA"]
