"""Activities in worker processes (``FUNCTIONS_WORKER_PROCESS_COUNT`` > 1).

Like the Functions host starting several Python workers, each worker process imports the app
module by path, indexes it once, and runs the activities it is sent, so a CPU-bound activity
holds one process's GIL, not the host's. Only names and JSON texts cross the process boundary.
Processes are started with ``spawn`` (forking a process that runs threads is unsafe).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import multiprocessing
import os
import sys
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from podium.localhost.engine import logcontext
from podium.localhost.functions import FunctionIndex

_INDEX: FunctionIndex | None = None
Outcome = tuple[bool, str | None, str | None, str | None]  # ok, result, reason, details


def worker_count() -> int:
    """``FUNCTIONS_WORKER_PROCESS_COUNT`` (default 1: activities run in the host's threads)."""
    value = os.environ.get("FUNCTIONS_WORKER_PROCESS_COUNT", "").strip()
    return max(1, int(value)) if value else 1


def load_app(app_spec: str) -> Any:
    """Import ``path/to/module.py[:attribute]``; the attribute (default ``app``) is the app or
    a function returning it."""
    path_text, _, attribute = app_spec.partition(":")
    path = Path(path_text).resolve()
    spec = importlib.util.spec_from_file_location(f"podium_worker_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the app from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    target = getattr(module, attribute or "app")
    return target if hasattr(target, "get_functions") else target()


def _init_worker(app_spec: str, parent_path: list[str]) -> None:
    global _INDEX
    for entry in reversed(parent_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    logcontext.install()
    _INDEX = FunctionIndex.from_app(load_app(app_spec))


def run_in_worker(name: str, input_text: str | None) -> Outcome:
    """Runs in a worker process: one activity invocation, encoded like the worker does."""
    from podium.localhost.engine.activities import decode_input, encode_output

    assert _INDEX is not None, "worker not initialised"
    try:
        fi = _INDEX.activity(name)
        assert fi.user_function is not None
        arg = fi.trigger_binding.get("name", "input")
        with logcontext.invocation(name):
            result = fi.user_function(**{arg: decode_input(input_text)})
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
        return True, encode_output(result), None, None
    except Exception as exc:  # noqa: BLE001 - reported as TaskFailed
        reason = f"Activity function '{name}' failed: {type(exc).__name__}: {exc}"
        return False, None, reason, "".join(traceback.format_exception(exc))


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class WorkerPool:
    """A spawn-based process pool whose workers hold the app's function index."""

    def __init__(self, app_spec: str, processes: int) -> None:
        self.app_spec = app_spec
        self.processes = processes
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.app_spec, list(sys.path)),
        )

    def submit(self, name: str, input_text: str | None) -> Future[Outcome]:
        try:
            return self._pool.submit(run_in_worker, name, input_text)
        except RuntimeError:  # a worker died (BrokenProcessPool): start a fresh pool
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(run_in_worker, name, input_text)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
