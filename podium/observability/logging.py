"""Structured JSON logs: one line per record, correlated by traceId, with secrets redacted.

Why a formatter rather than a logging library: every module keeps using the standard
``logging.getLogger(__name__)``; ``configure_logging`` only swaps the output format, so the
Azure Functions worker's own handler keeps working and tests can capture lines from a stream.

Correlation fields come from three places, most specific first:
1. ``extra=`` on the call (``log.info("done", extra={"task_id": "T1", "duration_ms": 12})``),
2. the context bound with :func:`bind_context` (a ``contextvars`` value, so it follows asyncio
   tasks and is not shared between threads),
3. the active OpenTelemetry span (its trace id, when nothing else gave a traceId).

Redaction: callables registered with :func:`add_redactor` rewrite every string of every record
(message after ``%`` formatting, so args are covered, extras recursively, exception text, stack)
before it is encoded; the final JSON line is passed through them once more. The same redactors
are attached as a filter to the other root handlers, so no output path sees a secret value.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any, Protocol

from opentelemetry import trace as otel_trace

__all__ = [
    "CORE_FIELDS",
    "JsonFormatter",
    "RedactionFilter",
    "add_redactor",
    "bind_context",
    "clear_redactors",
    "configure_logging",
    "current_context",
    "redact",
    "remove_redactor",
]

#: Keys present on every line (``null`` when unknown), in this order.
CORE_FIELDS = (
    "timestamp",
    "level",
    "logger",
    "message",
    "traceId",
    "tenantId",
    "projectId",
    "taskId",
    "agentId",
    "durationMs",
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "podium_log_context", default=_EMPTY
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class _RedactorObject(Protocol):
    def redact(self, text: str) -> str: ...


class _ScrubberObject(Protocol):
    def scrub(self, text: str) -> str: ...


Redactor = Callable[[str], str] | _RedactorObject | _ScrubberObject

_redactors: list[Callable[[str], str]] = []
_redactor_sources: list[Redactor] = []
_redactors_lock = threading.Lock()


def _camel(key: str) -> str:
    """``trace_id`` -> ``traceId``; keys already in camelCase are kept."""
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def add_redactor(redactor: Redactor) -> Callable[[], None]:
    """Register a redactor: a ``str -> str`` callable, or an object with ``redact(str)`` or
    ``scrub(str)`` (the adapters' :class:`podium.adapters.secrets.Redactor`, which masks every
    resolved secret value). Returns
    a function that unregisters it (handy in tests).
    """
    fn: Callable[[str], str]
    for method in ("redact", "scrub"):  # scrub: podium.adapters.secrets.Redactor
        if callable(getattr(redactor, method, None)):
            fn = getattr(redactor, method)
            break
    else:
        if not callable(redactor):
            raise TypeError(f"not a redactor (callable, .redact or .scrub): {redactor!r}")
        fn = redactor
    with _redactors_lock:
        _redactors.append(fn)
        _redactor_sources.append(redactor)
    return lambda: remove_redactor(redactor)


def remove_redactor(redactor: Redactor) -> None:
    with _redactors_lock:
        for i, source in enumerate(_redactor_sources):
            if source is redactor:
                del _redactor_sources[i]
                del _redactors[i]
                return


def clear_redactors() -> None:
    with _redactors_lock:
        _redactors.clear()
        _redactor_sources.clear()


REDACTION_FAILED = "[REDACTION FAILED]"


def _try_redact(text: str) -> str | None:
    for fn in list(_redactors):
        try:
            text = fn(text)
        except Exception:  # noqa: BLE001 - fail closed, never leak
            return None
    return text


def redact(text: str) -> str:
    """Apply every registered redactor to ``text``. A failing redactor masks the whole text
    rather than letting an unredacted value through."""
    result = _try_redact(text)
    return REDACTION_FAILED if result is None else result


def _sanitize(value: Any) -> Any:
    """Redact every string inside ``value``; unknown objects become redacted ``str()``."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(k)): _sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_sanitize(v) for v in value]
    return redact(str(value))


@contextlib.contextmanager
def bind_context(**fields: Any) -> Iterator[Mapping[str, Any]]:
    """Add correlation fields (``trace_id=``, ``tenant_id=``, ``project_id=``, ``task_id=``,
    ``agent_id=``, or any other) to every record logged inside the ``with`` block.

    Nested blocks add to (and may override) the outer fields; ``None`` values are ignored.
    """
    merged = dict(_context.get())
    merged.update({_camel(k): v for k, v in fields.items() if v is not None})
    token = _context.set(MappingProxyType(merged))
    try:
        yield merged
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, Any]:
    """The fields bound by the enclosing :func:`bind_context` blocks (camelCase keys)."""
    return dict(_context.get())


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line (see :data:`CORE_FIELDS`)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {key: None for key in CORE_FIELDS}
        payload["timestamp"] = (
            datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        ).replace("+00:00", "Z")
        payload["level"] = record.levelname
        payload["logger"] = record.name
        payload["message"] = redact(record.getMessage())
        span = otel_trace.get_current_span().get_span_context()
        if span.is_valid:
            payload["traceId"] = otel_trace.format_trace_id(span.trace_id)
            payload["spanId"] = otel_trace.format_span_id(span.span_id)
        for key, value in _context.get().items():
            payload[key] = _sanitize(value)
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[_camel(key)] = _sanitize(value)
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            payload["exception"] = redact(record.exc_text)
        if record.stack_info:
            payload["stack"] = redact(self.formatStack(record.stack_info))
        line = json.dumps(payload, ensure_ascii=False, default=str, separators=(",", ":"))
        redacted = _try_redact(line)
        if redacted is None:  # still one valid JSON line, without any record content
            keep = ("timestamp", "level", "logger")
            fallback = {k: payload[k] for k in keep} | {"message": REDACTION_FAILED}
            return json.dumps(fallback, separators=(",", ":"))
        return redacted


class RedactionFilter(logging.Filter):
    """Rewrites a record in place (message, args, exception text) through the redactors, for
    handlers Podium does not own (e.g. the Functions worker's), which format records themselves.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not _redactors:
            return True
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                setattr(record, key, _sanitize(value))
        return True


_PODIUM_HANDLER_FLAG = "_podium_json_handler"


def configure_logging(
    level: str | int | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Install the JSON handler on the root logger (replacing one installed earlier) and the
    redaction filter on every other root handler. Idempotent; returns the JSON handler.

    ``level`` defaults to the ``PODIUM_LOG_LEVEL`` setting (``INFO``)."""
    if level is None:
        level = os.environ.get("PODIUM_LOG_LEVEL", "INFO") or "INFO"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _PODIUM_HANDLER_FLAG, False):
            root.removeHandler(handler)
            handler.close()  # flushes; a StreamHandler never closes its stream
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _PODIUM_HANDLER_FLAG, True)
    handler.setFormatter(JsonFormatter())
    for other in root.handlers:
        if not any(isinstance(f, RedactionFilter) for f in other.filters):
            other.addFilter(RedactionFilter())
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    return handler
