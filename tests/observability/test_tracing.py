"""Spans of one flow share its traceId across episodes and processes, and carry traceparent."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.trace import StatusCode

from podium.observability import (
    ObservabilitySettings,
    current_traceparent,
    finished_spans,
    flow_root_span_id,
    new_trace_id,
    parse_traceparent,
    record_orchestration_episode,
    start_span,
    trace_headers,
    traceparent_for,
)


def _hex_trace(span) -> str:
    return otel_trace.format_trace_id(span.context.trace_id)


def _hex_span(span_id: int) -> str:
    return otel_trace.format_span_id(span_id)


def test_new_trace_id_is_w3c() -> None:
    ids = {new_trace_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 32 and int(i, 16) and i == i.lower() for i in ids)


def test_traceparent_round_trip_and_validation() -> None:
    trace_id = new_trace_id()
    value = traceparent_for(trace_id)
    parsed = parse_traceparent(value)
    assert parsed.trace_id == trace_id
    assert parsed.span_id == flow_root_span_id(trace_id)
    assert parsed.sampled
    assert parse_traceparent(traceparent_for(trace_id, "00f067aa0ba902b7", sampled=False)) == (
        trace_id,
        "00f067aa0ba902b7",
        False,
    )
    for bad in (
        "",
        "garbage",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"ff-{trace_id}-00f067aa0ba902b7-01",
    ):
        with pytest.raises(ValueError):
            parse_traceparent(bad)
    with pytest.raises(ValueError):
        traceparent_for("trace-abc")


def test_every_span_of_a_flow_shares_its_trace_id(spans: None) -> None:
    trace_id = new_trace_id()
    with start_span("ProjectCreated", trace_id=trace_id, root=True) as root:
        headers = trace_headers()
    # later episodes / other activities only know the traceId (no live parent)
    with (
        start_span("activity PublishEvent", trace_id=trace_id) as activity,
        start_span("agent_task T1") as nested,
    ):
        nested_tp = current_traceparent()
    with start_span("event MicroservicePlanned", parent_traceparent=headers["traceparent"]):
        pass
    with start_span("unrelated"):
        pass

    done = {s.name: s for s in finished_spans()}
    flow = [
        done[n]
        for n in (
            "ProjectCreated",
            "activity PublishEvent",
            "agent_task T1",
            "event MicroservicePlanned",
        )
    ]
    assert {_hex_trace(s) for s in flow} == {trace_id}
    assert _hex_trace(done["unrelated"]) != trace_id
    # the root span has the deterministic id; spans knowing only the traceId hang under it
    assert _hex_span(root.get_span_context().span_id) == flow_root_span_id(trace_id)
    assert done["ProjectCreated"].parent is None
    assert _hex_span(done["activity PublishEvent"].parent.span_id) == flow_root_span_id(trace_id)
    assert done["agent_task T1"].parent.span_id == activity.get_span_context().span_id
    assert done["event MicroservicePlanned"].parent.span_id == root.get_span_context().span_id
    assert headers == {"traceparent": traceparent_for(trace_id)}
    assert parse_traceparent(nested_tp).span_id == _hex_span(nested.get_span_context().span_id)


def test_mismatched_traceparent_is_refused(spans: None) -> None:
    with (
        pytest.raises(ValueError),
        start_span(
            "x", trace_id=new_trace_id(), parent_traceparent=traceparent_for(new_trace_id())
        ),
    ):
        pass


def test_exception_is_recorded_and_reraised(spans: None) -> None:
    with pytest.raises(RuntimeError), start_span("activity Fails", trace_id=new_trace_id()):
        raise RuntimeError("boom")
    (span,) = finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert any(e.name == "exception" for e in span.events)


def test_orchestration_episode_recorded_once_with_times(spans: None) -> None:
    trace_id = new_trace_id()
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    kwargs = dict(
        trace_id=trace_id,
        orchestrator="ProjectBootstrapOrchestrator",
        instance_id="proj-1:bootstrap",
        episode=3,
        started_at=start,
        ended_at=start + timedelta(milliseconds=250),
        status="Running",
    )
    assert record_orchestration_episode(**kwargs) is True
    assert record_orchestration_episode(**kwargs) is False  # replayed episode: not twice
    (span,) = finished_spans()
    assert span.name == "orchestration ProjectBootstrapOrchestrator"
    assert _hex_trace(span) == trace_id
    assert (span.end_time - span.start_time) == 250_000_000
    assert span.attributes["durable.episode"] == 3
    assert _hex_span(span.parent.span_id) == flow_root_span_id(trace_id)


def test_trace_id_survives_a_process_boundary(spans: None) -> None:
    """Another process (a different worker or a replay after restart) given only the
    traceparent from a Service Bus message emits spans in the same trace, under that parent."""
    trace_id = new_trace_id()
    with start_span("activity ScheduleAgentTask", trace_id=trace_id) as sender:
        properties = trace_headers()
    code = textwrap.dedent(
        f"""
        import json
        from podium.observability import ObservabilitySettings, configure_tracing
        from podium.observability import finished_spans, start_span
        configure_tracing(ObservabilitySettings(exporter="memory"))
        with start_span("agent_task T1", parent_traceparent={properties["traceparent"]!r}):
            pass
        (s,) = finished_spans()
        print(json.dumps([s.context.trace_id, s.parent.span_id]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    child_trace, child_parent = json.loads(out.stdout)
    assert otel_trace.format_trace_id(child_trace) == trace_id
    assert child_parent == sender.get_span_context().span_id


def test_logs_and_spans_of_a_flow_carry_the_same_trace_id(spans: None) -> None:
    """Follow one traceId from the trigger through activities: every span and log line."""
    from podium.observability import configure_logging

    root_logger = logging.getLogger()
    saved = list(root_logger.handlers), root_logger.level
    stream = io.StringIO()
    configure_logging("INFO", stream)
    log = logging.getLogger("podium.test.flow")
    trace_id = new_trace_id()
    try:
        with start_span("trigger ProjectCreated", trace_id=trace_id, root=True):
            log.info("project created")
        for task in ("T1", "T2"):
            with start_span(f"activity {task}", trace_id=trace_id):
                log.info("dispatched", extra={"task_id": task})
    finally:
        for handler in list(root_logger.handlers):
            root_logger.removeHandler(handler)
        for handler in saved[0]:
            root_logger.addHandler(handler)
        root_logger.setLevel(saved[1])
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert len(lines) == 3 and {x["traceId"] for x in lines} == {trace_id}
    assert {_hex_trace(s) for s in finished_spans()} == {trace_id}


def test_settings_reject_unknown_exporter() -> None:
    with pytest.raises(ValueError, match="PODIUM_OTEL_EXPORTER"):
        ObservabilitySettings.from_env({"PODIUM_OTEL_EXPORTER": "jaeger"})
    assert ObservabilitySettings.from_env({"PODIUM_OTEL_EXPORTER": "OTLP"}).exporter == "otlp"
