"""Exporters chosen by PODIUM_OTEL_EXPORTER, checked against a real OTLP/HTTP receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from podium.observability import (
    Metrics,
    ObservabilitySettings,
    configure_tracing,
    new_trace_id,
    start_span,
)


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def otlp_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bytes]]]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield _Receiver.received
    server.shutdown()
    server.server_close()


def test_otlp_exports_spans_with_the_flow_trace_id(otlp_endpoint) -> None:
    provider = configure_tracing(ObservabilitySettings(exporter="otlp", service_name="podium-test"))
    try:
        trace_id = new_trace_id()
        with start_span("trigger ProjectCreated", trace_id=trace_id, root=True):
            pass
        assert provider.force_flush(10_000)
    finally:
        configure_tracing(ObservabilitySettings(exporter="none"))
    (path, body), *_ = otlp_endpoint
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert [s.name for s in spans] == ["trigger ProjectCreated"]
    assert spans[0].trace_id.hex() == trace_id
    service = {a.key: a.value.string_value for a in request.resource_spans[0].resource.attributes}
    assert service["service.name"] == "podium-test"


def test_otlp_exports_metrics_with_seed_names(otlp_endpoint) -> None:
    metrics = Metrics(ObservabilitySettings(exporter="otlp"))
    try:
        metrics.orchestration_started("ProjectBootstrapOrchestrator")
        metrics.agent_task_completed("qa-agent", "RunTests", 120.0, True)
        assert metrics.flush()
    finally:
        metrics.shutdown()
    bodies = [body for path, body in otlp_endpoint if path == "/v1/metrics"]
    assert bodies
    names = set()
    for body in bodies:
        request = ExportMetricsServiceRequest.FromString(body)
        names |= {
            m.name for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        }
    assert {
        "orchestrations_started_total",
        "agent_task_latency_ms",
        "agent_task_success_rate",
    } <= names


def test_console_exporter_writes_spans_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_tracing(ObservabilitySettings(exporter="console"))
    try:
        trace_id = new_trace_id()
        with start_span("activity console-check", trace_id=trace_id):
            pass
    finally:
        configure_tracing(ObservabilitySettings(exporter="none"))
    err = capsys.readouterr().err
    assert "activity console-check" in err and trace_id in err


def test_azure_monitor_without_its_package_is_a_clear_error() -> None:
    try:
        import azure.monitor.opentelemetry.exporter  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("azure-monitor-opentelemetry is installed here")
    with pytest.raises(RuntimeError, match="azure-monitor-opentelemetry"):
        configure_tracing(ObservabilitySettings(exporter="azuremonitor"))
    with pytest.raises(RuntimeError, match="azure-monitor-opentelemetry"):
        Metrics(ObservabilitySettings(exporter="azuremonitor"))
