"""Shared helpers of the local host tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from podium.localhost.testing import podium_host  # noqa: F401  (the fixture under test)

APPS = Path(__file__).parent / "apps"
BASIC_APP = APPS / "basic"
FUNCTION_KEY, MASTER_KEY, DURABLE_KEY = "fk-test", "mk-test", "dk-test"


class ManualClock:
    """A clock the broker tests move by hand."""

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
