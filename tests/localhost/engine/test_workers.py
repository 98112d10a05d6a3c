"""Activities in worker processes (FUNCTIONS_WORKER_PROCESS_COUNT > 1) and concurrency limits."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import pytest

from podium.localhost.api import RuntimeStatus
from podium.localhost.engine import Engine, EngineOptions
from podium.localhost.engine.activities import default_thread_count
from podium.localhost.engine.workers import worker_count
from podium.localhost.functions import FunctionIndex
from tests.localhost.apps.all_actions import make_app
from tests.localhost.engine.conftest import StoreFactory

APP = Path(__file__).resolve().parents[1] / "apps" / "all_actions.py"


@pytest.mark.slow
def test_activities_run_in_worker_processes(make_store: StoreFactory) -> None:
    engine = Engine(
        FunctionIndex.from_app(make_app()),
        make_store(),
        options=EngineOptions(worker_processes=2, app_path=f"{APP}:make_app"),
    )
    engine.start()
    try:
        iid = engine.start_new("pids", input=8)
        assert engine.wait_for_idle(120)
        state = engine.get_status(iid)
    finally:
        engine.stop()
    assert state.runtime_status == RuntimeStatus.Completed, state.output
    pids = set(state.output["pids"])
    assert os.getpid() not in pids
    assert len(pids) == 2  # both workers took activities
    assert state.output["error"] == ("Activity function 'boom' failed: ValueError: in a worker ")


def test_worker_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "3")
    monkeypatch.setenv("PYTHON_THREADPOOL_THREAD_COUNT", "7")
    assert (worker_count(), default_thread_count()) == (3, 7)
    monkeypatch.delenv("FUNCTIONS_WORKER_PROCESS_COUNT")
    assert worker_count() == 1


def test_max_concurrent_activities_is_honoured(make_store: StoreFactory) -> None:
    running = 0
    peak = 0
    lock = threading.Lock()
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.activity_trigger(input_name="value")
    def tracked(value: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return value

    @app.orchestration_trigger(context_name="context")
    def many(context: df.DurableOrchestrationContext):
        results = yield context.task_all([context.call_activity("tracked", i) for i in range(30)])
        return sum(results)

    engine = Engine(
        FunctionIndex.from_app(app),
        make_store(),
        options=EngineOptions(max_concurrent_activities=3, thread_count=10),
    )
    iid = engine.start_new("many")
    assert engine.run_until_idle(60)
    engine.stop()
    assert engine.get_status(iid).output == sum(range(30))
    assert peak == 3


def test_queued_activities_of_a_terminated_instance_do_not_run(make_store: StoreFactory) -> None:
    ran: list[int] = []
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.activity_trigger(input_name="value")
    def slow(value: int) -> int:
        ran.append(value)
        time.sleep(0.05)
        return value

    @app.orchestration_trigger(context_name="context")
    def many_slow(context: df.DurableOrchestrationContext):
        yield context.task_all([context.call_activity("slow", i) for i in range(20)])

    store = make_store()
    engine = Engine(
        FunctionIndex.from_app(app), store, options=EngineOptions(max_concurrent_activities=1)
    )
    iid = engine.start_new("many_slow")
    assert engine.step()  # schedules 20 activities, starts one
    engine.terminate(iid, "enough")
    assert engine.run_until_idle(30)
    engine.stop()
    assert engine.get_status(iid).runtime_status == RuntimeStatus.Terminated
    assert len(ran) <= 2  # the rest were dropped, not run
    assert store.count("work") == 0 and store.count("messages") == 0
