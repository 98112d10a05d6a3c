"""devops-agent: observability per service and project, plus the registration of every
devops task type (secrets, pipelines and infrastructure live in their own modules).
"""

from __future__ import annotations

from typing import Any

from podium.agents.builtin.common import load_services, service_names
from podium.agents.builtin.infra import (
    apply_infrastructure,
    provision_resources,
    validate_resources,
)
from podium.agents.builtin.pipelines import apply_pipeline, configure_docker, trigger_pipeline
from podium.agents.builtin.secrets import inject_secrets
from podium.agents.context import AgentContext, PermanentFailure
from podium.agents.messages import AgentTask
from podium.agents.worker import AgentWorker


def apply_observability(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    written = []
    for name in service_names(task, ctx):
        contract = ctx.read_json(f"services/{name}/openapi.json")
        if "/health" not in contract.get("paths", {}):
            raise PermanentFailure(f"MissingHealthCheck: services/{name} has no /health")
        ctx.write_json(f"services/{name}/observability.json", {
            "serviceName": name,
            "logging": {"format": "json", "level": "INFO",
                        "correlationFields": ["traceId", "tenantId", "projectId"]},
            "tracing": {"exporter": "otlp", "endpointSetting": "OTEL_EXPORTER_OTLP_ENDPOINT",
                        "propagation": "w3c-tracecontext", "sampleRatio": 1.0},
            "metrics": ["http_requests_total", "http_request_duration_ms",
                        "http_errors_total"],
            "healthCheck": {"path": "/health", "intervalSec": 30, "timeoutSec": 3},
        })
        written.append(name)
    return {"services": written}


def apply_dashboards(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    names = [s["name"] for s in load_services(ctx)]
    panels = [{"title": f"{name}: {metric}", "service": name, "metric": metric,
               "query": f"requests | where cloud_RoleName == '{name}' | summarize {agg}"
                        " by bin(timestamp, 5m)",
               "visualization": "timechart"}
              for name in names
              for metric, agg in (("requests", "count()"),
                                  ("failures", "countif(success == false)"),
                                  ("latency p95", "percentile(duration, 95)"))]
    ctx.write_json(f"observability/dashboards/{task.project_id}.json",
                   {"projectId": task.project_id, "title": f"{task.project_id} services",
                    "panels": panels})
    return {"panels": len(panels), "services": names}


def configure_alerts(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    names = [s["name"] for s in load_services(ctx)]
    rules = []
    for name in names:
        rules += [
            {"name": f"{name}-error-rate", "service": name, "metric": "http_errors_total",
             "condition": "rate > 0.05", "windowMinutes": 5, "severity": 2},
            {"name": f"{name}-latency-p95", "service": name,
             "metric": "http_request_duration_ms", "condition": "p95 > 1000",
             "windowMinutes": 5, "severity": 3},
            {"name": f"{name}-health", "service": name, "metric": "health_check",
             "condition": "failing for 2 checks", "windowMinutes": 1, "severity": 1},
        ]
    ctx.write_json("observability/alerts.json", {
        "projectId": task.project_id, "actionGroup": f"{task.project_id}-oncall",
        "rules": rules})
    return {"rules": len(rules)}


def register(workers: dict[str, AgentWorker]) -> None:
    devops = workers["devops-agent"]
    for task_type, func in (
        ("ApplyObservabilityTemplates", apply_observability),
        ("InjectSecrets", inject_secrets),
        ("ApplyPipelineYamlTemplate", apply_pipeline),
        ("ConfigureDockerBuild", configure_docker),
        ("TriggerPipelineRun", trigger_pipeline),
        ("ApplyInfrastructureTemplates", apply_infrastructure),
        ("ProvisionResources", provision_resources),
        ("ValidateDeployedResources", validate_resources),
        ("ApplyObservabilityDashboards", apply_dashboards),
        ("ConfigureAlerts", configure_alerts),
    ):
        devops.add_handler(task_type, func)
