"""Podium's metrics: OpenTelemetry instruments named exactly as in the seed, behind a typed facade.

Why a facade: callers say what happened (``metrics.agent_task_completed(...)``) and never repeat
an instrument name or a label key, so names cannot drift between the orchestrator, the agents
and dashboards. Ratios and averages the seed asks for (``agent_task_success_rate``,
``human_task_avg_response_time``, ``avg_time_per_phase`` ...) are observable gauges computed
from the facade's own tallies at collection time.

Why our own Prometheus renderer (:meth:`Metrics.prometheus_text`) instead of
``opentelemetry-exporter-prometheus``: that exporter appends unit and ``_total`` suffixes
(``agent_task_latency_ms`` would become ``agent_task_latency_ms_milliseconds``,
``agent_task_retry_count`` would become ``agent_task_retry_count_total``), and the seed's names
must be served verbatim. The renderer reads an in-memory reader attached to the same
MeterProvider as the OTLP / Azure Monitor exporter, so both see the same values.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Histogram,
    InMemoryMetricReader,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from podium.observability.settings import ObservabilitySettings

__all__ = [
    "INSTRUMENTS",
    "LATENCY_BUCKETS_MS",
    "InstrumentSpec",
    "Metrics",
    "get_metrics",
    "prometheus_text",
    "reset_metrics",
]

Kind = Literal["counter", "updown", "gauge", "histogram", "observable"]

#: Histogram bucket bounds (ms): agent tasks and phases run from milliseconds to an hour.
LATENCY_BUCKETS_MS = (
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0,
    30_000.0, 60_000.0, 300_000.0, 900_000.0, 3_600_000.0,
)  # fmt: skip


@dataclass(frozen=True)
class InstrumentSpec:
    name: str
    kind: Kind
    description: str
    unit: str = "1"


def _spec(name: str, kind: Kind, description: str, unit: str = "1") -> InstrumentSpec:
    return InstrumentSpec(name, kind, description, unit)


#: Every instrument, by the seed's name. ``observable`` ones are ratios/averages computed here.
INSTRUMENTS: tuple[InstrumentSpec, ...] = (
    # orchestration lifecycle and triggers
    _spec("orchestrations_started_total", "counter", "New orchestrations launched"),
    _spec("orchestration_active_total", "updown", "Currently running orchestrations"),
    _spec("orchestration_triggers", "counter", "Routed events that triggered an orchestrator"),
    _spec("event_rejected_total", "counter", "Invalid or unauthorized events dropped"),
    _spec("manual_triggered_total", "counter", "Human-initiated orchestration starts"),
    _spec("orchestration_errors_total", "counter", "Failed starts or invalid graph conditions"),
    _spec("cascaded_orchestration_count", "counter", "Orchestrations triggered by upstreams"),
    _spec("template_applied_count", "counter", "Template applications per orchestrator"),
    _spec("template_failure_count", "counter", "Template generation failures"),
    # agent tasks
    _spec("agent_tasks_triggered_total", "counter", "All emitted agent task events"),
    _spec("agent_task_latency_ms", "histogram", "Time between dispatch and response", "ms"),
    _spec("agent_task_success_rate", "observable", "Share of agent tasks completing successfully"),
    _spec("agent_failure_rate", "observable", "Share of failed tasks per agent"),
    _spec("avg_agent_response_time", "observable", "Mean time between trigger and result", "ms"),
    _spec("agent_task_retry_count", "counter", "Retries per task type"),
    _spec("task_failures_total", "counter", "Failures by agent and task type"),
    _spec("task_timeout_count", "counter", "Hanging or slow tasks that timed out"),
    _spec("stalled_task_count", "gauge", "Tasks stuck in InProgress too long (now)"),
    _spec("stalled_tasks_total", "counter", "Tasks detected as stalled"),
    _spec("tasks_executed_in_parallel", "observable", "Agent tasks running right now"),
    _spec("project_retry_count", "counter", "Task retries across project executions"),
    # human in the loop
    _spec("human_tasks_requested_total", "counter", "Human task prompts emitted"),
    _spec("human_task_avg_response_time", "observable", "Average user reaction time", "ms"),
    _spec("approval_rate_by_role", "observable", "Share of human answers that approved, by role"),
    # lifecycle phases
    _spec("blocked_tasks_due_to_phase", "counter", "Tasks paused or rejected by phase limits"),
    _spec("active_phase_distribution", "updown", "Projects by current lifecycle phase"),
    _spec("avg_time_per_phase", "observable", "Average time spent in each phase", "ms"),
    # delivery
    _spec("project_delivery_duration_ms", "histogram", "Project creation to completion", "ms"),
    _spec("delivery_artifacts_count", "counter", "Publishable outputs generated"),
    _spec("delivery_success_rate", "observable", "Share of finished projects delivered"),
    # secrets
    _spec("secrets_requested_total", "counter", "Secrets pulled from the vault"),
    _spec("vault_latency_ms", "histogram", "Latency of secret resolution requests", "ms"),
    _spec("config_injection_failures", "counter", "Failed config merge/injection attempts"),
    # QA, pipelines, security
    _spec("qa_pass_rate", "observable", "QA validation success ratio"),
    _spec("qa_test_coverage_pct", "gauge", "Latest test coverage per microservice", "%"),
    _spec("qa_execution_duration_ms", "histogram", "Runtime of test plans", "ms"),
    _spec("pipeline_setup_duration_ms", "histogram", "Time to scaffold CI/CD", "ms"),
    _spec("pipeline_failure_count", "counter", "Pipeline setup failures"),
    _spec("security_hardening_time_ms", "histogram", "Security orchestration time", "ms"),
)
_BY_NAME = {spec.name: spec for spec in INSTRUMENTS}


class _Ratio:
    """Thread-safe tallies behind the observable ratio/average gauges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._num: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
        self._den: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)

    def add(self, numerator: float, labels: Mapping[str, str] | None = None) -> None:
        key = tuple(sorted((labels or {}).items()))
        with self._lock:
            self._num[key] += numerator
            self._den[key] += 1

    def observations(self, _options: CallbackOptions | None = None) -> Iterable[Observation]:
        with self._lock:
            items = [(k, self._num[k] / d) for k, d in self._den.items() if d]
        return [Observation(value, dict(key)) for key, value in items]


def _labels(**values: Any) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


class Metrics:
    """All of Podium's instruments on one MeterProvider, plus the Prometheus text renderer."""

    def __init__(
        self,
        settings: ObservabilitySettings | None = None,
        extra_readers: Iterable[MetricReader] = (),
    ) -> None:
        settings = settings or ObservabilitySettings(exporter="none")
        self._reader = InMemoryMetricReader()
        readers: list[MetricReader] = [self._reader, *extra_readers]
        exporter_reader = _exporter_reader(settings)
        if exporter_reader is not None:
            readers.append(exporter_reader)
        views = [
            View(
                instrument_name=spec.name,
                aggregation=ExplicitBucketHistogramAggregation(LATENCY_BUCKETS_MS),
            )
            for spec in INSTRUMENTS
            if spec.kind == "histogram"
        ]
        self._provider = MeterProvider(
            metric_readers=readers,
            resource=Resource.create({"service.name": settings.service_name}),
            views=views,
        )
        meter = self._provider.get_meter("podium")
        self._success = _Ratio()
        self._failure = _Ratio()
        self._latency = _Ratio()
        self._human_response = _Ratio()
        self._approval = _Ratio()
        self._phase_time = _Ratio()
        self._delivery = _Ratio()
        self._qa = _Ratio()
        self._running: set[str] = set()
        self._running_lock = threading.Lock()
        observables = {
            "agent_task_success_rate": self._success.observations,
            "agent_failure_rate": self._failure.observations,
            "avg_agent_response_time": self._latency.observations,
            "human_task_avg_response_time": self._human_response.observations,
            "approval_rate_by_role": self._approval.observations,
            "avg_time_per_phase": self._phase_time.observations,
            "delivery_success_rate": self._delivery.observations,
            "qa_pass_rate": self._qa.observations,
            "tasks_executed_in_parallel": self._running_observation,
        }
        self._instruments: dict[str, Any] = {}
        for spec in INSTRUMENTS:
            kw = {"unit": spec.unit, "description": spec.description}
            if spec.kind == "counter":
                inst = meter.create_counter(spec.name, **kw)
            elif spec.kind == "updown":
                inst = meter.create_up_down_counter(spec.name, **kw)
            elif spec.kind == "gauge":
                inst = meter.create_gauge(spec.name, **kw)
            elif spec.kind == "histogram":
                inst = meter.create_histogram(spec.name, **kw)
            else:
                inst = meter.create_observable_gauge(
                    spec.name, callbacks=[observables[spec.name]], **kw
                )
            self._instruments[spec.name] = inst

    # -- low level -----------------------------------------------------------------------
    def _add(self, name: str, value: float = 1, **labels: Any) -> None:
        self._instruments[name].add(value, _labels(**labels))

    def _record(self, name: str, value: float, **labels: Any) -> None:
        self._instruments[name].record(value, _labels(**labels))

    def _running_observation(self, _options: CallbackOptions | None = None) -> list[Observation]:
        with self._running_lock:
            return [Observation(len(self._running))]

    # -- orchestrations ------------------------------------------------------------------
    def orchestration_started(
        self, orchestrator: str, *, tenant_id: str | None = None, manual: bool = False
    ) -> None:
        self._add("orchestrations_started_total", orchestrator=orchestrator, tenant_id=tenant_id)
        self._add("orchestration_active_total", orchestrator=orchestrator)
        if manual:
            self._add("manual_triggered_total", orchestrator=orchestrator)

    def orchestration_finished(self, orchestrator: str, *, status: str) -> None:
        """``status``: Completed / Failed / Terminated; anything but Completed counts an error."""
        self._add("orchestration_active_total", -1, orchestrator=orchestrator)
        if status.lower() != "completed":
            self._add("orchestration_errors_total", orchestrator=orchestrator, status=status)

    def orchestration_triggered(self, event_type: str, orchestrator: str) -> None:
        self._add("orchestration_triggers", event_type=event_type, orchestrator=orchestrator)

    def event_rejected(self, event_type: str, reason: str) -> None:
        self._add("event_rejected_total", event_type=event_type, reason=reason)

    def cascaded_orchestration(self, upstream_project_id: str | None = None) -> None:
        self._add("cascaded_orchestration_count")

    def template_applied(self, template: str, *, orchestrator: str | None = None) -> None:
        self._add("template_applied_count", template=template, orchestrator=orchestrator)

    def template_failed(self, template: str) -> None:
        self._add("template_failure_count", template=template)

    # -- agent tasks ---------------------------------------------------------------------
    def agent_task_triggered(self, agent_id: str, task_type: str) -> None:
        self._add("agent_tasks_triggered_total", agent_id=agent_id, task_type=task_type)

    def agent_task_started(self, task_key: str) -> None:
        """A task began running (``task_key`` unique per attempt, e.g. instance/taskId)."""
        with self._running_lock:
            self._running.add(task_key)

    def agent_task_completed(
        self,
        agent_id: str,
        task_type: str,
        latency_ms: float,
        success: bool,
        *,
        task_key: str | None = None,
    ) -> None:
        """A result arrived (success or permanent/attempt failure) ``latency_ms`` after dispatch."""
        self._record("agent_task_latency_ms", latency_ms, agent_id=agent_id, task_type=task_type)
        self._success.add(1.0 if success else 0.0, {"agent_id": agent_id})
        self._failure.add(0.0 if success else 1.0, {"agent_id": agent_id})
        self._latency.add(latency_ms, {"agent_id": agent_id})
        if not success:
            self._add("task_failures_total", agent_id=agent_id, task_type=task_type)
        if task_key is not None:
            with self._running_lock:
                self._running.discard(task_key)

    def agent_task_retried(self, agent_id: str, task_type: str) -> None:
        self._add("agent_task_retry_count", agent_id=agent_id, task_type=task_type)
        self._add("project_retry_count")

    def task_timed_out(self, agent_id: str, task_type: str) -> None:
        self._add("task_timeout_count", agent_id=agent_id, task_type=task_type)

    def stalled_task_detected(self, agent_id: str, task_type: str) -> None:
        self._add("stalled_tasks_total", agent_id=agent_id, task_type=task_type)

    def set_stalled_tasks(self, count: int) -> None:
        """Current number of stalled tasks, from the watchdog's latest scan."""
        self._instruments["stalled_task_count"].set(count)

    # -- human tasks ---------------------------------------------------------------------
    def human_task_requested(self, required_role: str) -> None:
        self._add("human_tasks_requested_total", required_role=required_role)

    def human_task_answered(
        self, required_role: str, response: str, response_time_ms: float
    ) -> None:
        self._human_response.add(response_time_ms)
        approved = response.lower() in ("approve", "approved")
        self._approval.add(1.0 if approved else 0.0, {"role": required_role})

    # -- phases --------------------------------------------------------------------------
    def phase_blocked(self, phase: str, *, task_type: str | None = None) -> None:
        self._add("blocked_tasks_due_to_phase", phase=phase, task_type=task_type)

    def project_phase_changed(
        self, from_phase: str | None, to_phase: str, *, time_in_from_phase_ms: float | None = None
    ) -> None:
        """Moves one project between phases in ``active_phase_distribution``; a new project
        has ``from_phase=None``."""
        if from_phase is not None:
            self._add("active_phase_distribution", -1, phase=from_phase)
            if time_in_from_phase_ms is not None:
                self._phase_time.add(time_in_from_phase_ms, {"phase": from_phase})
        self._add("active_phase_distribution", 1, phase=to_phase)

    # -- delivery ------------------------------------------------------------------------
    def project_finished(
        self, *, delivered: bool, duration_ms: float | None = None, artifacts_count: int = 0
    ) -> None:
        self._delivery.add(1.0 if delivered else 0.0)
        if delivered and duration_ms is not None:
            self._record("project_delivery_duration_ms", duration_ms)
        if artifacts_count:
            self._add("delivery_artifacts_count", artifacts_count)

    # -- secrets -------------------------------------------------------------------------
    def secret_resolved(self, latency_ms: float, *, source: str = "keyvault") -> None:
        self._add("secrets_requested_total", source=source)
        self._record("vault_latency_ms", latency_ms, source=source)

    def config_injection_failed(self, reason: str) -> None:
        self._add("config_injection_failures", reason=reason)

    # -- QA, pipelines, security ---------------------------------------------------------
    def qa_run(
        self,
        passed: bool,
        *,
        duration_ms: float | None = None,
        coverage_pct: float | None = None,
        service: str | None = None,
    ) -> None:
        self._qa.add(1.0 if passed else 0.0)
        if duration_ms is not None:
            self._record("qa_execution_duration_ms", duration_ms)
        if coverage_pct is not None:
            self._instruments["qa_test_coverage_pct"].set(coverage_pct, _labels(service=service))

    def pipeline_setup(self, *, duration_ms: float, success: bool) -> None:
        self._record("pipeline_setup_duration_ms", duration_ms)
        if not success:
            self._add("pipeline_failure_count")

    def security_hardened(self, *, duration_ms: float) -> None:
        self._record("security_hardening_time_ms", duration_ms)

    # -- reading -------------------------------------------------------------------------
    def snapshot(self) -> dict[str, list[tuple[dict[str, str], Any]]]:
        """Current points by instrument name: ``[(labels, value)]``; a histogram's value is
        ``{"count", "sum", "buckets": [(upper_bound, cumulative_count)]}``. For tests/tools."""
        result: dict[str, list[tuple[dict[str, str], Any]]] = {}
        data = self._reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    points = result.setdefault(metric.name, [])
                    for point in metric.data.data_points:
                        labels = {k: str(v) for k, v in (point.attributes or {}).items()}
                        if isinstance(metric.data, Histogram):
                            cumulative, buckets = 0, []
                            for bound, count in zip(
                                [*point.explicit_bounds, math.inf], point.bucket_counts, strict=True
                            ):
                                cumulative += count
                                buckets.append((bound, cumulative))
                            value: Any = {
                                "count": point.count,
                                "sum": point.sum,
                                "buckets": buckets,
                            }
                        else:
                            value = point.value
                        points.append((labels, value))
        return result

    def value(self, name: str, **labels: str) -> Any:
        """The value of one point (``None`` when absent); labels must match exactly."""
        for point_labels, value in self.snapshot().get(name, []):
            if point_labels == {k: str(v) for k, v in labels.items()}:
                return value
        return None

    def prometheus_text(self) -> str:
        """Prometheus text exposition (format 0.0.4) of every instrument, names verbatim.

        Instruments with no data yet still get ``# HELP``/``# TYPE`` and, for counters and
        histograms, a zero sample, so dashboards can discover every name from the start.
        """
        snapshot = self.snapshot()
        out: list[str] = []
        for spec in INSTRUMENTS:
            name = spec.name
            points = snapshot.get(name, [])
            prom_type = {"counter": "counter", "histogram": "histogram"}.get(spec.kind, "gauge")
            unit = f" ({spec.unit})" if spec.unit not in ("1", "") else ""
            out.append(f"# HELP {name} {_escape_help(spec.description + unit)}")
            out.append(f"# TYPE {name} {prom_type}")
            if spec.kind == "histogram":
                if not points:
                    points = [({}, {"count": 0, "sum": 0.0, "buckets": [(math.inf, 0)]})]
                for labels, value in points:
                    for bound, cumulative in value["buckets"]:
                        le = _format_value(bound)
                        out.append(
                            f"{name}_bucket{_format_labels({**labels, 'le': le})} {cumulative}"
                        )
                    out.append(f"{name}_sum{_format_labels(labels)} {_format_value(value['sum'])}")
                    out.append(f"{name}_count{_format_labels(labels)} {value['count']}")
                continue
            if not points and spec.kind in ("counter", "updown"):
                points = [({}, 0)]
            for labels, value in points:
                out.append(f"{name}{_format_labels(labels)} {_format_value(value)}")
        return "\n".join(out) + "\n"

    def flush(self, timeout_ms: int = 10_000) -> bool:
        """Push current values through the configured exporter now (tests, host shutdown)."""
        return self._provider.force_flush(timeout_ms)

    def shutdown(self) -> None:
        self._provider.shutdown()


def _exporter_reader(settings: ObservabilitySettings) -> MetricReader | None:
    interval = settings.metrics_export_interval_ms
    if settings.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=interval)
    if settings.exporter == "azuremonitor":
        try:
            from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter
        except ImportError as exc:
            raise RuntimeError(
                "PODIUM_OTEL_EXPORTER=azuremonitor needs the azure-monitor-opentelemetry package"
            ) from exc
        exporter = AzureMonitorMetricExporter(
            connection_string=settings.azure_monitor_connection_string
        )
        return PeriodicExportingMetricReader(exporter, export_interval_millis=interval)
    return None  # none / console / memory: the Prometheus endpoint is the local view


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _format_labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _format_value(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


_lock = threading.Lock()
_metrics: Metrics | None = None


def get_metrics() -> Metrics:
    """The process-wide :class:`Metrics`, built from the environment on first use."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = Metrics(ObservabilitySettings.from_env())
        return _metrics


def reset_metrics(metrics: Metrics | None = None) -> Metrics:
    """Replace the process-wide instance (tests; or the host after reading settings)."""
    global _metrics
    with _lock:
        old, _metrics = _metrics, metrics or Metrics(ObservabilitySettings(exporter="none"))
    if old is not None:
        old.shutdown()
    return _metrics


def prometheus_text() -> str:
    """Prometheus text of the process-wide metrics (what ``GET /api/metrics`` serves)."""
    return get_metrics().prometheus_text()
