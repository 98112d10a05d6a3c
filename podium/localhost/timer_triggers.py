"""Timer trigger functions: 6-field NCRONTAB schedules, driven by the host clock.

NCRONTAB is ``{second} {minute} {hour} {day} {month} {day-of-week}``; croniter reads it with
``second_at_beginning=True``. A ``%Setting%`` schedule is read from app settings. Time comes
from the host clock, so under a ``VirtualClock`` a test that advances 3 days sees the timer
fire at once. As on Azure, missed occurrences are not replayed one by one: the function runs
once with ``past_due=True`` and the schedule continues from the current time.
``runOnStartup`` runs the function once when the host starts.

Schedule monitoring (``useMonitor``, on by default as on Azure): the last occurrence that ran
is kept in ``<data dir>/timer-status.json``, so an occurrence missed while the host was down
runs once at start with ``past_due=True``; ``useMonitor: false`` skips missed occurrences.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from azure.functions.timer import TimerRequest
from croniter import croniter

from podium.localhost.api import FunctionInfo
from podium.localhost.invocation import Invoker, binding_of
from podium.localhost.servicebus_triggers import resolve_setting

log = logging.getLogger("podium.localhost.timer")

PAST_DUE_TOLERANCE = timedelta(seconds=1)


class ScheduleError(ValueError):
    """A timer schedule that is not a valid 6-field NCRONTAB expression."""


def compile_schedule(expression: str, function_name: str) -> str:
    fields = expression.split()
    if len(fields) != 6:
        raise ScheduleError(
            f"function {function_name!r}: schedule {expression!r} must have 6 fields "
            "(second minute hour day month day-of-week)")
    if not croniter.is_valid(expression, second_at_beginning=True):
        raise ScheduleError(f"function {function_name!r}: schedule {expression!r} is not valid "
                            "NCRONTAB")
    return expression


def next_after(expression: str, after: datetime) -> datetime:
    return croniter(expression, after, second_at_beginning=True).get_next(datetime)


class ScheduleMonitor:
    """When each timer function last ran (covering every occurrence up to then), in one small
    JSON file (atomic replace), like the Functions host's schedule monitor in its storage."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def last(self, name: str) -> datetime | None:
        with self._lock:
            raw = self._read().get(name)
        try:
            return datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            return None

    def record(self, name: str, occurrence: datetime) -> None:
        with self._lock:
            data = self._read()
            data[name] = occurrence.isoformat()
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)


class TimerRunner:
    """Fires one timer function on its schedule, until stopped."""

    def __init__(
        self,
        info: FunctionInfo,
        clock: Any,
        invoker: Invoker,
        settings: Callable[[str], str | None],
        client_binding: Callable[[], str],
        poll_seconds: float = 1.0,
        monitor: ScheduleMonitor | None = None,
    ) -> None:
        self.info = info
        self.clock = clock
        self.invoker = invoker
        self.client_binding = client_binding
        self.poll_seconds = poll_seconds
        binding = info.trigger_binding
        self.schedule = compile_schedule(resolve_setting(str(binding["schedule"]), settings),
                                         info.name)
        self.run_on_startup = bool(binding.get("runOnStartup"))
        self.trigger_name = binding.get("name", "timer")
        client = binding_of(info, "durableClient")
        self.client_name = client["name"] if client else None
        use_monitor = binding.get("useMonitor")
        self.monitor = monitor if use_monitor is not False else None
        self.last: datetime | None = None
        last_due = self.monitor.last(info.name) if self.monitor else None
        # after a restart, the first occurrence after the last one that ran (maybe past due)
        self.next_due = next_after(self.schedule, last_due or clock.now())
        self.runs = 0
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        log.info("Timer trigger %r scheduled %r; next %s", self.info.name, self.schedule,
                 self.next_due.isoformat())
        if self.run_on_startup:
            await self._fire(past_due=False)
        while not self._stopping:
            self._wake.clear()
            now = self.clock.now()
            if now >= self.next_due:
                late = now - self.next_due
                skipped = next_after(self.schedule, self.next_due) <= now
                await self._fire(past_due=skipped or late > PAST_DUE_TOLERANCE)
                if self.monitor is not None:
                    # the run covers every occurrence up to now
                    await asyncio.to_thread(self.monitor.record, self.info.name, now)
                self.next_due = next_after(self.schedule, now)
                continue
            wait = (self.next_due - now).total_seconds()
            if getattr(self.clock, "is_virtual", False):
                wait = self.poll_seconds  # virtual time only moves when advanced (we get woken)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(wait, self.poll_seconds))

    async def _fire(self, past_due: bool) -> None:
        now = self.clock.now()
        status = {
            "Last": (self.last or now).isoformat(),
            "Next": next_after(self.schedule, now).isoformat(),
            "LastUpdated": now.isoformat(),
        }
        request = TimerRequest(past_due=past_due, schedule_status=status,
                                    schedule={"AdjustForDST": True})
        kwargs: dict[str, Any] = {self.trigger_name: request}
        if self.client_name:
            kwargs[self.client_name] = self.client_binding()
        try:
            await self.invoker.invoke(self.info, kwargs)
        except Exception:
            log.exception("Timer function %r failed", self.info.name)
        finally:
            self.runs += 1
            self.last = now

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()


def timer_functions(functions: list[FunctionInfo]) -> list[FunctionInfo]:
    return [f for f in functions if f.trigger_type == "timerTrigger"]
