"""Fixtures for the agent tests: fresh built-in workers and a workspace holding a request."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from podium.agents import AgentWorker, builtin_workers, scheduled
from podium.agents.examples import example_path

RunTask = Callable[..., dict[str, Any]]


def make_runner(workers: dict[str, AgentWorker], workspace: Path,
                sent: list[dict[str, Any]]) -> RunTask:
    """run(agent, taskType, **inputs) -> the final answer envelope (Completed or Failed)."""

    def run(agent_id: str, task_type: str, *, attempt: int = 1, config: dict | None = None,
            task_id: str | None = None, **inputs: Any) -> dict[str, Any]:
        envelope = scheduled(
            task_id=task_id or f"{task_type}-{inputs.get('serviceName', 'all')}",
            task_type=task_type, agent_id=agent_id, workspace=str(workspace), inputs=inputs,
            config=config, attempt=attempt, trace_id="trace-test", tenant_id="contoso",
            project_id="contoso-shop")
        outcome = workers[agent_id].process(envelope, sent.append)
        assert outcome.sent, f"{agent_id} sent nothing: {outcome}"
        return outcome.sent[-1]

    return run


def copy_request(workspace: Path, name: str = "contoso-shop") -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    shutil.copy(example_path(name), workspace / "request.json")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    copy_request(ws)
    return ws


@pytest.fixture(autouse=True)
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agents' tests are deterministic: no model, whatever the developer's shell says."""
    monkeypatch.delenv("PODIUM_LLM_BASE_URL", raising=False)


@pytest.fixture
def workers() -> dict[str, AgentWorker]:
    return builtin_workers()


@pytest.fixture
def sent() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def run(workers: dict[str, AgentWorker], workspace: Path, sent: list[dict[str, Any]]) -> RunTask:
    return make_runner(workers, workspace, sent)


def outputs(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["eventType"] == "AgentTaskCompleted", json.dumps(answer["payload"], indent=1)
    return answer["payload"]["outputs"]


def plan_project(run: RunTask) -> None:
    """Run the three planning tasks of the bootstrap flow."""
    outputs(run("vision-architect-agent", "GenerateVisionPlan"))
    outputs(run("enterprise-architect-agent", "GenerateDomainModel"))
    outputs(run("planner-agent", "PlanMicroservices"))
