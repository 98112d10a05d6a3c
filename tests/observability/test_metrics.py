"""The Prometheus text shows the seed's metric names verbatim, with values matching what ran."""

from __future__ import annotations

import math
import re

import pytest

from podium.observability import INSTRUMENTS, Metrics, prometheus_text

# Names the issue lists; each must appear exactly like this (no unit or _total mangling).
SEED_NAMES = (
    "orchestrations_started_total",
    "orchestration_active_total",
    "agent_task_latency_ms",
    "agent_tasks_triggered_total",
    "agent_task_success_rate",
    "agent_task_retry_count",
    "task_timeout_count",
    "stalled_task_count",
    "event_rejected_total",
    "orchestration_triggers",
    "human_tasks_requested_total",
    "human_task_avg_response_time",
    "blocked_tasks_due_to_phase",
    "active_phase_distribution",
    "avg_time_per_phase",
    "tasks_executed_in_parallel",
    "project_delivery_duration_ms",
    "secrets_requested_total",
    "vault_latency_ms",
    "template_applied_count",
    "task_failures_total",
    "qa_pass_rate",
)

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\]|\\.)*\",?)*)\})?"
    r" (?P<value>[-+]?(?:[0-9.e+-]+|Inf|NaN))$"
)


def parse(text: str) -> tuple[dict[str, str], dict[tuple[str, frozenset], float]]:
    """A strict little parser of the exposition format: TYPE lines and samples."""
    types: dict[str, str] = {}
    samples: dict[tuple[str, frozenset], float] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line.startswith("# HELP "):
            continue
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a valid sample line: {line!r}"
            labels = frozenset(
                re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', match["labels"] or "")
            )
            samples[(match["name"], labels)] = float(match["value"])
    return types, samples


def test_every_seed_name_is_declared_verbatim(metrics: Metrics) -> None:
    types, samples = parse(prometheus_text())
    for name in SEED_NAMES:
        assert name in types, name
    assert set(types) == {spec.name for spec in INSTRUMENTS}
    assert types["orchestrations_started_total"] == "counter"
    assert types["agent_task_latency_ms"] == "histogram"
    assert types["orchestration_active_total"] == "gauge"
    # zero samples before anything happened, so every counter is discoverable
    assert samples[("agent_task_retry_count", frozenset())] == 0
    assert samples[("vault_latency_ms_count", frozenset())] == 0
    text = prometheus_text()
    for mangled in (
        "agent_task_latency_ms_milliseconds",
        "agent_task_retry_count_total",
        "orchestrations_started_total_total",
        "vault_latency_ms_ms",
    ):
        assert mangled not in text


def _l(**labels: str) -> frozenset:
    return frozenset(labels.items())


def test_values_match_what_the_run_did(metrics: Metrics) -> None:
    m = metrics
    m.orchestration_started("ProjectBootstrapOrchestrator", tenant_id="t1")
    m.orchestration_started("MicroserviceAssemblyCoordinator", tenant_id="t1")
    m.orchestration_finished("ProjectBootstrapOrchestrator", status="Completed")
    m.orchestration_triggered("ProjectCreated", "ProjectBootstrapOrchestrator")
    m.event_rejected("TemplateApplied", "phase")
    for i, (latency, ok) in enumerate([(100.0, True), (300.0, True), (40_000.0, False)]):
        m.agent_task_triggered("developer-agent", "GenerateCode")
        m.agent_task_started(f"T{i}")
        m.agent_task_completed("developer-agent", "GenerateCode", latency, ok, task_key=f"T{i}")
    m.agent_task_started("T9")  # still running
    m.agent_task_retried("developer-agent", "GenerateCode")
    m.task_timed_out("qa-agent", "RunTests")
    m.set_stalled_tasks(2)
    m.human_task_requested("Architect")
    m.human_task_answered("Architect", "Approve", 1_000.0)
    m.human_task_answered("Architect", "Reject", 3_000.0)
    m.phase_blocked("PlanningPhase", task_type="ApplyTemplate")
    m.project_phase_changed(None, "InitializationPhase")
    m.project_phase_changed("InitializationPhase", "PlanningPhase", time_in_from_phase_ms=500.0)
    m.secret_resolved(12.0)
    m.secret_resolved(30.0)
    m.template_applied("svc-template", orchestrator="MicroserviceAssemblyCoordinator")
    m.qa_run(True)
    m.qa_run(False)
    m.qa_run(True)
    m.project_finished(delivered=True, duration_ms=90_000.0, artifacts_count=3)

    types, s = parse(prometheus_text())
    assert (
        s[
            (
                "orchestrations_started_total",
                _l(orchestrator="ProjectBootstrapOrchestrator", tenant_id="t1"),
            )
        ]
        == 1
    )
    assert s[("orchestration_active_total", _l(orchestrator="ProjectBootstrapOrchestrator"))] == 0
    assert (
        s[("orchestration_active_total", _l(orchestrator="MicroserviceAssemblyCoordinator"))] == 1
    )
    assert (
        s[
            (
                "orchestration_triggers",
                _l(event_type="ProjectCreated", orchestrator="ProjectBootstrapOrchestrator"),
            )
        ]
        == 1
    )
    assert s[("event_rejected_total", _l(event_type="TemplateApplied", reason="phase"))] == 1
    dev = _l(agent_id="developer-agent", task_type="GenerateCode")
    assert s[("agent_tasks_triggered_total", dev)] == 3
    assert s[("agent_task_latency_ms_count", dev)] == 3
    assert s[("agent_task_latency_ms_sum", dev)] == 40_400.0
    assert s[("agent_task_latency_ms_bucket", dev | {("le", "250.0")})] == 1
    assert s[("agent_task_latency_ms_bucket", dev | {("le", "30000.0")})] == 2
    assert s[("agent_task_latency_ms_bucket", dev | {("le", "+Inf")})] == 3
    assert math.isclose(s[("agent_task_success_rate", _l(agent_id="developer-agent"))], 2 / 3)
    assert s[("task_failures_total", dev)] == 1
    assert s[("agent_task_retry_count", dev)] == 1
    assert s[("tasks_executed_in_parallel", frozenset())] == 1
    assert s[("task_timeout_count", _l(agent_id="qa-agent", task_type="RunTests"))] == 1
    assert s[("stalled_task_count", frozenset())] == 2
    assert s[("human_tasks_requested_total", _l(required_role="Architect"))] == 1
    assert s[("human_task_avg_response_time", frozenset())] == 2_000.0
    assert s[("approval_rate_by_role", _l(role="Architect"))] == 0.5
    assert (
        s[("blocked_tasks_due_to_phase", _l(phase="PlanningPhase", task_type="ApplyTemplate"))] == 1
    )
    assert s[("active_phase_distribution", _l(phase="InitializationPhase"))] == 0
    assert s[("active_phase_distribution", _l(phase="PlanningPhase"))] == 1
    assert s[("avg_time_per_phase", _l(phase="InitializationPhase"))] == 500.0
    assert s[("secrets_requested_total", _l(source="keyvault"))] == 2
    assert s[("vault_latency_ms_sum", _l(source="keyvault"))] == 42.0
    assert (
        s[
            (
                "template_applied_count",
                _l(orchestrator="MicroserviceAssemblyCoordinator", template="svc-template"),
            )
        ]
        == 1
    )
    assert math.isclose(s[("qa_pass_rate", frozenset())], 2 / 3)
    assert s[("project_delivery_duration_ms_count", frozenset())] == 1
    assert s[("delivery_artifacts_count", frozenset())] == 3
    assert s[("delivery_success_rate", frozenset())] == 1.0


def test_label_values_are_escaped(metrics: Metrics) -> None:
    metrics.event_rejected('Weird"Type\\', "line\nbreak")
    _, samples = parse(prometheus_text())
    key = ("event_rejected_total", _l(event_type='Weird\\"Type\\\\', reason="line\\nbreak"))
    assert samples[key] == 1


def test_value_helper_reads_one_point(metrics: Metrics) -> None:
    assert metrics.value("secrets_requested_total", source="local") is None
    metrics.secret_resolved(1.0, source="local")
    assert metrics.value("secrets_requested_total", source="local") == 1


@pytest.mark.parametrize("name", SEED_NAMES)
def test_seed_name_is_an_instrument(name: str) -> None:
    assert name in {spec.name for spec in INSTRUMENTS}
