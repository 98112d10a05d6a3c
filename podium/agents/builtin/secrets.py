"""devops-agent, secrets part: wires secrets into config as ``@vault:`` references only.

Why references only: the seed says secrets never appear in files, logs or task payloads. Values
the caller resolved into ``config`` are replaced by their reference and listed as redacted, and
a final scan fails the task (SecretInjectionBlocked) if any resolved value would still reach
the workspace.
"""

from __future__ import annotations

import re
from typing import Any

from podium.agents.builtin.common import IDENTITY_SERVICE, load_request, load_services, snake
from podium.agents.builtin.developer import SIGNING_KEY_REF
from podium.agents.builtin.pipelines import variable_group
from podium.agents.context import AgentContext, PermanentFailure
from podium.agents.messages import AgentTask
from podium.agents.request import ProjectRequest

SECRETISH = re.compile(r"secret|password|passwd|key|token|connectionstring|credential", re.I)


def env_name(key: str) -> str:
    """``ServiceBusConnectionString`` -> ``SERVICE_BUS_CONNECTION_STRING``."""
    return snake(key).upper()


def secret_refs(request: ProjectRequest, services: list[dict[str, Any]]) -> dict[str, str]:
    """Every secret the project's services need, as key -> ``@vault:`` reference."""
    refs = dict(request.config.secrets)
    if any(s["requiresAuth"] for s in services):
        refs.setdefault("IdentitySigningKey", SIGNING_KEY_REF)
    return refs


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
        "name": variable_group(task, env), "keyVaultLinked": True,
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
