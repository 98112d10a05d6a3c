"""The example project goes from ProjectCreated to ProjectDeliveryComplete under the local host:
the generated services' own tests pass, and the audit trail records every phase change, agent
task and approval under the project's one traceId."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from podium.domain.phases import PHASE_ORDER
from tests.factory.conftest import example_request


def test_example_project_is_delivered_traceably(factory):
    state = factory.run_project(example_request())
    pid = state["projectId"]
    errors = [(g["flowId"], n["taskId"], n["error"])
              for g in state["graphs"] for n in g["nodes"] if n["error"]]
    assert state["status"] == "Completed", errors
    assert state["locked"] is True and state["phase"] == "DeliveryComplete"
    assert [p["state"] for p in state["phaseTimeline"]] == ["done"] * len(PHASE_ORDER)
    nodes = [n for g in state["graphs"] for n in g["nodes"]]
    assert nodes and all(n["status"] == "Completed" for n in nodes)

    audit = factory.get(f"/api/projects/{pid}/audit").json()["records"]
    assert {r["traceId"] for r in audit} == {state["traceId"]}
    advanced = [r["phase"] for r in audit if r["type"] == "PhaseAdvanced"]
    assert advanced == [p.value for p in PHASE_ORDER[1:]]
    scheduled = {(r["details"]["flowInstanceId"], r["taskId"])
                 for r in audit if r["type"] == "AgentTaskScheduled"}
    agent_nodes = [n for g in state["graphs"] for n in g["nodes"] if not n["human"]]
    assert len(scheduled) == len(agent_nodes)
    approvals = [r for r in audit if r["type"] == "HumanTaskResponseReceived"]
    human_nodes = [n for g in state["graphs"] for n in g["nodes"] if n["human"]]
    assert len(approvals) == len(human_nodes) == 3
    assert all(r["actor"] == "user:dev" for r in approvals)

    delivery = state["delivery"]
    assert delivery and delivery["artifacts"]
    export = factory.get(f"/api/projects/{pid}/export")
    assert export.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
    assert "delivery/summary.json" in names

    workspace = factory.data_dir / "artifacts" / state["tenantId"] / pid
    services = sorted(p for p in (workspace / "services").iterdir() if p.is_dir())
    assert {p.name for p in services} >= {"catalog", "orders", "customers"}
    for service in services:
        _assert_own_tests_pass(service)
    _assert_no_secret_value_anywhere(factory, audit)


def _assert_no_secret_value_anywhere(factory, audit) -> None:
    """The secrets were resolved (InjectSecrets binds them), yet no value reached orchestration
    history, the broker (events and agent tasks), the stores, the audit trail or the files."""
    values = [v for tenant in json.loads(Path(os.environ["PODIUM_SECRETS_FILE"]).read_text())
              .values() for v in tenant.values()]
    assert values
    accessed = [r for r in audit if "secret" in r["type"].lower() or "Secret" in r["action"]]
    assert accessed, "secret accesses must be audited"
    blobs = [json.dumps(audit).encode()]
    for path in factory.data_dir.rglob("*"):
        if path.is_file():
            blobs.append(path.read_bytes())
    for value in values:
        assert not any(value.encode() in blob for blob in blobs), "a secret value leaked"


def _assert_own_tests_pass(service: Path) -> None:
    """Run a generated service's own test suite, independently of the QA agent's verdict."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-o", "addopts=",
                             "-p", "no:cacheprovider"],
                            cwd=service, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{service.name}: {result.stdout[-2000:]}{result.stderr}"
    assert " passed" in result.stdout


def test_bad_project_requests_get_clear_errors(factory):
    bad = factory.post("/api/projects", {"tenantId": "contoso", "name": "x"})
    assert bad.status_code == 400
    assert any("domain" in p for p in bad.json()["problems"])
    not_json = factory.host.request("POST", "/api/projects", content=b"{nope",
                                    headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]
    reader = factory.post("/api/projects", example_request(), user="user:eve", roles=["Reader"])
    assert reader.status_code == 403
    unknown = factory.get("/api/projects/no-such-project")
    assert unknown.status_code == 404
