"""OpenTelemetry traces in which every span of a flow carries the flow's Podium traceId.

Why not plain OpenTelemetry context propagation: a Durable flow runs in many short episodes,
possibly in different processes, and orchestrator code is replayed, so there is no live span to
inherit from. Podium's ``traceId`` *is* the W3C trace id (32 hex), stored in the flow's input and
events; :func:`start_span` turns it back into a parent context. Each flow has one deterministic
root span id (:func:`flow_root_span_id`), so a span that only knows the traceId still hangs
under the flow's root span (emitted by the trigger with ``root=True``), and a W3C
``traceparent`` carried in Service Bus application properties or HTTP headers gives a precise
parent when one is available.

Spans are emitted from triggers and activities, never from orchestrator functions (replays would
duplicate them); :func:`record_orchestration_episode` lets an activity or the host record an
orchestrator episode after the fact, with explicit start and end times.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import re
import secrets
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags

from podium.observability.logging import bind_context
from podium.observability.settings import ObservabilitySettings

__all__ = [
    "TraceParent",
    "configure_tracing",
    "current_traceparent",
    "finished_spans",
    "flow_root_span_id",
    "get_tracer",
    "new_trace_id",
    "parse_traceparent",
    "record_orchestration_episode",
    "shutdown_tracing",
    "start_span",
    "trace_headers",
    "traceparent_for",
]

TRACEPARENT = "traceparent"  # same key in HTTP headers and Service Bus application properties
_TRACE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID_RE = re.compile(r"^[0-9a-f]{16}$")
_TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

_forced_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "podium_forced_trace_id", default=None
)
_forced_span_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "podium_forced_span_id", default=None
)


class TraceParent(NamedTuple):
    trace_id: str  # 32 hex
    span_id: str  # 16 hex
    sampled: bool


class _FlowIdGenerator(IdGenerator):
    """Random ids, except while :func:`start_span` forces a flow's root span ids."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        return _forced_span_id.get() or self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        return _forced_trace_id.get() or self._random.generate_trace_id()


_lock = threading.Lock()
_provider: TracerProvider | None = None
_memory: InMemorySpanExporter | None = None
_episodes_seen: OrderedDict[tuple[str, int], None] = OrderedDict()
_EPISODES_REMEMBERED = 10_000


def new_trace_id() -> str:
    """A fresh Podium traceId: a valid W3C trace id (32 lowercase hex, not all zeros)."""
    while True:
        value = secrets.token_hex(16)
        if int(value, 16):
            return value


def _check_trace_id(trace_id: str) -> str:
    value = trace_id.strip().lower()
    if not _TRACE_ID_RE.match(value) or not int(value, 16):
        raise ValueError(f"not a W3C trace id (32 hex, not all zeros): {trace_id!r}")
    return value


def flow_root_span_id(trace_id: str) -> str:
    """The span id of a flow's root span, derived from its traceId so any process can name it."""
    digest = hashlib.sha256(_check_trace_id(trace_id).encode()).hexdigest()[:16]
    return digest if int(digest, 16) else "0000000000000001"


def traceparent_for(trace_id: str, span_id: str | None = None, sampled: bool = True) -> str:
    """W3C ``traceparent`` for a flow; without ``span_id`` it points at the flow's root span."""
    trace_id = _check_trace_id(trace_id)
    span = (span_id or flow_root_span_id(trace_id)).lower()
    if not _SPAN_ID_RE.match(span) or not int(span, 16):
        raise ValueError(f"not a W3C span id (16 hex, not all zeros): {span_id!r}")
    return f"00-{trace_id}-{span}-{'01' if sampled else '00'}"


def parse_traceparent(value: str) -> TraceParent:
    """Parse a W3C ``traceparent``; raises ``ValueError`` when it is malformed."""
    match = _TRACEPARENT_RE.match(value.strip().lower()) if value else None
    if not match or match.group(1) == "ff":
        raise ValueError(f"malformed traceparent: {value!r}")
    _, trace_id, span_id, flags = match.groups()
    if not int(trace_id, 16) or not int(span_id, 16):
        raise ValueError(f"traceparent with a zero id: {value!r}")
    return TraceParent(trace_id, span_id, bool(int(flags, 16) & 1))


def _build_exporter(settings: ObservabilitySettings) -> SpanExporter | None:
    if settings.exporter == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    if settings.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint/headers from the standard OTEL_EXPORTER_OTLP_* vars
    if settings.exporter == "azuremonitor":
        try:
            from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter
        except ImportError as exc:  # optional dependency
            raise RuntimeError(
                "PODIUM_OTEL_EXPORTER=azuremonitor needs the azure-monitor-opentelemetry package"
            ) from exc
        return AzureMonitorTraceExporter(connection_string=settings.azure_monitor_connection_string)
    return None


def configure_tracing(settings: ObservabilitySettings | None = None) -> TracerProvider:
    """(Re)build Podium's TracerProvider from settings (default: the environment).

    ``memory`` keeps finished spans for :func:`finished_spans` (tests). The provider is Podium's
    own, not the process-global one, so reconfiguring in tests is safe.
    """
    global _provider, _memory
    settings = settings or ObservabilitySettings.from_env()
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        id_generator=_FlowIdGenerator(),
    )
    memory: InMemorySpanExporter | None = None
    if settings.exporter == "memory":
        memory = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(memory))
    else:
        exporter = _build_exporter(settings)
        if exporter is not None:
            processor_cls = (
                SimpleSpanProcessor if settings.exporter == "console" else BatchSpanProcessor
            )
            provider.add_span_processor(processor_cls(exporter))
    with _lock:
        old, _provider, _memory = _provider, provider, memory
        _episodes_seen.clear()
    if old is not None:
        old.shutdown()
    return provider


def get_tracer(name: str = "podium") -> otel_trace.Tracer:
    if _provider is None:
        configure_tracing()
    assert _provider is not None
    return _provider.get_tracer(name)


def shutdown_tracing() -> None:
    """Flush and stop the exporters (call at host shutdown)."""
    global _provider
    with _lock:
        provider, _provider = _provider, None
    if provider is not None:
        provider.shutdown()


def finished_spans() -> tuple[ReadableSpan, ...]:
    """Spans finished so far; only with the ``memory`` exporter."""
    if _memory is None:
        raise RuntimeError("finished_spans() needs configure_tracing with exporter 'memory'")
    return _memory.get_finished_spans()


def _remote_parent(trace_id: str, span_id: str, sampled: bool = True) -> otel_context.Context:
    span_context = SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
    )
    return otel_trace.set_span_in_context(NonRecordingSpan(span_context), otel_context.Context())


def _parent_context(
    trace_id: str | None, parent_traceparent: str | None
) -> otel_context.Context | None:
    """Where a new span hangs: the given traceparent, else the current span when it belongs to
    the same flow, else the flow's root span; ``None`` means "a new trace"."""
    if parent_traceparent:
        parent = parse_traceparent(parent_traceparent)
        if trace_id is not None and parent.trace_id != trace_id:
            raise ValueError(f"traceparent {parent_traceparent!r} is not in trace {trace_id}")
        return _remote_parent(parent.trace_id, parent.span_id, parent.sampled)
    current = otel_trace.get_current_span().get_span_context()
    if trace_id is None:
        return None if not current.is_valid else otel_context.get_current()
    if current.is_valid and otel_trace.format_trace_id(current.trace_id) == trace_id:
        return otel_context.get_current()
    return _remote_parent(trace_id, flow_root_span_id(trace_id))


@contextlib.contextmanager
def start_span(
    name: str,
    *,
    trace_id: str | None = None,
    parent_traceparent: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    root: bool = False,
) -> Iterator[Span]:
    """Start a span of the flow ``trace_id`` and make it current (logs inside carry its traceId).

    ``root=True`` makes this span the flow's root (span id :func:`flow_root_span_id`); use it
    once per flow, in the trigger that receives ``ProjectCreated`` / starts the flow. Exceptions
    are recorded on the span and re-raised.
    """
    if trace_id is not None:
        trace_id = _check_trace_id(trace_id)
    attrs = {k: v for k, v in (attributes or {}).items() if v is not None}
    tracer = get_tracer()
    if root:
        if trace_id is None:
            trace_id = new_trace_id()
        tokens = (
            _forced_trace_id.set(int(trace_id, 16)),
            _forced_span_id.set(int(flow_root_span_id(trace_id), 16)),
        )
        try:
            span = tracer.start_span(
                name, context=otel_context.Context(), kind=kind, attributes=attrs
            )
        finally:
            _forced_span_id.reset(tokens[1])
            _forced_trace_id.reset(tokens[0])
    else:
        parent = _parent_context(trace_id, parent_traceparent)
        span = tracer.start_span(name, context=parent, kind=kind, attributes=attrs)
    flow_trace_id = otel_trace.format_trace_id(span.get_span_context().trace_id)
    with otel_trace.use_span(span, end_on_exit=True), bind_context(trace_id=flow_trace_id):
        yield span


def current_traceparent() -> str | None:
    """``traceparent`` of the current span, to stamp on outgoing messages and requests."""
    ctx = otel_trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return traceparent_for(
        otel_trace.format_trace_id(ctx.trace_id),
        otel_trace.format_span_id(ctx.span_id),
        bool(ctx.trace_flags & TraceFlags.SAMPLED),
    )


def trace_headers(trace_id: str | None = None) -> dict[str, str]:
    """``{"traceparent": ...}`` for HTTP headers / Service Bus application properties: the
    current span's, else the flow root of ``trace_id``, else empty."""
    value = current_traceparent()
    if value is None and trace_id:
        value = traceparent_for(trace_id)
    return {TRACEPARENT: value} if value else {}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime) -> int:
    """Exact epoch nanoseconds (float ``timestamp()`` loses microseconds); naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1_000


def record_orchestration_episode(
    *,
    trace_id: str,
    orchestrator: str,
    instance_id: str,
    episode: int,
    started_at: datetime,
    ended_at: datetime,
    status: str,
    parent_traceparent: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> bool:
    """Record one orchestrator episode (one replay-and-advance of ``instance_id``) as a span.

    Call it from an activity or the host, never from orchestrator code. The same
    ``(instance_id, episode)`` is recorded once per process; returns ``False`` for a repeat.
    """
    key = (instance_id, int(episode))
    with _lock:
        if key in _episodes_seen:
            return False
        _episodes_seen[key] = None
        while len(_episodes_seen) > _EPISODES_REMEMBERED:
            _episodes_seen.popitem(last=False)
    trace_id = _check_trace_id(trace_id)
    attrs: dict[str, Any] = {
        "podium.trace_id": trace_id,
        "durable.orchestrator": orchestrator,
        "durable.instance_id": instance_id,
        "durable.episode": int(episode),
        "durable.status": status,
    }
    attrs.update({k: v for k, v in (attributes or {}).items() if v is not None})
    parent = _parent_context(trace_id, parent_traceparent)
    span = get_tracer().start_span(
        f"orchestration {orchestrator}",
        context=parent,
        attributes=attrs,
        start_time=_ns(started_at),
    )
    if status.lower() in ("failed", "terminated"):
        span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, status))
    span.end(end_time=_ns(ended_at))
    return True
