"""The engine with its dispatcher thread and the system clock, as the host runs it."""

from __future__ import annotations

import time

from podium.localhost.api import RuntimeStatus
from podium.localhost.engine import Engine, EngineOptions
from podium.localhost.functions import FunctionIndex
from tests.localhost.apps.all_actions import make_app
from tests.localhost.engine.conftest import StoreFactory


def test_wait_for_idle_returns_only_when_the_work_is_done(make_store: StoreFactory) -> None:
    engine = Engine(
        FunctionIndex.from_app(make_app()),
        make_store(),
        options=EngineOptions(thread_count=4),
    )
    engine.start()
    try:
        for _ in range(3):  # the race this guards against showed up about one run in two
            chain = engine.start_new("chain", input=150)
            fan = engine.start_new("fan_out", input=300)
            engine.signal_entity("counter", "bg", "add", 2)
            assert engine.wait_for_idle(60)
            assert engine.get_status(chain).runtime_status == RuntimeStatus.Completed
            assert engine.get_status(chain).output == sum(range(150))
            assert engine.get_status(fan).output == sum(i + 1 for i in range(300))
        assert engine.read_entity_state("counter", "bg").state == 6
    finally:
        engine.stop()


def test_durable_timer_fires_on_wall_clock(make_store: StoreFactory) -> None:
    engine = Engine(FunctionIndex.from_app(make_app()), make_store())
    engine.start()
    try:
        started = time.monotonic()
        iid = engine.start_new("short_timer", input=0.3)
        assert engine.wait_for_idle(10)  # idle: only a future timer remains
        assert engine.get_status(iid).runtime_status == RuntimeStatus.Running
        while time.monotonic() - started < 10:
            if engine.get_status(iid).runtime_status == RuntimeStatus.Completed:
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - started
    finally:
        engine.stop()
    assert engine.get_status(iid).output == "fired"
    assert 0.3 <= elapsed < 5
