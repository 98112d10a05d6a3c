"""The worker speaks the domain's event contracts (podium.domain.contracts) both ways."""

from __future__ import annotations

from typing import Any

import pytest

from podium.agents import AgentWorker, PermanentFailure
from podium.domain.contracts import new_event, parse_event
from podium.domain.policies import ErrorClass, classify_error


def domain_task(tmp_path, task_type: str, attempt: int = 1) -> dict[str, Any]:
    """An AgentTaskScheduled as the orchestrators build it, plus the workspace extra."""
    event = new_event(
        "AgentTaskScheduled", tenant_id="contoso", project_id="contoso-shop",
        trace_id="trace-42", source="orchestrator:microservice-assembly",
        event_id="evt-1", timestamp="2026-11-25T12:00:00Z", origin="assembly/orders/M1",
        microservice_id="svc-orders",
        payload={"taskId": "M1", "agentId": "echo-agent", "taskType": task_type,
                 "inputs": {"serviceName": "orders"}, "attempt": attempt, "timeoutSec": 60,
                 "instanceId": "assembly-orders", "flow": "microservice-assembly",
                 "phase": "Assembly", "workspace": str(tmp_path)})
    return event.to_dict()


@pytest.fixture
def worker() -> AgentWorker:
    worker = AgentWorker("echo-agent")
    worker.add_handler("Echo", lambda t, c: {"service": t.inputs["serviceName"],
                                             "flow": t.flow_id, "phase": t.phase})

    def invalid(task, ctx) -> None:
        raise PermanentFailure("InvalidDomainPlan: no entities", {"service": "orders"})

    def tests_failed(task, ctx) -> None:
        raise PermanentFailure("TestFailed: 2 failed", {"failed": 2})

    worker.add_handler("Invalid", invalid)
    worker.add_handler("Tests", tests_failed)
    return worker


def test_results_parse_as_domain_events_and_echo_the_instance(worker, tmp_path) -> None:
    sent: list[dict[str, Any]] = []
    assert worker.process(domain_task(tmp_path, "Echo"), sent.append).status == "completed"
    events = [parse_event(m) for m in sent]
    assert [e.event_type for e in events] == ["AgentTaskAcknowledged", "AgentTaskCompleted"]
    done = events[1]
    assert done.payload.instance_id == "assembly-orders"
    assert done.payload.outputs == {"service": "orders", "flow": "microservice-assembly",
                                    "phase": "Assembly"}
    assert (done.trace_id, done.tenant_id, done.project_id) == (
        "trace-42", "contoso", "contoso-shop")
    assert (done.origin, done.microservice_id) == ("assembly/orders/M1", "svc-orders")


@pytest.mark.parametrize(("task_type", "code", "klass"), [
    ("Invalid", "InvalidDomainPlan", ErrorClass.FATAL),
    ("Tests", "TestFailed", ErrorClass.PARTIALLY_RECOVERABLE),
])
def test_failures_classify_as_the_domain_expects(worker, tmp_path, task_type, code,
                                                 klass) -> None:
    sent: list[dict[str, Any]] = []
    worker.process(domain_task(tmp_path, task_type), sent.append)
    failed = parse_event(sent[-1]).payload
    assert failed.error_code == code
    assert classify_error(failed.error_code, failed.error_class) == klass


def test_transient_failures_are_recoverable(tmp_path) -> None:
    worker = AgentWorker("echo-agent")
    worker.add_handler("Echo", lambda t, c: 1 / 0)
    sent: list[dict[str, Any]] = []
    worker.process(domain_task(tmp_path, "Echo"), sent.append)
    failed = parse_event(sent[-1]).payload
    assert classify_error(failed.error_code, failed.error_class) == ErrorClass.RECOVERABLE
