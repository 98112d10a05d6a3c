"""pytest support: run a Functions app in-process (no port) on a virtual clock.

Enable it in a ``conftest.py`` with ``pytest_plugins = ["podium.localhost.testing"]``; then::

    def test_approval_times_out(podium_host):
        host = podium_host("path/to/app")            # LocalHost, started, port=None
        iid = host.start_orchestration("approval", {"id": 1})
        host.wait_for_idle()
        host.advance(timedelta(hours=2))             # the 2-hour timeout fires now
        host.wait_for_idle()
        assert host.status(iid).output == {"approved": False, "reason": "timeout"}

The factory keeps every host it starts and stops them at the end of the test. Each host gets
its own data directory under ``tmp_path`` (a fresh task hub and broker), a ``VirtualClock``
starting at 2030-01-01T00:00Z unless ``clock=`` is given, and a short trigger poll interval.
``port=0`` serves on a random free loopback port instead (``host.base_url``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from podium.localhost.clock import VirtualClock
from podium.localhost.host import LocalHost

DEFAULT_START = datetime(2030, 1, 1, tzinfo=UTC)

HostFactory = Callable[..., LocalHost]


def make_host(
    app_dir: Path | str,
    data_dir: Path | str,
    *,
    port: int | None = None,
    clock: Any | None = None,
    **kwargs: Any,
) -> LocalHost:
    """Start a host for tests: in-process unless ``port`` is given, on a virtual clock."""
    kwargs.setdefault("poll_seconds", 0.1)
    host = LocalHost(app_dir, port=port, clock=clock or VirtualClock(DEFAULT_START),
                     data_dir=data_dir, **kwargs)
    return host.start()


@pytest.fixture
def podium_host(tmp_path: Path) -> Iterator[HostFactory]:
    """Factory fixture: ``podium_host(app_dir, port=None, clock=None, **LocalHost kwargs)``."""
    hosts: list[LocalHost] = []

    def factory(app_dir: Path | str = ".", **kwargs: Any) -> LocalHost:
        data_dir = kwargs.pop("data_dir", tmp_path / f"podium-host-{len(hosts)}")
        host = make_host(app_dir, data_dir, **kwargs)
        hosts.append(host)
        return host

    yield factory
    for host in reversed(hosts):
        host.stop()
