"""Runs activity functions the way the Python worker does.

Sync functions run in a thread pool sized like the worker's (``PYTHON_THREADPOOL_THREAD_COUNT``),
async ones on one event loop thread, so a slow activity never stalls the others. Input and
output are encoded exactly as the worker's ``ActivityTriggerConverter`` does.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from podium.localhost.api import FunctionInfo
from podium.localhost.engine import history as h
from podium.localhost.engine import logcontext
from podium.localhost.engine.model import WorkItem
from podium.localhost.engine.workers import Outcome, WorkerPool

Done = Callable[[WorkItem, dict[str, Any]], None]


def default_thread_count() -> int:
    """``PYTHON_THREADPOOL_THREAD_COUNT`` if set, else the worker's default (cpu count + 4,
    at most 32, like ``ThreadPoolExecutor``)."""
    value = os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "").strip()
    if value:
        return max(1, int(value))
    return min(32, (os.cpu_count() or 1) + 4)


def decode_input(text: str | None) -> Any:
    if text is None:
        return None
    return ActivityTriggerConverter.decode(meta.Datum(text, "json"), trigger_metadata={})


def encode_output(value: Any) -> str:
    return str(ActivityTriggerConverter.encode(value, expected_type=None).value)


def call_activity(fi: FunctionInfo, item: WorkItem) -> Any:
    """Call a sync activity in the current thread; returns its (undecoded) return value."""
    assert fi.user_function is not None
    arg = fi.trigger_binding.get("name", "input")
    return fi.user_function(**{arg: decode_input(item.input)})


def completion(
    item: WorkItem, now: datetime, result: Any = None, error: BaseException | None = None
) -> dict[str, Any]:
    """The TaskCompleted / TaskFailed event recording an activity's outcome."""
    if error is None:
        return h.event(
            h.TASK_COMPLETED, now, TaskScheduledId=item.seq, Result=encode_output(result)
        )
    reason = f"Activity function '{item.name}' failed: {type(error).__name__}: {error}"
    details = "".join(traceback.format_exception(error))
    return h.event(h.TASK_FAILED, now, TaskScheduledId=item.seq, Reason=reason, Details=details)


class ActivityRunner:
    """A thread pool for sync activities and an event loop thread for async ones; or, with
    ``processes`` > 1 and an ``app_spec``, worker processes (see ``workers.py``)."""

    def __init__(
        self,
        clock_now: Callable[[], datetime],
        threads: int | None = None,
        processes: int = 1,
        app_spec: str | None = None,
    ) -> None:
        self._now = clock_now
        self.threads = threads or default_thread_count()
        self._workers = WorkerPool(app_spec, processes) if processes > 1 and app_spec else None
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="podium-activity")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="podium-activity-loop", daemon=True
                )
                thread.start()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    def submit(self, fi: FunctionInfo, item: WorkItem, done: Done) -> None:
        fn = fi.user_function
        if self._workers is not None:
            future = self._workers.submit(item.name, item.input)
            future.add_done_callback(lambda f: done(item, self._from_worker(item, f)))
        elif inspect.iscoroutinefunction(fn):
            asyncio.run_coroutine_threadsafe(self._run_async(fi, item, done), self._event_loop())
        else:
            self._pool.submit(self._run_sync, fi, item, done)

    def _from_worker(self, item: WorkItem, future: Future[Outcome]) -> dict[str, Any]:
        try:
            ok, result, reason, details = future.result()
        except Exception as exc:  # noqa: BLE001 - the worker process died mid-activity
            ok, result = False, None
            reason = f"Activity function '{item.name}' failed: worker process died: {exc!r}"
            details = ""
        now = self._now()
        if ok:
            return h.event(h.TASK_COMPLETED, now, TaskScheduledId=item.seq, Result=result)
        return h.event(h.TASK_FAILED, now, TaskScheduledId=item.seq, Reason=reason, Details=details)

    def _run_sync(self, fi: FunctionInfo, item: WorkItem, done: Done) -> None:
        with logcontext.invocation(fi.name):
            try:
                event = completion(item, self._now(), call_activity(fi, item))
            except Exception as exc:  # noqa: BLE001 - recorded as TaskFailed
                event = completion(item, self._now(), error=exc)
        done(item, event)

    async def _run_async(self, fi: FunctionInfo, item: WorkItem, done: Done) -> None:
        assert fi.user_function is not None
        with logcontext.invocation(fi.name):
            try:
                arg = fi.trigger_binding.get("name", "input")
                value = await fi.user_function(**{arg: decode_input(item.input)})
                event = completion(item, self._now(), value)
            except Exception as exc:  # noqa: BLE001
                event = completion(item, self._now(), error=exc)
        done(item, event)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._workers is not None:
            self._workers.shutdown()
        with self._lock:
            loop, thread = self._loop, self._loop_thread
            self._loop = self._loop_thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
