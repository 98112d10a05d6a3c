"""The broker of the local host running in this process, for the app's adapters to find.

The host installs its broker here at start and removes it at stop, so an adapter (e.g.
``LocalBrokerEventPublisher``) can publish to the same broker, and therefore wake the same
Service Bus trigger pumps, without importing the host. Another process can open the same
SQLite file with ``Broker(path)``; its messages are seen by the host's pumps on their next poll.
"""

from __future__ import annotations

import threading

from podium.localhost.broker.broker import Broker, BrokerError

_lock = threading.Lock()
_current: Broker | None = None


def install(broker: Broker | None) -> None:
    global _current
    with _lock:
        _current = broker


def current() -> Broker:
    """The running host's broker; BrokerError when no local host runs in this process."""
    with _lock:
        if _current is None:
            raise BrokerError("no local host broker is running in this process "
                              "(start one with `podium host` or the podium_host fixture)")
        return _current


def uninstall(broker: Broker) -> None:
    """Forget ``broker`` if it is the installed one (a host stopping)."""
    global _current
    with _lock:
        if _current is broker:
            _current = None
