"""The worker protocol: acknowledge, run, answer; failures; duplicates; bad messages."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from podium.agents import (
    AgentContext,
    AgentResult,
    AgentTask,
    AgentWorker,
    PermanentFailure,
    TransientFailure,
    scheduled,
)
from podium.agents.memo import ProcessedMemo
from podium.agents.messages import result_event_id


def task(workspace: Path, *, task_type: str = "Echo", attempt: int = 1, task_id: str = "t1",
         agent_id: str = "echo-agent", **inputs: Any) -> dict[str, Any]:
    return scheduled(task_id=task_id, task_type=task_type, agent_id=agent_id,
                     workspace=str(workspace), inputs=inputs, attempt=attempt,
                     trace_id="trace-1", tenant_id="tenant-a", project_id="proj-1",
                     instance_id="instance-9")


@pytest.fixture(autouse=True)
def no_workspace_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODIUM_WORKSPACE_ROOT", raising=False)
    monkeypatch.delenv("PODIUM_DATA_DIR", raising=False)


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def worker(calls: list[str]) -> AgentWorker:
    worker = AgentWorker("echo-agent")

    @worker.handler("Echo")
    def echo(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
        calls.append(task.task_id)
        ctx.write_json("out/echo.json", task.inputs)
        return {"echo": task.inputs}

    @worker.handler("Boom")
    def boom(task: AgentTask, ctx: AgentContext) -> None:
        raise RuntimeError("disk on fire")

    @worker.handler("Invalid")
    def invalid(task: AgentTask, ctx: AgentContext) -> None:
        raise PermanentFailure("InvalidDomainPlan", ["services[0].name missing"])

    @worker.handler("Flaky")
    def flaky(task: AgentTask, ctx: AgentContext) -> None:
        raise TransientFailure("Throttled: try later", {"retryAfterSec": 5})

    @worker.handler("Async")
    async def run_async(task: AgentTask, ctx: AgentContext) -> AgentResult:
        await asyncio.sleep(0)
        return AgentResult(outputs={"async": True}, artifacts=[])

    @worker.handler("Escape")
    def escape(task: AgentTask, ctx: AgentContext) -> None:
        ctx.write_text("../outside.txt", "no")

    @worker.handler("NotJson")
    def not_json(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
        return {"when": object()}

    return worker


def test_acknowledges_then_completes_with_outputs_and_artifacts(worker, tmp_path) -> None:
    sent: list[dict[str, Any]] = []
    outcome = worker.process(task(tmp_path, value=42), sent.append)
    assert outcome.status == "completed"
    assert [m["eventType"] for m in sent] == ["AgentTaskAcknowledged", "AgentTaskCompleted"]
    ack, done = sent
    assert ack["payload"] == {"taskId": "t1", "agentId": "echo-agent", "attempt": 1,
                              "instanceId": "instance-9"}
    assert done["payload"]["status"] == "Success"
    assert done["payload"]["outputs"] == {"echo": {"value": 42}}
    assert done["payload"]["artifacts"] == ["out/echo.json"]
    assert (tmp_path / "out/echo.json").read_text().strip().startswith("{")
    for message in sent:
        assert (message["traceId"], message["tenantId"], message["projectId"]) == (
            "trace-1", "tenant-a", "proj-1")
        assert message["source"] == "echo-agent"
    assert done["eventId"] == result_event_id("AgentTaskCompleted", "t1", "trace-1", 1)


def test_exception_becomes_transient_failure(worker, tmp_path) -> None:
    sent: list[dict[str, Any]] = []
    outcome = worker.process(task(tmp_path, task_type="Boom"), sent.append)
    assert outcome.status == "failed"
    failed = sent[-1]["payload"]
    assert failed["reason"] == "RuntimeError: disk on fire"
    assert failed["permanent"] is False
    assert (failed["errorCode"], failed["errorClass"]) == ("RuntimeError", "Recoverable")


def test_permanent_failure_is_marked_permanent_with_details(worker, tmp_path) -> None:
    sent: list[dict[str, Any]] = []
    worker.process(task(tmp_path, task_type="Invalid"), sent.append)
    failed = sent[-1]["payload"]
    assert failed["permanent"] is True
    assert failed["details"] == ["services[0].name missing"]
    assert (failed["errorCode"], failed["errorClass"]) == ("InvalidDomainPlan", "Fatal")


def test_transient_failure_keeps_its_details(worker, tmp_path) -> None:
    sent: list[dict[str, Any]] = []
    worker.process(task(tmp_path, task_type="Flaky"), sent.append)
    failed = sent[-1]["payload"]
    assert (failed["permanent"], failed["errorCode"], failed["details"]) == (
        False, "Throttled", {"retryAfterSec": 5})


def test_async_handler_runs_from_sync_and_async_callers(worker, tmp_path) -> None:
    sent: list[dict[str, Any]] = []
    assert worker.process(task(tmp_path, task_type="Async"), sent.append).status == "completed"
    assert sent[-1]["payload"]["outputs"] == {"async": True}

    async def from_loop() -> str:
        inner: list[dict[str, Any]] = []
        sync_call = worker.process(task(tmp_path, task_type="Async", task_id="t2"), inner.append)
        async_call = await worker.aprocess(task(tmp_path, task_id="t3", value=1), inner.append)
        return f"{sync_call.status}/{async_call.status}"

    assert asyncio.run(from_loop()) == "completed/completed"


def test_unknown_task_type_fails_permanently_after_ack(worker, tmp_path) -> None:
    sent: list[dict[str, Any]] = []
    worker.process(task(tmp_path, task_type="Nope"), sent.append)
    assert [m["eventType"] for m in sent] == ["AgentTaskAcknowledged", "AgentTaskFailed"]
    assert sent[-1]["payload"]["reason"].startswith("UnknownTaskType: echo-agent does not handle")
    assert sent[-1]["payload"]["permanent"] is True


def test_workspace_escape_and_non_json_outputs_fail_permanently(worker, tmp_path) -> None:
    sent: list[dict[str, Any]] = []
    worker.process(task(tmp_path / "ws", task_type="Escape"), sent.append)
    assert sent[-1]["payload"]["reason"].startswith("WorkspaceViolation: path escapes")
    assert not (tmp_path / "outside.txt").exists()
    worker.process(task(tmp_path, task_type="NotJson", task_id="t2"), sent.append)
    assert sent[-1]["payload"]["reason"].startswith("InvalidResult: outputs are not JSON")


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda e: e.update(eventType="AgentTaskCompleted"), "eventType must be"),
    (lambda e: e.pop("traceId"), "envelope is missing traceId"),
    (lambda e: e.update(payload="x"), "payload must be a JSON object"),
    (lambda e: e["payload"].pop("taskId"), "payload.taskId must be a non-empty string"),
])
def test_unattributable_messages_are_rejected_without_answer(worker, tmp_path, mutate,
                                                             expected) -> None:
    envelope = task(tmp_path)
    mutate(envelope)
    sent: list[dict[str, Any]] = []
    outcome = worker.process(envelope, sent.append)
    assert outcome.status == "rejected" and expected in (outcome.error or "")
    assert sent == []


def test_non_object_message_is_rejected(worker) -> None:
    sent: list[dict[str, Any]] = []
    assert worker.process(["not", "an", "envelope"], sent.append).status == "rejected"
    assert sent == []


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda p: p.update(attempt=0), "payload.attempt must be an integer >= 1"),
    (lambda p: p.update(workspace="relative/dir"), "must be an absolute path"),
    (lambda p: p.update(workspace=""), "payload.workspace (or inputs.workspace"),
    (lambda p: p.update(timeoutSec=-1), "payload.timeoutSec must be a positive number"),
    (lambda p: p.update(inputs=[]), "payload.inputs must be a JSON object"),
])
def test_attributable_invalid_tasks_get_a_permanent_failure(worker, tmp_path, mutate,
                                                            expected) -> None:
    envelope = task(tmp_path)
    mutate(envelope["payload"])
    sent: list[dict[str, Any]] = []
    outcome = worker.process(envelope, sent.append)
    assert outcome.status == "failed"
    assert [m["eventType"] for m in sent] == ["AgentTaskFailed"]
    assert expected in sent[0]["payload"]["reason"]
    assert sent[0]["payload"]["permanent"] is True
    assert sent[0]["payload"]["instanceId"] == "instance-9"


def test_task_for_another_agent_is_rejected(worker, tmp_path) -> None:
    sent: list[dict[str, Any]] = []
    outcome = worker.process(task(tmp_path, agent_id="qa-agent"), sent.append)
    assert outcome.status == "rejected" and outcome.error.startswith("WrongAgent")
    assert sent == []


def test_duplicate_delivery_runs_once_and_repeats_the_answer(worker, calls, tmp_path) -> None:
    sent: list[dict[str, Any]] = []
    envelope = task(tmp_path, value=1)
    first = worker.process(envelope, sent.append)
    second = worker.process(envelope, sent.append)
    assert (first.status, second.status) == ("completed", "duplicate")
    assert calls == ["t1"]
    assert sent[-1] == sent[1]  # the same Completed (same eventId) again, no second ack
    retry = worker.process(task(tmp_path, attempt=2, value=1), sent.append)
    assert retry.status == "completed" and calls == ["t1", "t1"]  # a retry is new work


def test_memo_in_sqlite_survives_a_new_worker(calls, tmp_path) -> None:
    db = tmp_path / "memo.sqlite"

    def make() -> AgentWorker:
        worker = AgentWorker("echo-agent", memo=ProcessedMemo(sqlite_path=db))
        worker.add_handler("Echo", lambda t, c: calls.append(t.task_id) or {"ok": True})
        return worker

    sent: list[dict[str, Any]] = []
    make().process(task(tmp_path), sent.append)
    restarted = make()
    assert restarted.process(task(tmp_path), sent.append).status == "duplicate"
    assert calls == ["t1"]
    assert sent[-1]["payload"]["outputs"] == {"ok": True}


def test_memo_lru_forgets_oldest() -> None:
    memo = ProcessedMemo(capacity=2)
    for key in ("a", "b", "c"):
        assert memo.begin(key) == ("new", None)
        memo.finish(key, {"k": key})
    assert memo.begin("a") == ("new", None)
    assert memo.begin("c") == ("done", {"k": "c"})


def test_concurrent_duplicate_is_not_run_twice(tmp_path) -> None:
    started, release = threading.Event(), threading.Event()
    runs: list[int] = []
    worker = AgentWorker("echo-agent")

    @worker.handler("Echo")
    def slow(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
        runs.append(1)
        started.set()
        release.wait(5)
        return {}

    sent: list[dict[str, Any]] = []
    thread = threading.Thread(target=worker.process, args=(task(tmp_path), sent.append))
    thread.start()
    assert started.wait(5)
    assert worker.process(task(tmp_path), sent.append).status == "in-flight"
    release.set()
    thread.join(5)
    assert runs == [1]


def test_a_failed_send_leaves_the_task_to_be_redelivered(worker, calls, tmp_path) -> None:
    def broken_send(message: dict[str, Any]) -> None:
        if message["eventType"] == "AgentTaskCompleted":
            raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        worker.process(task(tmp_path), broken_send)
    sent: list[dict[str, Any]] = []
    assert worker.process(task(tmp_path), sent.append).status == "completed"
    assert calls == ["t1", "t1"]


def test_duplicate_registration_is_refused(worker) -> None:
    with pytest.raises(ValueError, match="already handles Echo"):
        worker.add_handler("Echo", lambda t, c: None)


def test_workspace_defaults_to_the_configured_root(worker, tmp_path, monkeypatch) -> None:
    envelope = task(tmp_path, value=1)
    del envelope["payload"]["workspace"]
    sent: list[dict[str, Any]] = []
    monkeypatch.setenv("PODIUM_WORKSPACE_ROOT", str(tmp_path / "root"))
    assert worker.process(envelope, sent.append).status == "completed"
    assert (tmp_path / "root/tenant-a/proj-1/out/echo.json").is_file()
    hostile = dict(envelope, traceId="trace-3", projectId="..")
    assert worker.process(hostile, sent.append).status == "failed"
    assert "cannot name a workspace" in sent[-1]["payload"]["reason"]


def test_workspace_falls_back_to_the_local_hosts_artifact_store(worker, tmp_path,
                                                                 monkeypatch) -> None:
    envelope = task(tmp_path, value=1)
    del envelope["payload"]["workspace"]
    monkeypatch.setenv("PODIUM_DATA_DIR", str(tmp_path / "data"))
    assert worker.process(envelope, [].append).status == "completed"
    assert (tmp_path / "data/artifacts/tenant-a/proj-1/out/echo.json").is_file()


def test_a_shared_memo_does_not_confuse_a_fallback_agent(tmp_path) -> None:
    memo = ProcessedMemo(sqlite_path=tmp_path / "memo.sqlite")
    first, fallback = AgentWorker("planner-agent", memo=memo), AgentWorker(
        "basic-planner-agent", memo=memo)

    def fail(task: AgentTask, ctx: AgentContext) -> None:
        raise PermanentFailure("InvalidDomainPlan: no")

    first.add_handler("PlanMicroservices", fail)
    fallback.add_handler("PlanMicroservices", lambda t, c: {"services": ["a"]})
    sent: list[dict[str, Any]] = []
    for worker in (first, fallback):
        worker.process(scheduled(task_id="T3", task_type="PlanMicroservices",
                                 agent_id=worker.agent_id, workspace=str(tmp_path)), sent.append)
    assert [m["eventType"] for m in sent if m["eventType"] != "AgentTaskAcknowledged"] == [
        "AgentTaskFailed", "AgentTaskCompleted"]


def test_handler_logs_carry_the_tasks_correlation_fields(tmp_path) -> None:
    from podium.observability.logging import current_context

    seen: dict[str, Any] = {}
    worker = AgentWorker("echo-agent")
    worker.add_handler("Echo", lambda t, c: seen.update(current_context()) or {})
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    envelope = task(tmp_path)
    envelope["traceId"] = trace
    assert worker.process(envelope, [].append).status == "completed"
    assert {k: seen[k] for k in ("traceId", "tenantId", "projectId", "taskId", "agentId")} == {
        "traceId": trace, "tenantId": "tenant-a", "projectId": "proj-1", "taskId": "t1",
        "agentId": "echo-agent"}
    assert current_context() == {}


def test_a_task_of_another_tenant_cannot_touch_the_workspace(worker, calls, tmp_path) -> None:
    (tmp_path / "request.json").write_text('{"tenantId": "contoso", "projectId": "shop"}')
    sent: list[dict[str, Any]] = []
    outcome = worker.process(task(tmp_path, value=1), sent.append)  # tenant-a / proj-1
    assert outcome.status == "failed" and calls == []
    failed = sent[-1]["payload"]
    assert failed["errorCode"] == "TenantViolation" and failed["permanent"] is True
    assert failed["errorClass"] == "PolicyViolation"
    assert not (tmp_path / "out").exists()
