"""devops-agent, infrastructure part: Bicep, (simulated) provisioning, validation.

Why provisioning is simulated: the factory must run with no cloud. ProvisionResources reads the
resources the generated Bicep declares and records them as ``"simulated": true``;
ValidateDeployedResources checks that every planned service got its Container App.
"""

from __future__ import annotations

import re
from typing import Any

from podium.agents.builtin.common import IDENTITY_SERVICE, load_request, load_services, snake
from podium.agents.builtin.developer import SERVICE_PORT
from podium.agents.builtin.pipelines import VERSION, registry
from podium.agents.builtin.render import render
from podium.agents.builtin.secrets import env_name, secret_refs
from podium.agents.context import AgentContext, PermanentFailure
from podium.agents.messages import AgentTask

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
    text = render("devops/main.bicep.j2", system=request.name, registry=registry(task),
                  version=VERSION, prefix=request.projectId[:16], port=SERVICE_PORT,
                  topics=[f"{s['name']}-events" for s in services], apps=apps)
    if text.count("{") != text.count("}") or text.count("[") != text.count("]"):
        raise PermanentFailure("TemplateInvalid: generated Bicep has unbalanced brackets")
    ctx.write_text("infra/main.bicep", text)
    ctx.write_json("infra/main.parameters.json", {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                   "deploymentParameters.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"registryServer": {"value": registry(task)},
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

