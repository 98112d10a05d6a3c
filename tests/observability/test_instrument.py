"""@traced gives a job-taking function its flow's span and log context."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.trace import StatusCode

from podium.observability import (
    finished_spans,
    flow_root_span_id,
    job_context,
    new_trace_id,
    start_span,
    trace_headers,
    traced,
)

log = logging.getLogger("podium.test.instrument")


@traced()
def dispatch(job: dict) -> str:
    log.info("dispatching")
    return job["task"]["taskId"]


@traced("agent_task run")
async def run_async(job: dict) -> int:
    log.info("async step")
    await asyncio.sleep(0)
    return 7


def test_sync_job_gets_span_and_log_context(spans: None, log_stream: io.StringIO) -> None:
    trace_id = new_trace_id()
    job = {
        "traceId": trace_id,
        "tenantId": "contoso",
        "projectId": "shop",
        "task": {"taskId": "T1"},
        "agentId": "developer-agent",
    }
    assert dispatch(job) == "T1"
    (span,) = finished_spans()
    assert span.name == "activity dispatch"
    assert otel_trace.format_trace_id(span.context.trace_id) == trace_id
    assert otel_trace.format_span_id(span.parent.span_id) == flow_root_span_id(trace_id)
    assert span.attributes["podium.taskId"] == "T1"
    (line,) = [json.loads(x) for x in log_stream.getvalue().splitlines()]
    assert (
        line["traceId"],
        line["tenantId"],
        line["projectId"],
        line["taskId"],
        line["agentId"],
    ) == (trace_id, "contoso", "shop", "T1", "developer-agent")


def test_async_job_and_traceparent_parent(spans: None, log_stream: io.StringIO) -> None:
    trace_id = new_trace_id()
    with start_span("route ProjectCreated", trace_id=trace_id) as sender:
        headers = trace_headers()
    job = {"traceId": trace_id, "projectId": "shop", "traceparent": headers["traceparent"]}
    assert asyncio.run(run_async(job)) == 7
    child = next(s for s in finished_spans() if s.name == "agent_task run")
    assert child.parent.span_id == sender.get_span_context().span_id
    assert json.loads(log_stream.getvalue().splitlines()[-1])["traceId"] == trace_id


def test_traceparent_of_another_flow_is_ignored(spans: None) -> None:
    trace_id = new_trace_id()
    stale = f"00-{new_trace_id()}-00f067aa0ba902b7-01"
    dispatch({"traceId": trace_id, "traceparent": stale, "task": {"taskId": "T2"}})
    (span,) = finished_spans()
    assert otel_trace.format_trace_id(span.context.trace_id) == trace_id


def test_job_without_trace_id_still_runs_and_errors_are_recorded(spans: None) -> None:
    @traced("activity boom")
    def boom(job: dict) -> None:
        raise ValueError("bad job")

    assert dispatch({"task": {"taskId": "T3"}, "traceId": "not-a-trace"}) == "T3"
    with pytest.raises(ValueError):
        boom({"traceId": new_trace_id()})
    spans_by_name = {s.name: s for s in finished_spans()}
    assert spans_by_name["activity boom"].status.status_code is StatusCode.ERROR
    assert job_context({"traceId": "x" * 32}) == {}
    assert job_context("not a job") == {}
