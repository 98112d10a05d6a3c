"""Shared helpers of the local host tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest


class ManualClock:
    """A clock the test moves by hand (the host's VirtualClock lives in the engine package)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2030, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
