"""devops-agent, CI/CD part: pipeline YAML, Docker build settings, the (simulated) first run.

Why the run is simulated: the factory must run on one laptop with no cloud. TriggerPipelineRun
does every check that needs no Azure DevOps: the YAML parses, it has the stages Test, Coverage,
Build and Publish, each job has steps, and the Dockerfile and docker.json exist. It then records
a deterministic run marked ``"simulated": true``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import yaml

from podium.agents.builtin.common import load_request, service_names
from podium.agents.builtin.render import render
from podium.agents.context import AgentContext, PermanentFailure
from podium.agents.messages import AgentTask

REQUIRED_STAGES = ("Test", "Coverage", "Build", "Publish")
VERSION = "1.0.0"
MIN_COVERAGE = 70


def registry(task: AgentTask) -> str:
    """The container registry: ``config.registryUrl`` when given (never a secret reference),
    else the tenant's conventional ACR name."""
    configured = task.config.get("registryUrl")
    if isinstance(configured, str) and configured and not configured.startswith("@vault:"):
        return configured
    return f"{re.sub(r'[^a-z0-9]', '', task.tenant_id)}acr.azurecr.io"


def variable_group(task: AgentTask, env: str) -> str:
    """The pipeline variable group that links the project's Key Vault secrets per env."""
    return f"{task.project_id}-{env}"


def apply_pipeline(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    request = load_request(task, ctx)
    names = service_names(task, ctx)
    for name in names:
        ctx.write_text(f"pipelines/{name}/azure-pipelines.yml", render(
            "devops/azure-pipelines.yml.j2", svc={"name": name},
            variable_group=variable_group(task, request.config.env),
            registry=registry(task), version=VERSION,
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
        image = f"{registry(task)}/{name}:{VERSION}"
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

