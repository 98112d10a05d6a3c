"""developer-agent: renders runnable Python microservices from the plan.

ApplyMicroserviceTemplate (inputs.serviceName) renders ``templates/service`` into
``services/<name>/``: a starlette API with CRUD per entity, the domain module, an in-memory
repository, tests with starlette's TestClient, Dockerfile, ``openapi.json`` and a README.
ScaffoldIdentityService renders ``templates/identity`` into ``services/identity/``: a token
endpoint (client credentials) and the project's roles, claims and scopes.

Why samples are computed here: the generated tests need valid and invalid payloads for every
entity, and the agent that knows the field types is the one that can build them.
"""

from __future__ import annotations

import re
from typing import Any

from podium.agents.builtin.common import (
    IDENTITY_SERVICE,
    PLAN_VISION,
    find_service,
    load_request,
    load_services,
    pascal,
    rbac_model,
    resource_path,
    service_name,
    snake,
)
from podium.agents.builtin.openapi import service_contract
from podium.agents.builtin.render import render, render_tree
from podium.agents.context import AgentContext, AgentResult
from podium.agents.messages import AgentTask
from podium.agents.worker import AgentWorker

SIGNING_KEY_ENV = "IDENTITY_SIGNING_KEY"
SIGNING_KEY_REF = "@vault:identity-signing-key"
SERVICE_PORT = 8000

_SAMPLE = {"string": "{field}-1", "ref": "{ref}-1", "integer": 3, "number": 9.5,
           "boolean": True, "datetime": "2026-01-02T03:04:05+00:00"}
_UPDATED = {"string": "{field}-2", "ref": "{ref}-2", "integer": 4, "number": 10.25,
            "boolean": False, "datetime": "2026-02-03T04:05:06+00:00"}
_WRONG = {"string": 12345, "ref": 12345, "datetime": "not-a-date", "integer": "three",
          "number": "nine", "boolean": "yes"}


def _value(table: dict[str, Any], field: dict[str, Any]) -> Any:
    value = table[field["type"]]
    if isinstance(value, str):
        return value.format(field=field["name"], ref=snake(field.get("ref") or "x"))
    return value


def samples(entity: dict[str, Any]) -> dict[str, Any]:
    """Payloads for generated tests: valid, a valid replacement, one field of a wrong type."""
    fields = entity["fields"]
    valid = {f["name"]: _value(_SAMPLE, f) for f in fields}
    updated = {f["name"]: _value(_UPDATED, f) for f in fields}
    target = next((f for f in fields if f["required"]), fields[0])
    invalid = {**valid, target["name"]: _WRONG[target["type"]]}
    return {"valid": valid, "updated": updated, "invalid": invalid,
            "invalidField": target["name"]}


def system_name(ctx: AgentContext) -> str:
    """The system name of the vision plan, reduced to letters and digits (it lands in code)."""
    raw = str(ctx.read_json(PLAN_VISION).get("systemName", "")) if ctx.exists(PLAN_VISION) \
        else pascal(ctx.task.project_id)
    return re.sub(r"[^A-Za-z0-9]", "", raw) or "Podium"


def service_model(service: dict[str, Any], system: str) -> dict[str, Any]:
    entities = []
    for entity in service["entityModel"]:
        fields = [{"name": f["name"], "type": f["type"], "required": bool(f["required"]),
                   "ref": f.get("ref")} for f in entity["fields"]]
        entities.append({"name": entity["name"],
                         "description": text_for_code(entity.get("description", "")),
                         "path": resource_path(entity["name"]), "fields": fields})
    return {
        "name": service["name"], "system": system,
        "description": text_for_code(service.get("description", "")),
        "requires_auth": bool(service["requiresAuth"]), "port": SERVICE_PORT,
        "entities": entities,
        "samples": {e["path"]: samples(e) for e in entities},
    }


def text_for_code(text: str) -> str:
    """Free text made safe inside generated docstrings, comments and Markdown.

    Why: descriptions come from the request; a backslash, a quote or a newline must not be
    able to break (or inject into) the generated Python, Dockerfile or YAML.
    """
    flat = re.sub(r"\s+", " ", text).strip()
    return flat.replace("\\", "/").replace('"', "'").replace("|", "/")[:300]


def generate_service(ctx: AgentContext, service: dict[str, Any]) -> dict[str, Any]:
    """Render one planned service; re-running overwrites the same files (idempotent)."""
    svc = service_model(service, system_name(ctx))
    base = f"services/{svc['name']}"
    variables = {"svc": svc, "signing_key_env": SIGNING_KEY_ENV,
                 "signing_key_ref": SIGNING_KEY_REF}
    files = render_tree(ctx, "service", base, **variables)
    auth_path = f"{base}/app/auth.py"
    if svc["requires_auth"]:
        ctx.write_text(auth_path, render("common/auth.py.j2", **variables))
        files.append(auth_path)
    else:
        ctx.path(auth_path).unlink(missing_ok=True)  # the plan changed: no stale auth module
    contract = service_contract(svc["name"], svc["system"], svc["entities"],
                                svc["requires_auth"])
    ctx.write_json(f"{base}/openapi.json", contract)
    files.append(f"{base}/openapi.json")
    return {"serviceName": svc["name"], "filesGenerated": len(files),
            "entities": [e["name"] for e in svc["entities"]],
            "endpoints": sum(len([m for m in p if m != "parameters"])
                             for p in contract["paths"].values()),
            "requiresAuth": svc["requires_auth"], "path": base}


def identity_model(ctx: AgentContext, task: AgentTask) -> dict[str, Any]:
    request = load_request(task, ctx)
    services = load_services(ctx) if ctx.exists("plan/microservices.json") else []
    rbac = rbac_model(request.roles, services)
    clients = [{"clientId": f"{snake(role).replace('_', '-')}-client", "roles": [role],
                "secretEnv": f"CLIENT_SECRET_{snake(role).upper()}",
                "secretRef": f"@vault:identity-client-{snake(role).replace('_', '-')}"}
               for role in rbac["roles"]]
    return {"name": IDENTITY_SERVICE, "system": system_name(ctx), "port": SERVICE_PORT,
            "rbac": rbac, "clients": clients}


def register(workers: dict[str, AgentWorker]) -> None:
    developer = workers["developer-agent"]

    @developer.handler("ApplyMicroserviceTemplate")
    def apply_microservice_template(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
        return generate_service(ctx, find_service(ctx, service_name(task)))

    @developer.handler("ScaffoldIdentityService")
    def scaffold_identity(task: AgentTask, ctx: AgentContext) -> AgentResult:
        ident = identity_model(ctx, task)
        base = f"services/{IDENTITY_SERVICE}"
        variables = {"svc": ident, "signing_key_env": SIGNING_KEY_ENV,
                     "signing_key_ref": SIGNING_KEY_REF}
        render_tree(ctx, "identity", base, **variables)
        ctx.write_text(f"{base}/app/auth.py", render("common/auth.py.j2", **variables))
        ctx.write_json(f"{base}/app/rbac.json", ident["rbac"])
        ctx.write_json(f"{base}/app/clients.json", ident["clients"])
        return AgentResult(outputs={
            "serviceName": IDENTITY_SERVICE, "path": base, "roles": ident["rbac"]["roles"],
            "clients": [c["clientId"] for c in ident["clients"]],
            "filesGenerated": len(ctx.artifacts)})
