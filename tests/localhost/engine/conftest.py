"""Fixtures: an engine driving the real SDK with a virtual clock, on each durable store.

Every test that takes ``harness`` or ``make_store`` runs twice: on the embedded SQLite store
(a real file) and on the Azure Storage store (tables + blobs of a real Azurite, started once per
session by the root ``azurite`` fixture; skipped with the reason when node_modules is missing).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podium.localhost.api import InstanceState
from podium.localhost.clock import VirtualClock
from podium.localhost.engine import Engine, EngineOptions, SqliteStore
from podium.localhost.engine.store import DurableStore
from podium.localhost.functions import FunctionIndex
from tests.localhost.apps.all_actions import make_app

STORES = ("sqlite", "azure-storage")
StoreFactory = Callable[..., Any]  # make_store(name="hub", **store kwargs) -> DurableStore


@dataclass
class Harness:
    engine: Engine
    clock: VirtualClock
    store: Any  # SqliteStore or AzureStorageDurableStore (both have .count for diagnostics)

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


@dataclass(frozen=True)
class StoreSpec:
    """Where a test's stores live: what a subprocess needs to open the same task hub."""

    kind: str
    directory: Path  # sqlite: the files' directory
    connection_string: str = ""  # azure-storage: Azurite
    hub_prefix: str = ""  # azure-storage: per-test prefix of the task hub names

    def open(self, name: str = "hub", **kwargs: Any) -> DurableStore:
        if self.kind == "sqlite":
            kwargs.pop("lock_wait", None)  # its file lock answers at once
            return SqliteStore(self.directory / f"{name}.db", **kwargs)
        from podium.adapters.durable_azure_storage import AzureStorageDurableStore

        return AzureStorageDurableStore(self.connection_string, f"{self.hub_prefix}{name}",
                                        **kwargs)


@pytest.fixture(autouse=True)
def _fresh_attempt_counters() -> Iterator[None]:
    """The test app counts the flaky activity's attempts per instance id in module globals; the
    same test runs once per store with the same ids, so each run starts from zero."""
    from tests.localhost.apps import all_actions

    all_actions.ATTEMPTS.clear()
    yield
    all_actions.ATTEMPTS.clear()


@pytest.fixture(params=STORES)
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    if request.param == "sqlite":
        return StoreSpec("sqlite", tmp_path)
    azurite = request.getfixturevalue("azurite")  # skips with the reason without node_modules
    return StoreSpec("azure-storage", tmp_path, azurite.connection_string,
                     f"T{uuid.uuid4().hex[:12]}")


@pytest.fixture
def make_store(store_spec: StoreSpec) -> Iterator[StoreFactory]:
    """``make_store(name="hub")`` opens the task hub ``name`` of this test on the store under
    test; the same name again is the same hub (a restart). All are closed after the test."""
    opened: list[DurableStore] = []

    def make(name: str = "hub", **kwargs: Any) -> DurableStore:
        store = store_spec.open(name, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        with contextlib.suppress(Exception):
            store.close()


@pytest.fixture
def harness(make_store: StoreFactory) -> Iterator[Harness]:
    store = make_store()
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
