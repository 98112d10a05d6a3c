"""devops-agent: observability, secrets wiring, pipelines, Docker, infrastructure.

Why pipeline runs and provisioning are simulated: the factory must run on one laptop with no
cloud. TriggerPipelineRun and ProvisionResources therefore do every check that does not need
Azure (the pipeline YAML parses and has the required stages, the Dockerfile exists, the Bicep
declares a Container App per service) and record a deterministic result marked
``"simulated": true``.

Secrets: this agent writes references (``@vault:name``) only. Values the caller resolved into
``config`` are replaced by their reference and listed as redacted; a final scan fails the task
if any resolved value would reach the workspace.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import yaml

from podium.agents.builtin.common import (
    IDENTITY_SERVICE,
    load_request,
    load_services,
    service_names,
    snake,
)
from podium.agents.builtin.developer import SERVICE_PORT, SIGNING_KEY_REF
from podium.agents.builtin.render import render
from podium.agents.context import AgentContext, PermanentFailure
from podium.agents.messages import AgentTask
from podium.agents.request import ProjectRequest
from podium.agents.worker import AgentWorker

SECRETISH = re.compile(r"secret|password|passwd|key|token|connectionstring|credential", re.I)
REQUIRED_STAGES = ("Test", "Coverage", "Build", "Publish")
VERSION = "1.0.0"
MIN_COVERAGE = 70


def env_name(key: str) -> str:
    """``ServiceBusConnectionString`` -> ``SERVICE_BUS_CONNECTION_STRING``."""
    return snake(key).upper()


def secret_refs(request: ProjectRequest, services: list[dict[str, Any]]) -> dict[str, str]:
    """Every secret the project's services need, as key -> ``@vault:`` reference."""
    refs = dict(request.config.secrets)
    if any(s["requiresAuth"] for s in services):
        refs.setdefault("IdentitySigningKey", SIGNING_KEY_REF)
    return refs


def _registry(task: AgentTask) -> str:
    configured = task.config.get("registryUrl")
    if isinstance(configured, str) and configured and not configured.startswith("@vault:"):
        return configured
    return f"{re.sub(r'[^a-z0-9]', '', task.tenant_id)}acr.azurecr.io"


def _variable_group(task: AgentTask, env: str) -> str:
    return f"{task.project_id}-{env}"


# -- observability ----------------------------------------------------------------------------
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


# -- secrets ----------------------------------------------------------------------------------
def inject_secrets(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    request = load_request(task, ctx)
    services = load_services(ctx)
    config = dict(task.config)
    # The project configuration may arrive structured ({env, secrets, variables}, as the
    # seed's ProjectConfiguration) or flat ({Name: value-or-ref}); both are accepted.
    nested_secrets = config.pop("secrets", None) if isinstance(config.get("secrets"), dict) \
        else None
    nested_variables = config.pop("variables", None) \
        if isinstance(config.get("variables"), dict) else None
    config_env = config.pop("env", None) if isinstance(config.get("env"), str) else None
    env = str(task.inputs.get("env") or config_env or request.config.env)
    refs = secret_refs(request, services)
    variables = {**request.config.variables, **(nested_variables or {})}
    redacted: list[str] = []
    resolved_values: list[str] = []
    declared = task.inputs.get("secrets") or {}
    if not isinstance(declared, dict):
        raise PermanentFailure("InvalidInput: secrets must map names to @vault: references")
    declared = {**(nested_secrets or {}), **declared}
    for key, value in [*declared.items(), *config.items()]:
        if isinstance(value, str) and value.startswith("@vault:"):
            refs[key] = value
        elif key in declared or key in refs or SECRETISH.search(key):
            # a resolved value: keep (or mint) the reference, never the value
            refs.setdefault(key, f"@vault:{snake(key).replace('_', '-')}")
            redacted.append(key)
            if isinstance(value, str) and value:
                resolved_values.append(value)
        elif isinstance(value, str | int | float | bool) or value is None:
            variables[key] = value
    bindings = {key: {"env": env_name(key), "secretRef": ref}
                for key, ref in sorted(refs.items())}
    ctx.write_json(f"config/appsettings.{env}.json", {
        "tenantId": task.tenant_id, "projectId": task.project_id, "env": env,
        "secrets": bindings, "variables": variables})
    targets = [s["name"] for s in services]
    if ctx.exists(f"services/{IDENTITY_SERVICE}"):
        targets.append(IDENTITY_SERVICE)
    for name in targets:
        ctx.write_json(f"services/{name}/appsettings.{env}.json", {
            "service": name, "env": env, "secrets": bindings, "variables": variables})
    ctx.write_json("pipelines/variable-group.json", {
        "name": _variable_group(task, env), "keyVaultLinked": True,
        "variables": {env_name(k): {"secretRef": r, "isSecret": True}
                      for k, r in sorted(refs.items())}})
    _assert_no_values(ctx, resolved_values)
    return {"env": env, "secrets": sorted(refs), "redacted": sorted(redacted),
            "services": targets}


def _assert_no_values(ctx: AgentContext, values: list[str]) -> None:
    """Defense in depth: no resolved secret value may appear in anything this task wrote."""
    for relative in ctx.artifacts:
        text = ctx.path(relative).read_text(encoding="utf-8")
        for value in values:
            if len(value) >= 4 and value in text:
                ctx.path(relative).unlink()
                raise PermanentFailure("SecretInjectionBlocked: a resolved secret value "
                                       f"reached {relative}")


# -- pipelines ----------------------------------------------------------------------------------
def apply_pipeline(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    request = load_request(task, ctx)
    names = service_names(task, ctx)
    for name in names:
        ctx.write_text(f"pipelines/{name}/azure-pipelines.yml", render(
            "devops/azure-pipelines.yml.j2", svc={"name": name},
            variable_group=_variable_group(task, request.config.env),
            registry=_registry(task), version=VERSION,
            min_coverage=int(task.inputs.get("minCoverage", MIN_COVERAGE))))
    return {"pipelines": [f"pipelines/{n}/azure-pipelines.yml" for n in names]}


def configure_docker(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    credentials = task.inputs.get("registryCredentials", "service-connection")
    if not isinstance(credentials, str) or not (
            credentials.startswith("@vault:") or credentials == "service-connection"):
        # a resolved credential must never be written: keep only that one was given
        raise PermanentFailure("SecretInjectionBlocked: registryCredentials must be a "
                               "@vault: reference")
    images = {}
    for name in service_names(task, ctx):
        if not ctx.exists(f"services/{name}/Dockerfile"):
            raise PermanentFailure(f"MissingArtifact: services/{name}/Dockerfile")
        image = f"{_registry(task)}/{name}:{VERSION}"
        ctx.write_json(f"pipelines/{name}/docker.json", {
            "serviceName": name, "dockerfile": f"services/{name}/Dockerfile",
            "context": f"services/{name}", "image": image,
            "tags": [VERSION, "$(Build.BuildId)"], "registryAuth": credentials})
        images[name] = image
    return {"images": images}


def validate_pipeline(ctx: AgentContext, name: str) -> list[str]:
    """Problems of ``pipelines/<name>``: YAML, required stages, steps, Docker inputs."""
    path = f"pipelines/{name}/azure-pipelines.yml"
    if not ctx.exists(path):
        return [f"{path} does not exist"]
    try:
        document = yaml.safe_load(ctx.path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return [f"{path} is not valid YAML: {exc}"]
    if not isinstance(document, dict) or not isinstance(document.get("stages"), list):
        return [f"{path} has no stages list"]
    stages = {s.get("stage"): s for s in document["stages"] if isinstance(s, dict)}
    errors = [f"{path} lacks stage {s}" for s in REQUIRED_STAGES if s not in stages]
    for stage_name, stage in stages.items():
        jobs = stage.get("jobs") or []
        if not jobs or not all(isinstance(j, dict) and j.get("steps") for j in jobs):
            errors.append(f"{path} stage {stage_name} has a job without steps")
    for needed in (f"services/{name}/Dockerfile", f"pipelines/{name}/docker.json"):
        if not ctx.exists(needed):
            errors.append(f"{needed} does not exist")
    return errors


def trigger_pipeline(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    runs = {}
    problems: dict[str, list[str]] = {}
    for name in service_names(task, ctx):
        errors = validate_pipeline(ctx, name)
        if errors:
            problems[name] = errors
            continue
        digest = hashlib.sha256(f"{task.task_id}|{name}|{task.attempt}".encode()).hexdigest()
        run = {"serviceName": name, "runId": f"run-{digest[:10]}", "status": "Succeeded",
               "simulated": True, "image": ctx.read_json(f"pipelines/{name}/docker.json")["image"],
               "stages": [{"name": s, "result": "Succeeded"} for s in REQUIRED_STAGES]}
        ctx.write_json(f"pipelines/{name}/run.json", run)
        runs[name] = run["runId"]
    if problems:
        raise PermanentFailure("TemplateInvalid: pipeline validation failed", problems)
    return {"runs": runs, "status": "Succeeded", "simulated": True}


# -- infrastructure --------------------------------------------------------------------------
RESOURCE_LINE = re.compile(r"^resource\s+(\w+)\s+'([^@']+)@([^']+)'", re.M)


def apply_infrastructure(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    request = load_request(task, ctx)
    services = load_services(ctx)
    refs = secret_refs(request, services)
    apps = [{"name": s["name"], "external": bool(s["exposedPublicly"])} for s in services]
    if any(s["requiresAuth"] for s in services):
        apps.append({"name": IDENTITY_SERVICE, "external": True})
    for app in apps:
        app["secrets"] = [{"name": snake(k).replace("_", "-"), "vaultName": ref[len("@vault:"):],
                           "env": env_name(k)} for k, ref in sorted(refs.items())]
    text = render("devops/main.bicep.j2", system=request.name, registry=_registry(task),
                  version=VERSION, prefix=request.projectId[:16], port=SERVICE_PORT,
                  topics=[f"{s['name']}-events" for s in services], apps=apps)
    if text.count("{") != text.count("}") or text.count("[") != text.count("]"):
        raise PermanentFailure("TemplateInvalid: generated Bicep has unbalanced brackets")
    ctx.write_text("infra/main.bicep", text)
    ctx.write_json("infra/main.parameters.json", {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                   "deploymentParameters.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"registryServer": {"value": _registry(task)},
                       "imageTag": {"value": VERSION}}})
    return {"resources": len(RESOURCE_LINE.findall(text)), "containerApps": len(apps)}


def bicep_resources(text: str) -> list[dict[str, str]]:
    """Declared resources of a Bicep file: symbol, type, apiVersion, name (first ``name:``)."""
    matches = list(RESOURCE_LINE.finditer(text))
    resources = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        name = re.search(r"^\s*name:\s*'([^']+)'", text[match.end():end], re.M)
        resources.append({"symbol": match.group(1), "type": match.group(2),
                          "apiVersion": match.group(3),
                          "name": name.group(1) if name else match.group(1)})
    return resources


def provision_resources(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    if not ctx.exists("infra/main.bicep"):
        raise PermanentFailure("MissingArtifact: infra/main.bicep")
    text = ctx.path("infra/main.bicep").read_text(encoding="utf-8")
    prefix = load_request(task, ctx).projectId[:16]
    resources = [{**r, "name": r["name"].replace("${prefix}", prefix), "status": "Provisioned"}
                 for r in bicep_resources(text)]
    ctx.write_json("deploy/resources.json", {"projectId": task.project_id, "simulated": True,
                                             "resources": resources})
    return {"provisioned": len(resources), "simulated": True}


def validate_resources(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    deployed = ctx.read_json("deploy/resources.json")
    apps = {r["name"] for r in deployed["resources"] if r["type"] == "Microsoft.App/containerApps"}
    prefix = load_request(task, ctx).projectId[:16]
    missing = [s["name"] for s in load_services(ctx) if f"{prefix}-{s['name']}" not in apps]
    if missing:
        raise PermanentFailure("MissingResources", {"services": missing})
    return {"validated": len(deployed["resources"]), "containerApps": sorted(apps)}


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
