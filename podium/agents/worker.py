"""The agent worker: one per agent id, a handler per task type, transport-agnostic.

``AgentWorker.process(envelope, send)`` is the whole protocol an agent speaks:

    AgentTaskScheduled --> validate --> AgentTaskAcknowledged --> handler
                                     --> AgentTaskCompleted | AgentTaskFailed

Why ``send`` is a plain callable: the same worker runs in-process under the local host (send
appends to the embedded broker), in its own process (send goes to Service Bus) and in tests
(send appends to a list). The worker never imports a transport.

Delivery is at-least-once everywhere, so the worker remembers finished attempts by
taskId+traceId+attempt (``ProcessedMemo``): a redelivered task is not run again; its recorded
answer is sent again (the orchestrator ignores answers it already has).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from podium.agents import messages
from podium.agents.context import AgentContext, AgentResult, PermanentFailure, TransientFailure
from podium.agents.faults import FAULT_KEY, FaultSpec, InvalidFaultSpec, parse_fault
from podium.agents.memo import ProcessedMemo
from podium.agents.telemetry import task_scope

HandlerReturn = AgentResult | dict[str, Any] | None
Handler = Callable[[messages.AgentTask, AgentContext], HandlerReturn | Awaitable[HandlerReturn]]
Send = Callable[[dict[str, Any]], None]

Status = Literal["completed", "failed", "duplicate", "in-flight", "rejected", "silent",
                 "no-result"]


@dataclass
class ProcessOutcome:
    """What happened to one delivery; ``rejected`` means: dead-letter it, nobody can answer."""

    status: Status
    sent: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    handler_ms: float = 0.0


@dataclass
class _Prepared:
    task: messages.AgentTask
    handler: Handler | None
    fault: FaultSpec | None
    ctx: AgentContext
    ack: dict[str, Any] = field(default_factory=dict)


class AgentWorker:
    """Registers handlers for one agent id and answers its tasks."""

    def __init__(self, agent_id: str, *, llm: Any = None, memo: ProcessedMemo | None = None,
                 logger: logging.Logger | None = None) -> None:
        self.agent_id = agent_id
        self.llm = llm
        self.memo = memo or ProcessedMemo()
        self.logger = logger or logging.getLogger(f"podium.agents.{agent_id}")
        self._handlers: dict[str, Handler] = {}
        self._fault: FaultSpec | None = None

    # -- registration ---------------------------------------------------------------------
    def handler(self, task_type: str) -> Callable[[Handler], Handler]:
        """Decorator: ``@worker.handler("PlanMicroservices")``."""

        def register(func: Handler) -> Handler:
            if task_type in self._handlers:
                raise ValueError(f"{self.agent_id} already handles {task_type}")
            self._handlers[task_type] = func
            return func

        return register

    def add_handler(self, task_type: str, func: Handler) -> None:
        self.handler(task_type)(func)

    @property
    def task_types(self) -> list[str]:
        return sorted(self._handlers)

    def inject_fault(self, spec: FaultSpec | None) -> None:
        """Make every task of this worker misbehave as ``spec`` says (None: behave again)."""
        self._fault = spec

    # -- processing -----------------------------------------------------------------------
    def process(self, envelope: Any, send: Send) -> ProcessOutcome:
        """Handle one delivery synchronously (async handlers run on a private event loop)."""
        prepared = self._prepare(envelope, send)
        if isinstance(prepared, ProcessOutcome):
            return prepared
        if prepared.fault is not None and prepared.fault.delay_sec:
            time.sleep(prepared.fault.delay_sec)
        injected = self._injected(prepared, send)
        if injected is not None:
            return injected
        started = time.perf_counter()
        with task_scope(prepared.task):  # the answer and its log line belong to the task too
            try:
                result: HandlerReturn | BaseException = _call_sync(prepared)
            except Exception as exc:  # noqa: BLE001 - every failure becomes an answer
                result = exc
            return self._answer(prepared, send, result, started)

    async def aprocess(self, envelope: Any, send: Send) -> ProcessOutcome:
        """Handle one delivery from async code; sync handlers run in a thread."""
        prepared = self._prepare(envelope, send)
        if isinstance(prepared, ProcessOutcome):
            return prepared
        if prepared.fault is not None and prepared.fault.delay_sec:
            await asyncio.sleep(prepared.fault.delay_sec)
        injected = self._injected(prepared, send)
        if injected is not None:
            return injected
        started = time.perf_counter()
        with task_scope(prepared.task):  # the answer and its log line belong to the task too
            try:
                result: HandlerReturn | BaseException = await _call_async(prepared)
            except Exception as exc:  # noqa: BLE001 - every failure becomes an answer
                result = exc
            return self._answer(prepared, send, result, started)

    # -- internals ------------------------------------------------------------------------
    def _memo_key(self, task: messages.AgentTask) -> str:
        """The idempotency key, scoped to this agent: a fallback agent that gets the same task
        (same taskId, traceId, attempt) after the first agent failed must still run it, even
        when the agents share one memo file."""
        return f"{self.agent_id}|{task.idempotency_key}"

    def _prepare(self, envelope: Any, send: Send) -> ProcessOutcome | _Prepared:
        """Validate, de-duplicate, apply silence, acknowledge. An outcome means: done here."""
        try:
            task = messages.parse_task(envelope)
        except messages.InvalidTaskMessage as exc:
            reason = f"InvalidTask: {exc}"
            self.logger.warning("rejected task message: %s", reason)
            answer = messages.failed_unparsed(envelope, reason) if exc.attributable else None
            if answer is None or answer["payload"]["agentId"] != self.agent_id:
                return ProcessOutcome("rejected", error=reason)
            send(answer)
            return ProcessOutcome("failed", [answer], error=reason)
        if task.agent_id != self.agent_id:
            reason = f"WrongAgent: task for {task.agent_id} delivered to {self.agent_id}"
            return ProcessOutcome("rejected", error=reason)

        inputs = dict(task.inputs)
        project = workspace_request(task.workspace)
        raw_fault = inputs.pop(FAULT_KEY, None)
        if raw_fault is None and project is not None:
            raw_fault = project.get(FAULT_KEY)
        task = _replace_inputs(task, inputs)
        key = self._memo_key(task)
        state, recorded = self.memo.begin(key)
        if state == "done" and recorded is not None:
            self.logger.info("duplicate delivery of %s: answering again, not re-running", key)
            send(recorded)
            return ProcessOutcome("duplicate", [recorded])
        if state == "in-flight":
            return ProcessOutcome("in-flight")

        try:
            fault = self._fault or parse_fault(raw_fault)
        except InvalidFaultSpec as exc:
            fault, bad_fault = None, str(exc)
        else:
            bad_fault = None
        if fault is not None and not fault.applies_to(self.agent_id, task.task_type):
            fault = None
        if fault is not None and fault.is_silent(task.attempt):
            self.memo.finish(key, None)
            self.logger.info("fault injection: staying silent on %s", key)
            return ProcessOutcome("silent")

        ack = messages.acknowledged(task)
        try:
            send(ack)
        except BaseException:
            self.memo.finish(key, None)
            raise
        handler = self._handlers.get(task.task_type)
        ctx = AgentContext(task, llm=self.llm, logger=self.logger)
        prepared = _Prepared(task, handler, fault, ctx, ack)
        if bad_fault is not None:
            answer = messages.failed(task, f"InvalidTask: {bad_fault}", True)
            return self._send_final(prepared, send, [ack], answer, "failed", 0.0)
        foreign = _foreign_workspace(task, project)
        if foreign is not None:
            self.logger.warning("refused %s: %s", key, foreign)
            answer = messages.failed(task, foreign, True)
            return self._send_final(prepared, send, [ack], answer, "failed", 0.0)
        if handler is None:
            reason = (f"UnknownTaskType: {self.agent_id} does not handle {task.task_type}"
                      f" (handles {', '.join(self.task_types) or 'nothing'})")
            answer = messages.failed(task, reason, True)
            return self._send_final(prepared, send, [ack], answer, "failed", 0.0)
        return prepared

    def _injected(self, prepared: _Prepared, send: Send) -> ProcessOutcome | None:
        """Apply an injected failure or a missing answer; None when the handler should run."""
        task, fault = prepared.task, prepared.fault
        if fault is None:
            return None
        if fault.should_fail(task.attempt):
            reason = (f"InjectedFault: attempt {task.attempt} of the first "
                      f"{fault.fail_attempts} fails")
            answer = messages.failed(task, reason, fault.permanent)
            return self._send_final(prepared, send, [prepared.ack], answer, "failed", 0.0)
        if fault.no_result:
            self.memo.finish(self._memo_key(task), None)
            self.logger.info("fault injection: no answer to %s", task.idempotency_key)
            return ProcessOutcome("no-result", [prepared.ack])
        return None

    def _answer(self, prepared: _Prepared, send: Send, result: HandlerReturn | BaseException,
                started: float) -> ProcessOutcome:
        task, ctx = prepared.task, prepared.ctx
        status: Status = "failed"
        try:
            if isinstance(result, BaseException):
                raise result
            normalized = _normalize(result, ctx)
        except PermanentFailure as exc:
            answer = messages.failed(task, exc.reason, True, exc.details)
        except TransientFailure as exc:
            answer = messages.failed(task, exc.reason, False, exc.details)
        except Exception as exc:  # noqa: BLE001 - an agent bug is a failed attempt, not a crash
            self.logger.error("%s %s raised %r", self.agent_id, task.task_type, exc,
                              exc_info=exc)
            answer = messages.failed(task, f"{type(exc).__name__}: {exc}", False,
                                     {"exception": type(exc).__name__})
        else:
            answer = messages.completed(task, normalized.outputs, normalized.artifacts or [])
            status = "completed"
        elapsed = (time.perf_counter() - started) * 1000
        return self._send_final(prepared, send, [prepared.ack], answer, status, elapsed)

    def _send_final(self, prepared: _Prepared, send: Send, sent: list[dict[str, Any]],
                    answer: dict[str, Any], status: Status, elapsed: float) -> ProcessOutcome:
        key = self._memo_key(prepared.task)
        # time spent inside the agent, so orchestration overhead = elapsed - sum(durationMs)
        answer["payload"]["durationMs"] = round(elapsed, 3)
        try:
            send(answer)
            sent = [*sent, answer]
            if prepared.fault is not None and prepared.fault.duplicate:
                for message in (sent[0], answer):
                    send(message)
                sent = [*sent, sent[0], answer]
        except BaseException:
            self.memo.finish(key, None)  # not answered: a redelivery must run it again
            raise
        self.memo.finish(key, answer)
        payload = answer["payload"]
        self.logger.info("%s %s %s attempt %s -> %s %s", self.agent_id,
                         prepared.task.task_type, prepared.task.task_id,
                         prepared.task.attempt, answer["eventType"], payload.get("reason", ""))
        return ProcessOutcome(status, sent, error=payload.get("reason"), handler_ms=elapsed)


def workspace_request(workspace: Path) -> dict[str, Any] | None:
    """The project request in the workspace (``request.json``), if there is a readable one.

    Why the worker reads it: it names the tenant and project that own the workspace (a task
    of another tenant must not touch it), and a fault test's ``_fault`` block reaches every
    agent through it without the orchestration copying it into each task.
    """
    try:
        with open(workspace / "request.json", encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _foreign_workspace(task: messages.AgentTask, project: dict[str, Any] | None) -> str | None:
    """A TenantViolation reason when the workspace belongs to another tenant or project."""
    if project is None:
        return None
    owner = (project.get("tenantId"), project.get("projectId"))
    if owner == (task.tenant_id, task.project_id) or None in owner:
        return None
    return (f"TenantViolation: workspace {task.workspace} belongs to {owner[0]}/{owner[1]}, "
            f"not {task.tenant_id}/{task.project_id}")


def _replace_inputs(task: messages.AgentTask, inputs: dict[str, Any]) -> messages.AgentTask:
    return replace(task, inputs=inputs)


def _call_sync(prepared: _Prepared) -> HandlerReturn:
    assert prepared.handler is not None
    result = prepared.handler(prepared.task, prepared.ctx)
    if inspect.isawaitable(result):
        return _run_coroutine(result)
    return result


async def _call_async(prepared: _Prepared) -> HandlerReturn:
    assert prepared.handler is not None
    if inspect.iscoroutinefunction(prepared.handler):
        return await prepared.handler(prepared.task, prepared.ctx)
    result = await asyncio.to_thread(prepared.handler, prepared.task, prepared.ctx)
    if inspect.isawaitable(result):
        return await result
    return result


def _run_coroutine(awaitable: Awaitable[HandlerReturn]) -> HandlerReturn:
    """Run an async handler from sync code, even when this thread already runs a loop."""

    async def wrap() -> HandlerReturn:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrap())
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(wrap())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=runner, name="podium-agent-async")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _normalize(result: HandlerReturn, ctx: AgentContext) -> AgentResult:
    if result is None:
        result = AgentResult()
    elif isinstance(result, dict):
        result = AgentResult(outputs=result)
    elif not isinstance(result, AgentResult):
        raise PermanentFailure(
            f"InvalidResult: handler returned {type(result).__name__}, "
            "expected AgentResult, dict or None")
    try:
        json.dumps(result.outputs)
    except (TypeError, ValueError) as exc:
        raise PermanentFailure(f"InvalidResult: outputs are not JSON: {exc}") from None
    artifacts = ctx.artifacts if result.artifacts is None else result.artifacts
    clean = [ctx.relative(ctx.path(p)) for p in artifacts]
    return AgentResult(outputs=result.outputs, artifacts=list(dict.fromkeys(clean)))
