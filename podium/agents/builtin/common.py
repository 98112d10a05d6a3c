"""Shared helpers of the built-in agents: where the request and the plan live, naming.

Why a fixed workspace layout: agents run in separate tasks (maybe separate processes) and
only share the project workspace, so each agent reads what an earlier one wrote at a known
path. The layout is documented in docs/agents.md:

    request.json               the project request (written by whoever creates the project)
    plan/request.json          the validated request, as the vision agent read it
    plan/vision.json           vision-architect-agent
    plan/domain-model.json     enterprise-architect-agent
    plan/microservices.json    planner-agent / basic-planner-agent
    services/<name>/           developer-agent (+ events.json, observability.json)
    gateway/ security/ config/ pipelines/ infra/ deploy/ observability/ qa/ delivery/
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from podium.agents.context import AgentContext, PermanentFailure
from podium.agents.messages import AgentTask
from podium.agents.request import ProjectRequest, parse_request

REQUEST_PATHS = ("request.json", "plan/request.json")
PLAN_VISION = "plan/vision.json"
PLAN_DOMAIN = "plan/domain-model.json"
PLAN_SERVICES = "plan/microservices.json"
IDENTITY_SERVICE = "identity"


def load_request(task: AgentTask, ctx: AgentContext) -> ProjectRequest:
    """The project request: ``inputs.request`` first, else the workspace copies."""
    raw: Any = task.inputs.get("request")
    if raw is None:
        for candidate in REQUEST_PATHS:
            if ctx.exists(candidate):
                raw = ctx.read_json(candidate)
                break
    if raw is None:
        raise PermanentFailure(
            "MissingRequest: no inputs.request and no request.json in the workspace")
    try:
        return parse_request(raw)
    except ValidationError as exc:
        raise PermanentFailure("InvalidProjectModel: the project request is invalid",
                               _errors(exc)) from None


def _errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]


def load_services(ctx: AgentContext) -> list[dict[str, Any]]:
    plan = ctx.read_json(PLAN_SERVICES)
    services = plan.get("services") if isinstance(plan, dict) else None
    if not isinstance(services, list):
        raise PermanentFailure(f"InvalidArtifact: {PLAN_SERVICES} has no services list")
    return services


def find_service(ctx: AgentContext, name: str) -> dict[str, Any]:
    for service in load_services(ctx):
        if service.get("name") == name:
            return service
    raise PermanentFailure(f"UnknownService: {name!r} is not in {PLAN_SERVICES}")


def service_name(task: AgentTask) -> str:
    """The ``serviceName`` input (else microserviceId minus "svc-"), checked: it becomes a
    directory name."""
    name = task.inputs.get("serviceName")
    if name is None and task.microservice_id:
        name = task.microservice_id.removeprefix("svc-")
    if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9-]{0,39}$", name):
        raise PermanentFailure(f"InvalidInput: serviceName must be a service slug, got {name!r}")
    return name


def service_names(task: AgentTask, ctx: AgentContext) -> list[str]:
    """One service when ``serviceName`` is given, else every planned service."""
    if task.inputs.get("serviceName"):
        return [service_name(task)]
    return [s["name"] for s in load_services(ctx)]


def snake(name: str) -> str:
    """``OrderLine`` / ``order-line`` -> ``order_line``."""
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).replace("-", "_")
    return text.lower()


def kebab(name: str) -> str:
    return snake(name).replace("_", "-")


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_\s]+", name) if part)


def plural(word: str) -> str:
    """English plural good enough for resource paths (category -> categories)."""
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s"


def resource_path(entity: str) -> str:
    """``OrderLine`` -> ``order-lines``: the REST collection of an entity."""
    return plural(kebab(entity))


def rbac_model(request_roles: list[str], services: list[dict[str, Any]],
               extra_scopes: list[str] | None = None) -> dict[str, Any]:
    """Roles, claims and scopes of the project, as the seed's Role & Permission Model.

    One pure function used by both the security agent (rbac.json) and the developer agent
    (the identity service's built-in roles), so the two can never disagree. ``extra_scopes``
    are project-wide scopes a flow asks for (e.g. api.read); Admin gets every scope.
    """
    roles = list(dict.fromkeys([*request_roles, "Admin", "User"]))
    claims: list[str] = []
    scopes: list[str] = []
    manage: list[str] = []
    view: list[str] = []
    for service in services:
        name = service["name"]
        scopes += [f"{name}.read", f"{name}.write"]
        for entity in service.get("entityModel", []):
            view.append(f"CanView{plural(entity['name'])}")
            manage.append(f"CanManage{plural(entity['name'])}")
    claims = [*view, *manage, "CanManageUsers"]
    scopes = list(dict.fromkeys([*scopes, *(extra_scopes or []), "identity.profile"]))
    read_scopes = [s for s in scopes if s.endswith(".read")] + ["identity.profile"]
    role_claims = {role: view for role in roles}
    role_scopes = {role: read_scopes for role in roles}
    role_claims["Admin"] = claims
    role_scopes["Admin"] = scopes
    if "User" in roles:
        user_write = [f"{s['name']}.write" for s in services if s.get("requiresAuth")]
        role_scopes["User"] = [*read_scopes, *user_write]
    return {"roles": roles, "claims": claims, "scopes": scopes,
            "roleClaims": role_claims, "roleScopes": role_scopes}
