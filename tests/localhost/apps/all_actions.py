"""A Durable Functions app that uses every action kind the engine must apply.

Imported by the engine tests (``FunctionIndex.from_app(make_app())``); ``make_app`` builds a
fresh app each time because ``get_functions()`` may be called only once per app object.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

# Flipped by the non-determinism test between two episodes.
FLAGS: dict[str, str] = {"first_activity": "hello"}
log = logging.getLogger("tests.all_actions")

# Attempts per key of the flaky activity / child, so retries are observable.
ATTEMPTS: dict[str, int] = {}
_ATTEMPTS_LOCK = threading.Lock()


def _attempt(key: str) -> int:
    with _ATTEMPTS_LOCK:
        ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
        return ATTEMPTS[key]


def make_app() -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.activity_trigger(input_name="name")
    def hello(name: str) -> str:
        log.info("saying hello to %s", name)
        return f"Hello {name}"

    @app.activity_trigger(input_name="pair")
    def add(pair: list[int]) -> int:
        return pair[0] + pair[1]

    @app.activity_trigger(input_name="key")
    def flaky(key: str) -> str:
        attempt = _attempt(key)
        if attempt < 3:
            raise RuntimeError(f"flaky attempt {attempt}")
        return f"ok after {attempt}"

    @app.activity_trigger(input_name="message")
    def boom(message: str) -> None:
        raise ValueError(message)

    @app.activity_trigger(input_name="value")
    async def slow_double(value: int) -> int:
        await asyncio.sleep(0.01)
        return value * 2

    @app.orchestration_trigger(context_name="context")
    def child(context: df.DurableOrchestrationContext):
        value = context.get_input()
        doubled = yield context.call_activity("slow_double", value)
        return {"child_of": context.parent_instance_id, "doubled": doubled}

    @app.orchestration_trigger(context_name="context")
    def flaky_child(context: df.DurableOrchestrationContext):
        key = context.get_input()
        attempt = yield context.call_activity("flaky", key)
        if False:  # pragma: no cover - keeps this a generator
            yield
        return attempt

    @app.orchestration_trigger(context_name="context")
    def failing_child(context: df.DurableOrchestrationContext):
        yield context.call_activity("hello", "x")
        raise RuntimeError("child gave up")

    @app.entity_trigger(context_name="context")
    def counter(context: df.DurableEntityContext) -> None:
        value = context.get_state(lambda: 0)
        op = context.operation_name
        if op == "add":
            value += context.get_input()
            context.set_state(value)
            context.set_result(value)
        elif op == "get":
            context.set_result(value)
        elif op == "reset":
            context.set_state(0)
        elif op == "fail":
            raise ValueError("entity refused")
        else:
            raise ValueError(f"unknown operation {op}")

    @app.orchestration_trigger(context_name="context")
    def all_actions(context: df.DurableOrchestrationContext):
        out: dict[str, Any] = {}
        context.set_custom_status({"step": "start"})
        out["hello"] = yield context.call_activity("hello", "Tokyo")
        sums = yield context.task_all([context.call_activity("add", [i, i]) for i in range(5)])
        out["sums"] = sums
        retry = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
        out["retried"] = yield context.call_activity_with_retry(
            "flaky", retry, f"{context.instance_id}:activity"
        )
        try:
            yield context.call_activity("boom", "expected failure")
        except Exception as exc:  # noqa: BLE001 - the test inspects the message
            out["caught"] = str(exc)
        out["child"] = yield context.call_sub_orchestrator("child", 21)
        out["child_retried"] = yield context.call_sub_orchestrator_with_retry(
            "flaky_child", retry, f"{context.instance_id}:child"
        )
        try:
            yield context.call_sub_orchestrator("failing_child", None)
        except Exception as exc:  # noqa: BLE001
            out["child_failed"] = "child gave up" in str(exc)
        context.set_custom_status({"step": "timer"})
        yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
        deadline = context.create_timer(context.current_utc_datetime + timedelta(hours=2))
        approval = context.wait_for_external_event("approval")
        winner = yield context.task_any([approval, deadline])
        if winner == approval:
            deadline.cancel()
            out["approval"] = approval.result
        else:
            out["approval"] = "timed out"
        entity = df.EntityId("Counter", "k1")
        out["entity_add"] = yield context.call_entity(entity, "add", 5)
        context.signal_entity(entity, "add", 1)
        out["entity_get"] = yield context.call_entity(entity, "get")
        try:
            yield context.call_entity(entity, "fail")
        except Exception as exc:  # noqa: BLE001
            out["entity_error"] = "entity refused" in str(exc)
        context.set_custom_status({"step": "done"})
        return out

    @app.orchestration_trigger(context_name="context")
    def approval_or_timeout(context: df.DurableOrchestrationContext):
        deadline = context.create_timer(context.current_utc_datetime + timedelta(hours=2))
        approval = context.wait_for_external_event("approval")
        winner = yield context.task_any([approval, deadline])
        if winner == approval:
            deadline.cancel()
            return {"approved": approval.result}
        return {"approved": None, "timed_out_at": context.current_utc_datetime.isoformat()}

    @app.orchestration_trigger(context_name="context")
    def long_timer(context: df.DurableOrchestrationContext):
        yield context.create_timer(context.current_utc_datetime + timedelta(days=3))
        return context.current_utc_datetime.isoformat()

    @app.orchestration_trigger(context_name="context")
    def long_timer_days(context: df.DurableOrchestrationContext):
        start = context.current_utc_datetime
        yield context.create_timer(start + timedelta(days=context.get_input()))
        return (context.current_utc_datetime - start).total_seconds() / 86400

    @app.orchestration_trigger(context_name="context")
    def short_timer(context: df.DurableOrchestrationContext):
        yield context.create_timer(
            context.current_utc_datetime + timedelta(seconds=context.get_input())
        )
        return "fired"

    @app.orchestration_trigger(context_name="context")
    def loop(context: df.DurableOrchestrationContext):
        state = context.get_input() or {"n": 0, "events": []}
        if state["n"] < 3:
            value = yield context.call_activity("add", [state["n"], 1])
            state["n"] = value
            context.continue_as_new(state)
            return None
        event = yield context.wait_for_external_event("final")
        state["events"].append(event)
        return state

    @app.orchestration_trigger(context_name="context")
    def fan_out(context: df.DurableOrchestrationContext):
        count = context.get_input()
        results = yield context.task_all(
            [context.call_activity("add", [i, 1]) for i in range(count)]
        )
        return sum(results)

    @app.orchestration_trigger(context_name="context")
    def chain(context: df.DurableOrchestrationContext):
        count = context.get_input()
        total = 0
        for i in range(count):
            total = yield context.call_activity("add", [total, i])
        return total

    @app.orchestration_trigger(context_name="context")
    def raises(context: df.DurableOrchestrationContext):
        yield context.call_activity("hello", "before failing")
        raise KeyError("missing thing")

    @app.orchestration_trigger(context_name="context")
    def calls_unknown(context: df.DurableOrchestrationContext):
        result = yield context.call_activity("no_such_activity", 1)
        return result

    @app.orchestration_trigger(context_name="context")
    def replay_aware(context: df.DurableOrchestrationContext):
        for step in range(3):
            yield context.call_activity("add", [step, 0])
            if not context.is_replaying:
                log.info("step %d done", step)
        return "ok"

    @app.orchestration_trigger(context_name="context")
    def busy_then_wait(context: df.DurableOrchestrationContext):
        yield context.call_activity("hello", "busy")
        first = yield context.wait_for_external_event("go")
        second = yield context.wait_for_external_event("go")
        return [first, second]

    @app.orchestration_trigger(context_name="context")
    def wait_event(context: df.DurableOrchestrationContext):
        first = yield context.wait_for_external_event("go")
        second = yield context.wait_for_external_event("go")
        return [first, second]

    @app.activity_trigger(input_name="seconds")
    def whoami(seconds: float) -> int:
        time.sleep(seconds)
        return os.getpid()

    @app.activity_trigger(input_name="seconds")
    async def whoami_async(seconds: float) -> int:
        await asyncio.sleep(seconds)
        return os.getpid()

    @app.orchestration_trigger(context_name="context")
    def pids(context: df.DurableOrchestrationContext):
        count = context.get_input()
        tasks = [context.call_activity("whoami", 0.2) for _ in range(count)]
        tasks.append(context.call_activity("whoami_async", 0.01))
        found = yield context.task_all(tasks)
        try:
            yield context.call_activity("boom", "in a worker")
        except Exception as exc:  # noqa: BLE001
            return {"pids": found, "error": str(exc).splitlines()[0]}
        return {"pids": found, "error": None}

    @app.orchestration_trigger(context_name="context")
    def entity_adder(context: df.DurableOrchestrationContext):
        key, amount = context.get_input()
        value = yield context.call_entity(df.EntityId("counter", key), "add", amount)
        return value

    @app.orchestration_trigger(context_name="context")
    def parent_of_waiter(context: df.DurableOrchestrationContext):
        try:
            result = yield context.call_sub_orchestrator("wait_event", None)
        except Exception as exc:  # noqa: BLE001
            return str(exc)
        return result

    @app.orchestration_trigger(context_name="context")
    def nondeterministic(context: df.DurableOrchestrationContext):
        first = FLAGS["first_activity"]
        yield context.call_activity(first, "x" if first == "hello" else [1, 2])
        value = yield context.wait_for_external_event("continue")
        return value

    return app
