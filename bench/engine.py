"""Benchmark of the local host's durable engine on the SQLite store.

Run: ``python bench/engine.py`` (``--quick`` for smaller sizes). Prints, per scenario, the
wall time and throughput: fan-out/fan-in of 1,000 and 10,000 no-op activities, sequential
chains of 100 and 500 activities, 1,000 concurrent orchestrations of 5 sequential activities,
and 5,000 signals to one entity. Every run uses the real SDK and a fresh SQLite file (WAL).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import azure.durable_functions as df  # noqa: E402
import azure.functions as func  # noqa: E402

from podium.localhost.api import RuntimeStatus  # noqa: E402
from podium.localhost.engine import Engine, EngineOptions, SqliteStore  # noqa: E402
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


def _engine(directory: Path, name: str) -> Engine:
    store = SqliteStore(directory / f"{name}.db")
    options = EngineOptions(max_concurrent_activities=64, max_concurrent_orchestrations=100)
    engine = Engine(FunctionIndex.from_app(make_app()), store, options=options)
    engine.start()
    return engine


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


def run(quick: bool) -> list[tuple[str, float, float, str]]:
    rows = []
    fan_sizes = (100, 1000) if quick else (1000, 10000)
    chain_sizes = (50, 100) if quick else (100, 500)
    orchestrations = 100 if quick else 1000
    signals = 500 if quick else 5000
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for size in fan_sizes:
            engine = _engine(directory, f"fan{size}")
            t = _timed(engine, lambda size=size, e=engine: [e.start_new("fan_out", input=size)])
            engine.stop()
            rows.append((f"fan-out/fan-in of {size} activities", t, size / t, "activities/s"))
        for size in chain_sizes:
            engine = _engine(directory, f"chain{size}")
            t = _timed(engine, lambda size=size, e=engine: [e.start_new("chain", input=size)])
            engine.stop()
            rows.append((f"sequential chain of {size} activities", t, size / t, "activities/s"))
        engine = _engine(directory, "concurrent")
        t = _timed(
            engine,
            lambda e=engine: [e.start_new("chain", input=5) for _ in range(orchestrations)],
        )
        engine.stop()
        rows.append(
            (f"{orchestrations} orchestrations x 5 sequential", t, orchestrations / t, "orch/s")
        )
        engine = _engine(directory, "entity")

        def signal_all(e: Engine = engine) -> list[str]:
            for _ in range(signals):
                e.signal_entity("counter", "one", "add", 1)
            return []

        t = _timed(engine, signal_all)
        state = engine.read_entity_state("counter", "one").state
        engine.stop()
        if state != signals:
            raise RuntimeError(f"entity state {state} != {signals}")
        rows.append((f"{signals} signals to one entity", t, signals / t, "ops/s"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.ERROR)
    print(f"{'scenario':45} {'seconds':>9} {'rate':>10}")
    for name, seconds, rate, unit in run(args.quick):
        print(f"{name:45} {seconds:9.2f} {rate:10.0f} {unit}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
