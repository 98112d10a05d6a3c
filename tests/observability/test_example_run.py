"""One traceId from ProjectCreated through every span and log line of the example run, and the
metrics endpoint showing values that match what the run did (real app under the local host)."""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace as otel_trace

from podium.observability import (
    ObservabilitySettings,
    configure_logging,
    configure_tracing,
    finished_spans,
    flow_root_span_id,
    reset_metrics,
)
from tests.observability.test_metrics import SEED_NAMES, parse
from tests.studio.realhost import RealApp, real_app

pytestmark = pytest.mark.slow


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RealApp]:
    with real_app(tmp_path, monkeypatch) as instance:
        yield instance


@pytest.fixture
def observed() -> Iterator[io.StringIO]:
    """Fresh metrics, in-memory spans and JSON logs captured for the run."""
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    stream = io.StringIO()
    reset_metrics()
    configure_tracing(ObservabilitySettings(exporter="memory"))
    configure_logging("INFO", stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    configure_tracing(ObservabilitySettings(exporter="none"))
    reset_metrics()


def test_one_trace_id_through_spans_and_audit(observed: io.StringIO, app: RealApp) -> None:
    pid = app.create_example()
    state = app.first_checkpoint(pid)
    trace_id = state["traceId"]

    spans = finished_spans()
    names = [s.name for s in spans]
    assert "route ProjectCreated" in names, names
    assert any(n.startswith("agent result ") for n in names), names
    assert {otel_trace.format_trace_id(s.context.trace_id) for s in spans} == {trace_id}
    # every span of the run hangs in one tree under the flow's root (no orphan traces)
    ids = {s.context.span_id for s in spans} | {int(flow_root_span_id(trace_id), 16)}
    assert all(s.parent is not None and s.parent.span_id in ids for s in spans)

    audit = app.get(f"/api/projects/{pid}/audit")["records"]
    assert {r["traceId"] for r in audit} == {trace_id}

    lines = [json.loads(line) for line in observed.getvalue().splitlines() if line.strip()]
    correlated = [line for line in lines if line["traceId"]]
    assert {line["traceId"] for line in correlated} <= {trace_id}


def test_every_app_log_line_of_the_run_carries_the_trace_id(
    observed: io.StringIO, app: RealApp
) -> None:
    pid = app.create_example()
    trace_id = app.first_checkpoint(pid)["traceId"]
    lines = [json.loads(line) for line in observed.getvalue().splitlines() if line.strip()]
    app_lines = [x for x in lines if x["logger"].startswith(("podium.router", "podium.agents"))]
    assert app_lines
    assert {x["traceId"] for x in app_lines} == {trace_id}


def test_metrics_endpoint_matches_the_run(observed: io.StringIO, app: RealApp) -> None:
    pid = app.create_example()
    state = app.first_checkpoint(pid)
    audit = app.get(f"/api/projects/{pid}/audit")["records"]

    response = app.http.get("/api/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    types, samples = parse(response.text)
    for name in SEED_NAMES:
        assert name in types, name

    started = [g["name"] for g in state["graphs"]]
    for flow in set(started):
        key = (
            "orchestrations_started_total",
            frozenset({("orchestrator", flow), ("tenant_id", "contoso")}),
        )
        assert samples[key] == started.count(flow)
    trigger = (
        "orchestration_triggers",
        frozenset({("event_type", "ProjectCreated"), ("orchestrator", "project-bootstrap")}),
    )
    assert samples[trigger] == 1
    requested = Counter(
        r["details"].get("requiredRole") for r in audit if r["type"] == "HumanTaskRequested"
    )
    assert requested and sum(requested.values()) == len(state["humanTasks"])
    for role, count in requested.items():
        key = ("human_tasks_requested_total", frozenset({("required_role", role)}))
        assert samples[key] == count
