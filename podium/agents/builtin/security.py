"""security-agent: the roles, claims and scopes model and the auth configuration.

Why the identity service's copy is refreshed here: the identity service may have been
scaffolded before the final plan (S1 runs before S2), and the tokens it issues must carry
exactly the scopes the services check. Both come from ``rbac_model``, so refreshing is a no-op
unless the plan changed in between.
"""

from __future__ import annotations

from typing import Any

from podium.agents.builtin.common import (
    IDENTITY_SERVICE,
    load_request,
    load_services,
    rbac_model,
)
from podium.agents.builtin.developer import SERVICE_PORT, SIGNING_KEY_ENV, SIGNING_KEY_REF
from podium.agents.context import AgentContext, PermanentFailure
from podium.agents.messages import AgentTask
from podium.agents.worker import AgentWorker

RBAC = "security/rbac.json"
AUTH_CONFIG = "security/auth-config.json"


def auth_config(project_id: str, services: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "projectId": project_id,
        "issuer": f"http://{IDENTITY_SERVICE}:{SERVICE_PORT}",
        "tokenEndpoint": "/token",
        "introspectionEndpoint": "/introspect",
        "grantTypes": ["client_credentials"],
        "tokenLifetimeSec": 3600,
        "signingKey": {"env": SIGNING_KEY_ENV, "secretRef": SIGNING_KEY_REF},
        "services": {
            s["name"]: {"requiresAuth": bool(s["requiresAuth"]),
                        "readScope": f"{s['name']}.read", "writeScope": f"{s['name']}.write"}
            for s in services
        },
    }


def _names(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PermanentFailure(f"InvalidInput: {key} must be a list of names")
    return value


def register(workers: dict[str, AgentWorker]) -> None:
    @workers["security-agent"].handler("DefineRBACModel")
    def define_rbac(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
        request = load_request(task, ctx)
        services = load_services(ctx)
        roles = _names(task.inputs.get("roles"), "roles")
        scopes = _names(task.inputs.get("scopes"), "scopes")
        model = rbac_model(list(dict.fromkeys([*request.roles, *roles])), services, scopes)
        ctx.write_json(RBAC, model)
        ctx.write_json(AUTH_CONFIG, auth_config(request.projectId, services))
        identity_copy = f"services/{IDENTITY_SERVICE}/app/rbac.json"
        refreshed = False
        if ctx.exists(identity_copy) and ctx.read_json(identity_copy) != model:
            ctx.write_json(identity_copy, model)
            refreshed = True
        return {"roles": model["roles"], "claims": len(model["claims"]),
                "scopes": len(model["scopes"]),
                "protectedServices": [s["name"] for s in services if s["requiresAuth"]],
                "identityRefreshed": refreshed}
