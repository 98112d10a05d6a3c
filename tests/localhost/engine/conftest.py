"""Fixtures: an engine on a real SQLite file driving the real SDK with a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from podium.localhost.api import InstanceState
from podium.localhost.clock import VirtualClock
from podium.localhost.engine import Engine, EngineOptions, SqliteStore
from podium.localhost.functions import FunctionIndex
from tests.localhost.apps.all_actions import make_app


@dataclass
class Harness:
    engine: Engine
    clock: VirtualClock
    store: SqliteStore

    def run(self, instance_id: str, max_timers: int = 20) -> InstanceState:
        """Run until the instance ends, jumping the virtual clock to each pending timer."""
        for _ in range(max_timers):
            assert self.engine.run_until_idle(30), "engine did not become idle"
            state = self.engine.get_status(instance_id)
            assert state is not None
            if state.runtime_status.is_terminal:
                return state
            due = self.engine.next_timer()
            if due is None:
                return state
            self.clock.set(max(due, self.clock.now()))
        raise AssertionError("too many timers")


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    store = SqliteStore(tmp_path / "hub.db")
    clock = VirtualClock()
    engine = Engine(
        FunctionIndex.from_app(make_app()),
        store,
        clock,
        EngineOptions(thread_count=4, verify_sessions=True),
    )
    yield Harness(engine, clock, store)
    engine.stop()
    store.close()
