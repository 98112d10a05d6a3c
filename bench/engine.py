"""Benchmark of the local host's durable engine on its stores (SQLite, or Azure Storage).

Run: ``python bench/engine.py`` (``--quick`` for smaller sizes). Prints, per scenario, the
wall time and throughput: fan-out/fan-in of 1,000 and 10,000 no-op activities, sequential
chains of 100 and 500 activities, 1,000 concurrent orchestrations of 5 sequential activities,
and 5,000 signals to one entity. Every run uses the real SDK and a fresh task hub.

``--store azure-storage`` runs on the Azure Storage store (tables + blob journal): on the
account of ``--connection`` (default ``$AzureWebJobsStorage``), else on an Azurite this script
starts from ``node_modules`` (in memory, free loopback ports) and stops at the end.
``--only fan1000 chain100`` picks scenarios (fan1000 fan10000 chain100 chain500 orch entity;
with ``--quick``: fan100 fan1000 chain50 chain100 orch entity).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import azure.durable_functions as df  # noqa: E402
import azure.functions as func  # noqa: E402

from podium.localhost.api import RuntimeStatus  # noqa: E402
from podium.localhost.engine import Engine, EngineOptions, SqliteStore  # noqa: E402
from podium.localhost.engine.store import DurableStore  # noqa: E402
from podium.localhost.functions import FunctionIndex  # noqa: E402


def make_app() -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.activity_trigger(input_name="value")
    def noop(value: int) -> int:
        return value

    @app.orchestration_trigger(context_name="context")
    def fan_out(context: df.DurableOrchestrationContext):
        count = context.get_input()
        results = yield context.task_all([context.call_activity("noop", i) for i in range(count)])
        return len(results)

    @app.orchestration_trigger(context_name="context")
    def chain(context: df.DurableOrchestrationContext):
        count = context.get_input()
        for i in range(count):
            yield context.call_activity("noop", i)
        return count

    @app.entity_trigger(context_name="context")
    def counter(context: df.DurableEntityContext) -> None:
        context.set_state(context.get_state(lambda: 0) + context.get_input())

    return app


class Stores:
    """Opens a fresh task hub per scenario on the chosen store."""

    def __init__(self, kind: str, directory: Path, connection: str | None) -> None:
        self.kind, self.directory, self.connection = kind, directory, connection
        self.run_id = uuid.uuid4().hex[:8]

    def open(self, name: str) -> DurableStore:
        if self.kind == "sqlite":
            return SqliteStore(self.directory / f"{name}.db")
        from podium.adapters.durable_azure_storage import AzureStorageDurableStore

        assert self.connection
        return AzureStorageDurableStore(self.connection, f"B{self.run_id}{name}")


def _engine(stores: Stores, name: str) -> Engine:
    store = stores.open(name)
    options = EngineOptions(max_concurrent_activities=64, max_concurrent_orchestrations=100)
    engine = Engine(FunctionIndex.from_app(make_app()), store, options=options)
    engine.start()
    return engine


def _stop(engine: Engine) -> None:
    engine.stop()
    engine.store.close()


def _timed(engine: Engine, work: Callable[[], list[str]]) -> float:
    start = time.perf_counter()
    ids = work()
    if not engine.wait_for_idle(timeout=600):
        raise RuntimeError("engine did not finish in 10 minutes")
    elapsed = time.perf_counter() - start
    for instance_id in ids[:50]:
        state = engine.get_status(instance_id)
        if state is None or state.runtime_status != RuntimeStatus.Completed:
            raise RuntimeError(f"{instance_id} did not complete: {state}")
    return elapsed


def run(quick: bool, stores: Stores, only: list[str] | None = None,
        ) -> list[tuple[str, float, float, str]]:
    rows = []
    fan_sizes = (100, 1000) if quick else (1000, 10000)
    chain_sizes = (50, 100) if quick else (100, 500)
    orchestrations = 100 if quick else 1000
    signals = 500 if quick else 5000

    def wanted(key: str) -> bool:
        return not only or key in only

    for size in fan_sizes:
        if not wanted(f"fan{size}"):
            continue
        engine = _engine(stores, f"fan{size}")
        t = _timed(engine, lambda size=size, e=engine: [e.start_new("fan_out", input=size)])
        _stop(engine)
        rows.append((f"fan-out/fan-in of {size} activities", t, size / t, "activities/s"))
    for size in chain_sizes:
        if not wanted(f"chain{size}"):
            continue
        engine = _engine(stores, f"chain{size}")
        t = _timed(engine, lambda size=size, e=engine: [e.start_new("chain", input=size)])
        _stop(engine)
        rows.append((f"sequential chain of {size} activities", t, size / t, "activities/s"))
    if wanted("orch"):
        engine = _engine(stores, "concurrent")
        t = _timed(
            engine,
            lambda e=engine: [e.start_new("chain", input=5) for _ in range(orchestrations)],
        )
        _stop(engine)
        rows.append(
            (f"{orchestrations} orchestrations x 5 sequential", t, orchestrations / t, "orch/s")
        )
    if wanted("entity"):
        engine = _engine(stores, "entity")

        def signal_all(e: Engine = engine) -> list[str]:
            for _ in range(signals):
                e.signal_entity("counter", "one", "add", 1)
            return []

        t = _timed(engine, signal_all)
        state = engine.read_entity_state("counter", "one").state
        _stop(engine)
        if state != signals:
            raise RuntimeError(f"entity state {state} != {signals}")
        rows.append((f"{signals} signals to one entity", t, signals / t, "ops/s"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    parser.add_argument("--store", choices=("sqlite", "azure-storage"), default="sqlite",
                        help="task hub store (default sqlite)")
    parser.add_argument("--connection", default=os.environ.get("AzureWebJobsStorage"),  # noqa: SIM112
                        help="azure-storage: connection string (default $AzureWebJobsStorage; "
                             "none: start Azurite from node_modules)")
    parser.add_argument("--only", nargs="+", metavar="SCENARIO",
                        help="fan1000 fan10000 chain100 chain500 orch entity (quick: fan100 "
                             "fan1000 chain50 chain100 orch entity)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.ERROR)
    azurite = None
    connection = args.connection
    if args.store == "azure-storage" and not connection:
        from podium.adapters import standins

        azurite = standins.start_azurite()
        connection = azurite.connection_string
        print(f"Azurite started (in memory) on ports {azurite.ports}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stores = Stores(args.store, Path(tmp), connection)
            print(f"store: {args.store}")
            print(f"{'scenario':45} {'seconds':>9} {'rate':>10}")
            for name, seconds, rate, unit in run(args.quick, stores, args.only):
                print(f"{name:45} {seconds:9.2f} {rate:10.0f} {unit}", flush=True)
    finally:
        if azurite is not None:
            azurite.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
