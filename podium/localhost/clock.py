"""Clocks the durable engine reads time from.

Durable timers fire when ``fireAt <= clock.now()``. ``SystemClock`` follows wall time;
``VirtualClock`` only moves when a test advances it, so a 2-hour approval timeout or a 3-day
timer fires instantly and deterministically. Both are tz-aware UTC and never go backwards,
because the SDK computes timers from ``current_utc_datetime`` and history timestamps must be
monotonic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Listener = Callable[[], None]


class _Listeners:
    """Callbacks run when a clock jumps, so a sleeping dispatcher wakes to fire timers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()


class SystemClock:
    """Wall-clock UTC time, clamped so it never goes backwards (NTP steps happen)."""

    is_virtual = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)
        self._listeners = _Listeners()

    def now(self) -> datetime:
        current = datetime.now(UTC)
        with self._lock:
            if current < self._last:
                current = self._last
            self._last = current
            return current

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Wall time needs no wake-ups (the engine sleeps until the next timer); kept for
        symmetry with :class:`VirtualClock`."""
        return self._listeners.subscribe(listener)


class VirtualClock:
    """A clock that moves only when told to; for tests and the in-process pytest fixture."""

    is_virtual = True

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs a tz-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._listeners = _Listeners()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by ``delta`` and wake the engine so due timers fire."""
        if delta < timedelta(0):
            raise ValueError("a clock never goes backwards")
        with self._lock:
            self._now += delta
            now = self._now
        self._listeners.notify()
        return now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (tz-aware, not earlier than now)."""
        if when.tzinfo is None:
            raise ValueError("set() needs a tz-aware datetime")
        when = when.astimezone(UTC)
        with self._lock:
            if when < self._now:
                raise ValueError(f"a clock never goes backwards ({when} < {self._now})")
            self._now = when
        self._listeners.notify()
        return when

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.subscribe(listener)
