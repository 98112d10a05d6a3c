"""Per-invocation log context: every log line a function writes carries its name and id.

The Functions host tags each invocation's logs with the function name and invocation id; the
local host does the same with a context variable and a log-record factory, so it works for
loggers the user's code creates itself (no handler or logger needs configuring).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import uuid
from collections.abc import Iterator

_current: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "podium_invocation", default=None
)
_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Wrap the log-record factory once: records get ``function_name`` and ``invocation_id``
    (``None`` outside an invocation), usable in any formatter."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            current = _current.get()
            record.function_name = current[0] if current else None
            record.invocation_id = current[1] if current else None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


@contextlib.contextmanager
def invocation(function_name: str, invocation_id: str | None = None) -> Iterator[str]:
    """Run a block as one invocation of ``function_name``; yields the invocation id."""
    invocation_id = invocation_id or str(uuid.uuid4())
    token = _current.set((function_name, invocation_id))
    try:
        yield invocation_id
    finally:
        _current.reset(token)


def current() -> tuple[str, str] | None:
    """``(function_name, invocation_id)`` of the running invocation, if any."""
    return _current.get()
