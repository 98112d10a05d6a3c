"""Isolation for observability tests: each test gets fresh logging, tracing and metrics state."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from podium.observability import (
    ObservabilitySettings,
    clear_redactors,
    configure_logging,
    configure_tracing,
    reset_metrics,
)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Root logger writing JSON lines to a StringIO; the previous root setup is restored."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_filters = {h: list(h.filters) for h in saved_handlers}
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        handler.filters[:] = saved_filters[handler]
        root.addHandler(handler)
    root.setLevel(saved_level)
    clear_redactors()


@pytest.fixture
def spans() -> Iterator[None]:
    """Tracing with the in-memory exporter (read with ``finished_spans()``)."""
    configure_tracing(ObservabilitySettings(exporter="memory"))
    yield
    configure_tracing(ObservabilitySettings(exporter="none"))


@pytest.fixture
def metrics():
    """A fresh process-wide Metrics instance."""
    instance = reset_metrics()
    yield instance
    reset_metrics()
