"""Podium observability: structured JSON logs, OpenTelemetry traces and metrics.

Everything a caller needs is re-exported here::

    from podium.observability import bind_context, start_span, get_metrics

See ``docs/observability.md`` for settings and conventions.
"""

from podium.observability.instrument import job_context, traced
from podium.observability.logging import (
    JsonFormatter,
    RedactionFilter,
    add_redactor,
    bind_context,
    clear_redactors,
    configure_logging,
    current_context,
    redact,
    remove_redactor,
)
from podium.observability.metrics import (
    INSTRUMENTS,
    Metrics,
    get_metrics,
    prometheus_text,
    reset_metrics,
)
from podium.observability.settings import ObservabilitySettings
from podium.observability.tracing import (
    TRACEPARENT,
    TraceParent,
    configure_tracing,
    current_traceparent,
    finished_spans,
    flow_root_span_id,
    get_tracer,
    new_trace_id,
    parse_traceparent,
    record_orchestration_episode,
    shutdown_tracing,
    start_span,
    trace_headers,
    traceparent_for,
)

__all__ = [
    "INSTRUMENTS",
    "TRACEPARENT",
    "JsonFormatter",
    "Metrics",
    "ObservabilitySettings",
    "RedactionFilter",
    "TraceParent",
    "add_redactor",
    "bind_context",
    "clear_redactors",
    "configure_logging",
    "configure_tracing",
    "current_context",
    "current_traceparent",
    "finished_spans",
    "flow_root_span_id",
    "get_metrics",
    "get_tracer",
    "job_context",
    "new_trace_id",
    "parse_traceparent",
    "prometheus_text",
    "record_orchestration_episode",
    "redact",
    "remove_redactor",
    "reset_metrics",
    "shutdown_tracing",
    "start_span",
    "trace_headers",
    "traced",
    "traceparent_for",
]
