"""Failure injection (inputs._fault): how the factory's fault tests make agents misbehave."""

from __future__ import annotations

from typing import Any

import pytest

from podium.agents import AgentWorker, FaultSpec, builtin_workers, parse_fault, scheduled
from podium.agents.examples import example_path
from podium.agents.faults import InvalidFaultSpec


@pytest.fixture
def seen() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def worker(seen: list[dict[str, Any]]) -> AgentWorker:
    worker = AgentWorker("planner-agent")
    worker.add_handler("PlanMicroservices", lambda t, c: seen.append(t.inputs) or {"ok": 1})
    worker.add_handler("Other", lambda t, c: {"other": 1})
    return worker


def send_task(worker: AgentWorker, tmp_path, fault: dict[str, Any] | None, attempt: int = 1,
              task_type: str = "PlanMicroservices") -> tuple[str, list[str], list[dict]]:
    inputs: dict[str, Any] = {"x": 1}
    if fault is not None:
        inputs["_fault"] = fault
    sent: list[dict[str, Any]] = []
    envelope = scheduled(task_id="T3", task_type=task_type, agent_id=worker.agent_id,
                         workspace=str(tmp_path), inputs=inputs, attempt=attempt)
    outcome = worker.process(envelope, sent.append)
    return outcome.status, [m["eventType"] for m in sent], sent


def test_fail_attempts_fail_transiently_then_succeed(worker, tmp_path) -> None:
    fault = {"failAttempts": 2}
    for attempt in (1, 2):
        status, events, sent = send_task(worker, tmp_path, fault, attempt)
        assert (status, events) == ("failed", ["AgentTaskAcknowledged", "AgentTaskFailed"])
        assert sent[-1]["payload"]["permanent"] is False
        assert sent[-1]["payload"]["reason"] == (
            f"InjectedFault: attempt {attempt} of the first 2 fails")
    status, events, _ = send_task(worker, tmp_path, fault, 3)
    assert (status, events) == ("completed", ["AgentTaskAcknowledged", "AgentTaskCompleted"])


def test_permanent_injected_failure(worker, tmp_path) -> None:
    _, _, sent = send_task(worker, tmp_path, {"failAttempts": 1, "permanent": True})
    assert sent[-1]["payload"]["permanent"] is True


def test_silent_agent_sends_nothing_on_any_attempt(worker, seen, tmp_path) -> None:
    for attempt in (1, 2, 5):
        assert send_task(worker, tmp_path, {"silent": True}, attempt)[:2] == ("silent", [])
    assert seen == []


def test_silent_attempts_then_answers(worker, tmp_path) -> None:
    assert send_task(worker, tmp_path, {"silentAttempts": 1}, 1)[1] == []
    assert send_task(worker, tmp_path, {"silentAttempts": 1}, 2)[0] == "completed"


def test_no_result_acknowledges_but_never_answers(worker, seen, tmp_path) -> None:
    status, events, _ = send_task(worker, tmp_path, {"noResult": True})
    assert (status, events) == ("no-result", ["AgentTaskAcknowledged"])
    assert seen == []


def test_duplicate_answers_twice_with_the_same_event_ids(worker, tmp_path) -> None:
    status, events, sent = send_task(worker, tmp_path, {"duplicate": True})
    assert status == "completed"
    assert events == ["AgentTaskAcknowledged", "AgentTaskCompleted",
                      "AgentTaskAcknowledged", "AgentTaskCompleted"]
    assert sent[0] == sent[2] and sent[1] == sent[3]


def test_fault_applies_only_to_named_agents_and_task_types(worker, tmp_path) -> None:
    other_agent = {"silent": True, "agents": ["basic-planner-agent"]}
    assert send_task(worker, tmp_path, other_agent)[0] == "completed"
    other_type = {"silent": True, "taskTypes": ["GenerateDomainModel"]}
    assert send_task(worker, tmp_path, other_type, 2)[0] == "completed"
    mine = {"silent": True, "agents": ["planner-agent"], "taskTypes": ["PlanMicroservices"]}
    assert send_task(worker, tmp_path, mine, 3)[0] == "silent"


def test_fault_block_is_stripped_before_the_handler(worker, seen, tmp_path) -> None:
    send_task(worker, tmp_path, {"delaySec": 0.01})
    assert seen == [{"x": 1}]


@pytest.mark.parametrize("bad", [
    "silent", {"failAttempts": -1}, {"failAttempts": True}, {"silent": "yes"},
    {"agents": [1]}, {"delaySec": "1"}, {"explode": True},
])
def test_invalid_fault_block_fails_the_task_permanently(worker, tmp_path, bad) -> None:
    status, events, sent = send_task(worker, tmp_path, bad)
    assert status == "failed"
    assert sent[-1]["payload"]["reason"].startswith("InvalidTask: _fault")
    assert sent[-1]["payload"]["permanent"] is True
    with pytest.raises(InvalidFaultSpec):
        parse_fault(bad)


def test_programmatic_injection_overrides_inputs(worker, tmp_path) -> None:
    worker.inject_fault(FaultSpec(no_result=True))
    assert send_task(worker, tmp_path, None)[0] == "no-result"
    worker.inject_fault(None)
    assert send_task(worker, tmp_path, None, 2)[0] == "completed"


def test_fallback_planner_answers_when_the_planner_is_silent(tmp_path) -> None:
    """The shape of the factory's silent-agent test: same inputs, the fallback answers."""
    (tmp_path / "request.json").write_text(example_path().read_text())
    workers = builtin_workers()
    fault = {"silent": True, "agents": ["planner-agent"]}
    results: list[dict[str, Any]] = []
    for agent in ("planner-agent", "basic-planner-agent"):
        workers[agent].process(scheduled(
            task_id="T3", task_type="PlanMicroservices", agent_id=agent,
            workspace=str(tmp_path), inputs={"_fault": fault}, tenant_id="contoso",
            project_id="contoso-shop"), results.append)
    assert [(m["source"], m["eventType"]) for m in results] == [
        ("basic-planner-agent", "AgentTaskAcknowledged"),
        ("basic-planner-agent", "AgentTaskCompleted")]
    assert results[-1]["payload"]["outputs"]["services"] == ["catalog", "orders", "customers"]


def test_fault_in_the_project_request_reaches_the_agents(tmp_path) -> None:
    """A fault test only submits a request: the agents read its _fault from request.json."""
    import json

    request = json.loads(example_path().read_text())
    request["_fault"] = {"failAttempts": 1, "agents": ["enterprise-architect-agent"]}
    (tmp_path / "request.json").write_text(json.dumps(request))
    workers = builtin_workers()
    answers: list[dict[str, Any]] = []
    for agent, task_type, attempt in (("vision-architect-agent", "GenerateVisionPlan", 1),
                                      ("enterprise-architect-agent", "GenerateDomainModel", 1),
                                      ("enterprise-architect-agent", "GenerateDomainModel", 2)):
        workers[agent].process(scheduled(task_id=task_type, task_type=task_type,
                                         agent_id=agent, workspace=str(tmp_path),
                                         attempt=attempt, tenant_id="contoso",
                                         project_id="contoso-shop"), answers.append)
    finals = [(m["source"], m["eventType"]) for m in answers
              if m["eventType"] != "AgentTaskAcknowledged"]
    assert finals == [("vision-architect-agent", "AgentTaskCompleted"),
                      ("enterprise-architect-agent", "AgentTaskFailed"),
                      ("enterprise-architect-agent", "AgentTaskCompleted")]
