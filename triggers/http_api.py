"""HTTP API for Studio and scripts (routes under /api/).

Authorization: the caller is the Easy Auth principal (``X-MS-CLIENT-PRINCIPAL``) or, locally,
``PODIUM_DEV_PRINCIPAL``; each route checks roles. Every answer is JSON; bad input gets a 4xx
with ``{"error": ...}`` and nothing half-applied; an unexpected failure gets a 500 with an id to
find the logged stack trace (never the trace itself).
"""

from __future__ import annotations

import functools
import json
import logging
import mimetypes
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from podium import topology
from podium.adapters.ports import AlreadyAnsweredError, NotFoundError
from podium.coordination.ids import stable_uuid
from podium.coordination.principal import Principal, PrincipalError, principal_from_headers
from podium.domain.flows import default_catalog
from podium.domain.routing import instance_id_for
from podium.observability import new_trace_id, traceparent_for
from podium.runtime import project_view
from triggers import bp
from triggers._shared import adapters, metrics

log = logging.getLogger("podium.http")
CREATE_ROLES = ("Architect", "Admin")
TRIGGER_ROLES = ("Architect", "Admin")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
ANON = func.AuthLevel.ANONYMOUS


class HttpError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.extra = status, extra


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str),
        status_code=status,
        mimetype="application/json",
        headers=headers,
    )


def api(handler: Callable[..., Awaitable[func.HttpResponse]]):
    """Turn HttpError into a 4xx JSON answer and anything unexpected into a logged 500."""

    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest, client: df.DurableOrchestrationClient):
        try:
            return await handler(req, client)
        except HttpError as exc:
            return _json({"error": str(exc), **exc.extra}, exc.status)
        except PrincipalError as exc:
            return _json({"error": str(exc)}, 401)
        except Exception:  # noqa: BLE001 - the caller gets an id, the log gets the trace
            incident = uuid.uuid4().hex[:12]
            log.exception("unhandled error in %s (incident %s)", handler.__name__, incident)
            return _json({"error": "internal error", "incident": incident}, 500)

    return wrapper


def _principal(req: func.HttpRequest, *roles: str) -> Principal:
    settings = adapters().settings
    # The dev principal is a local convenience only: on Azure, Easy Auth must authenticate.
    dev = settings.dev_principal if settings.env == "local" else None
    principal = principal_from_headers(dict(req.headers), dev)
    if principal is None:
        raise HttpError(401, "sign in first (no X-MS-CLIENT-PRINCIPAL and no dev principal)")
    if roles and not any(principal.has_role(r) for r in roles):
        raise HttpError(403, f"needs one of the roles {list(roles)}", roles=sorted(principal.roles))
    return principal


def _body(req: func.HttpRequest) -> dict[str, Any]:
    try:
        data = req.get_json()
    except ValueError:
        raise HttpError(400, "body must be JSON") from None
    if not isinstance(data, dict):
        raise HttpError(400, "body must be a JSON object")
    return data


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _coordinator(client: Any, project_id: str) -> dict[str, Any]:
    if not _ID.match(project_id or ""):
        raise HttpError(400, "projectId must be 2-63 lowercase letters, digits or '-'")
    response = await client.read_entity_state(df.EntityId("project_coordinator", project_id))
    if not response.entity_exists:
        raise HttpError(404, f"project {project_id} not found")
    state = response.entity_state
    return json.loads(state) if isinstance(state, str) else state


async def _readable_project(req: func.HttpRequest, client: Any) -> dict[str, Any]:
    """The coordinator state of the route's project, for any signed-in caller."""
    _principal(req)
    return await _coordinator(client, req.route_params["projectId"])


def _publish(event: dict[str, Any]) -> None:
    from activities._runtime import publish

    publish(event)


# ---------------------------------------------------------------------------- projects
@bp.route(route="projects", methods=["POST"], auth_level=ANON)
@bp.durable_client_input(client_name="client")
@api
async def create_project(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """Create a project (emits ProjectCreated): body is a project request (examples/*.json)."""
    principal = _principal(req, *CREATE_ROLES)
    data = _body(req)
    upstream = data.pop("upstream", []) or []
    trigger_phase = data.pop("triggerOnUpstreamPhase", None)
    data.setdefault("projectId", _slug(str(data.get("name", "project"))))
    request = _validate_request(data)
    tenant, project = request["tenantId"], request["projectId"]
    a = adapters()
    trigger_phase = _validate_links(a, tenant, project, upstream, trigger_phase)
    if a.projects.get(tenant, project) is not None:
        raise HttpError(409, f"project {project} already exists in tenant {tenant}")
    existing = await client.read_entity_state(df.EntityId("project_coordinator", project))
    if existing.entity_exists:
        raise HttpError(409, f"project id {project} is taken")
    trace_id, at = new_trace_id(), _now()
    a.artifacts.put_bytes(
        tenant, project, "request.json", json.dumps(request, indent=2).encode(), "application/json"
    )
    request.update(upstream=upstream, triggerOnUpstreamPhase=trigger_phase)
    a.projects.put(
        {
            "tenantId": tenant,
            "projectId": project,
            "name": request["name"],
            "request": request,
            "traceId": trace_id,
            "createdAt": at,
            "createdBy": principal.user_id,
            "upstream": upstream,
        }
    )
    await client.signal_entity(
        df.EntityId("project_coordinator", project),
        "init",
        {
            "projectId": project,
            "tenantId": tenant,
            "name": request["name"],
            "traceId": trace_id,
            "upstream": upstream,
            "triggerOnUpstreamPhase": trigger_phase,
            "at": at,
        },
    )
    await _until_exists(client, project)
    metrics().project_phase_changed(None, "Initialization")
    event_id = str(uuid.uuid4())
    _publish(
        {
            "eventType": "ProjectCreated",
            "eventId": event_id,
            "traceId": trace_id,
            "tenantId": tenant,
            "projectId": project,
            "source": "studio",
            "timestamp": at,
            "payload": {
                "triggeredBy": principal.user_id,
                "projectName": request["name"],
                "description": request.get("description", ""),
                "request": request,
                "parentProjectIds": upstream,
            },
        }
    )
    return _json(
        {
            "projectId": project,
            "tenantId": tenant,
            "traceId": trace_id,
            "eventId": event_id,
            "status": f"/api/projects/{project}",
        },
        202,
        {
            "Location": f"/api/projects/{project}",
            topology.PROP_TRACEPARENT: traceparent_for(trace_id),
        },
    )


async def _until_exists(client: Any, project: str, timeout: float = 10.0) -> None:
    """Wait (briefly) until the coordinator processed its init signal, so that a 202 means
    the project can be read at once."""
    import asyncio

    entity = df.EntityId("project_coordinator", project)
    for _ in range(int(timeout / 0.05)):
        if (await client.read_entity_state(entity)).entity_exists:
            return
        await asyncio.sleep(0.05)
    log.warning("coordinator of %s not initialised after %.0f s", project, timeout)


def _validate_request(data: dict[str, Any]) -> dict[str, Any]:
    from pydantic import ValidationError

    from podium.agents.request import parse_request

    try:
        parsed = parse_request(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise HttpError(400, "invalid project request", problems=problems) from None
    except ValueError as exc:
        raise HttpError(400, f"invalid project request: {exc}") from None
    out = parsed.model_dump(by_alias=True, mode="json")
    if not _ID.match(out["projectId"]):
        raise HttpError(400, "projectId must be 2-63 lowercase letters, digits or '-'")
    return out


def _validate_links(
    a: Any, tenant: str, project: str, upstream: Any, trigger_phase: Any
) -> str | None:
    """The multi-project fields, checked before anything is written: ``upstream`` is a list of
    existing project ids *of the same tenant* (a project may not watch, nor register itself
    as a child of, another tenant's project) and ``triggerOnUpstreamPhase`` a lifecycle phase,
    given only with an upstream. Returns the phase's canonical name."""
    from podium.domain.phases import LifecyclePhase

    if not isinstance(upstream, list) or not all(
        isinstance(u, str) and _ID.match(u) for u in upstream
    ):
        raise HttpError(400, "upstream must be a list of project ids")
    if project in upstream:
        raise HttpError(400, "a project cannot be its own upstream")
    for parent in upstream:
        if a.projects.get(tenant, parent) is None:
            raise HttpError(400, f"upstream project {parent} not found in tenant {tenant}")
    if trigger_phase is None:
        return None
    if not upstream:
        raise HttpError(400, "triggerOnUpstreamPhase needs an upstream project")
    try:
        return LifecyclePhase.parse(str(trigger_phase)).value
    except ValueError:
        raise HttpError(
            400, f"triggerOnUpstreamPhase {trigger_phase!r} is not a lifecycle phase"
        ) from None


def _slug(name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "project"
    return f"{base}-{uuid.uuid4().hex[:6]}"


@bp.route(route="projects", methods=["GET"], auth_level=ANON)
@bp.durable_client_input(client_name="client")
@api
async def list_projects(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    _principal(req)
    tenants = [req.params["tenantId"]] if req.params.get("tenantId") else _tenants()
    if not tenants:
        raise HttpError(400, "tenantId is required (or set PODIUM_TENANTS)")
    phase, status = req.params.get("phase"), req.params.get("status")
    out = []
    for tenant in tenants:
        token = None
        while True:
            items, token = adapters().projects.list(tenant, continuation=token)
            for rec in items:
                row = await _summary(client, rec)
                if (not phase or row["phase"] == phase) and (not status or row["status"] == status):
                    out.append(row)
            if not token:
                break
    return _json({"projects": out})


def _tenants() -> list[str]:
    return adapters().settings.tenants


async def _summary(client: Any, rec: dict[str, Any]) -> dict[str, Any]:
    response = await client.read_entity_state(df.EntityId("project_coordinator", rec["projectId"]))
    coord = response.entity_state if response.entity_exists else {}
    coord = json.loads(coord) if isinstance(coord, str) else (coord or {})
    return {
        "projectId": rec["projectId"],
        "tenantId": rec["tenantId"],
        "name": rec.get("name"),
        "phase": coord.get("phase", "Initialization"),
        "status": coord.get("status", "Pending"),
        "locked": bool(coord.get("locked")),
        "upstream": rec.get("upstream", []),
        "children": coord.get("children", []),
        "traceId": rec.get("traceId"),
        "createdAt": rec.get("createdAt"),
    }


@bp.route(route="projects/{projectId}", methods=["GET"], auth_level=ANON)
@bp.durable_client_input(client_name="client")
@api
async def get_project(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    coord = await _readable_project(req, client)
    a = adapters()
    record = a.projects.get(coord["tenant_id"], coord["project_id"])
    state = project_view.project_state(
        a, coord, record, include_audit=req.params.get("audit") == "true"
    )
    return _json(state)


@bp.route(route="projects/{projectId}/audit", methods=["GET"], auth_level=ANON)
@bp.durable_client_input(client_name="client")
@api
async def get_audit(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    coord = await _readable_project(req, client)
    records = project_view.audit_records(
        adapters(),
        coord["tenant_id"],
        coord["project_id"],
        trace_id=req.params.get("traceId"),
        task_id=req.params.get("taskId"),
        agent_id=req.params.get("agentId"),
        type=req.params.get("type"),
    )
    return _json({"records": records})


@bp.route(route="me", methods=["GET"], auth_level=ANON)
@bp.durable_client_input(client_name="client")
@api
async def whoami(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return _json(_principal(req).to_json())


# ---------------------------------------------------------------------------- human tasks
@bp.route(route="projects/{projectId}/human-tasks", methods=["GET"], auth_level=ANON)
@bp.durable_client_input(client_name="client")
@api
async def list_human_tasks(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    coord = await _readable_project(req, client)
    tasks = adapters().human_tasks.list_pending(coord["tenant_id"], coord["project_id"])
    return _json({"humanTasks": tasks})


@bp.route(route="projects/{projectId}/human-tasks/{taskId}", methods=["POST"], auth_level=ANON)
@bp.durable_client_input(client_name="client")
@api
async def answer_human_task(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """Approve / Reject / Edit a pending human task; only the task's required role may."""
    coord = await _coordinator(client, req.route_params["projectId"])
    tenant, project, task_id = coord["tenant_id"], coord["project_id"], req.route_params["taskId"]
    a = adapters()
    found = a.human_tasks.get(tenant, project, task_id)
    if found is None:
        raise HttpError(404, f"human task {task_id} not found in project {project}")
    task, etag = found
    principal = _principal(req, task["requiredRole"])
    body = _body(req)
    response = body.get("response")
    if response not in task.get("options", []):
        raise HttpError(400, f"response must be one of {task.get('options')}")
    if response == "Edit" and not isinstance(body.get("data"), dict):
        raise HttpError(400, "an Edit response needs 'data' (a JSON object)")
    at = _now()
    try:
        a.human_tasks.answer(
            tenant,
            project,
            task_id,
            {
                "response": response,
                "data": body.get("data"),
                "comment": body.get("comment"),
                "respondedAt": at,
            },
            answered_by=principal.user_id,
            etag=etag,
        )
    except AlreadyAnsweredError:
        raise HttpError(409, f"human task {task_id} was already answered") from None
    except NotFoundError:
        raise HttpError(404, f"human task {task_id} not found") from None
    event = {
        "eventType": "HumanTaskResponseReceived",
        "eventId": stable_uuid("human-response", tenant, project, task_id),
        "traceId": task["traceId"],
        "tenantId": tenant,
        "projectId": project,
        "source": "studio",
        "timestamp": at,
        "payload": {
            "taskId": task_id,
            "response": response,
            "submittedBy": principal.user_id,
            "role": task["requiredRole"],
            "comment": body.get("comment"),
            "data": body.get("data"),
            "instanceId": task["instanceId"],
        },
    }
    _publish(event)
    a.audit.append(
        {
            "id": stable_uuid("audit", "human", task_id),
            "tenantId": tenant,
            "projectId": project,
            "traceId": task["traceId"],
            "type": "HumanTaskResponseReceived",
            "actor": principal.user_id,
            "action": f"{response} {task['title']}",
            "phase": task.get("phase") or "",
            "timestamp": at,
            "taskId": task.get("graphTaskId"),
            "agentId": None,
            "details": {
                "humanTaskId": task_id,
                "role": task["requiredRole"],
                "comment": body.get("comment"),
            },
        }
    )
    if response in ("Approve", "Edit"):
        await client.signal_entity(
            df.EntityId("project_coordinator", project),
            "record_approval",
            {"approval": task.get("graphTaskId")},
        )
    metrics().human_task_answered(
        task["requiredRole"], response, project_view.duration_ms(task.get("requestedAt"), at) or 0.0
    )
    return _json(
        {"ok": True, "taskId": task_id, "response": response, "submittedBy": principal.user_id}
    )


# ---------------------------------------------------------------------------- manual triggers
@bp.route(route="projects/{projectId}/actions/{action}", methods=["POST"], auth_level=ANON)
@bp.durable_client_input(client_name="client")
@api
async def manual_trigger(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """Studio's buttons: mark-phase-complete, regenerate-microservice, apply-template."""
    action = req.route_params["action"]
    coord = await _coordinator(client, req.route_params["projectId"])
    if coord.get("locked"):
        raise HttpError(409, "project is delivered and read-only; an Admin must reopen it")
    body = _body(req) if req.get_body() else {}
    if action == "mark-phase-complete":
        return await _mark_phase_complete(req, client, coord)
    if action in ("regenerate-microservice", "apply-template"):
        principal = _principal(req, *TRIGGER_ROLES)
        return await _rerun_assembly(client, coord, body, principal, action)
    raise HttpError(
        404,
        f"unknown action {action!r}; known: mark-phase-complete, "
        "regenerate-microservice, apply-template",
    )


async def _mark_phase_complete(req, client, coord: dict[str, Any]) -> func.HttpResponse:
    principal = _principal(req)
    instance = f"{coord['project_id']}:phase-override:{uuid.uuid4().hex[:8]}"
    await client.start_new(
        "phase_override",
        instance,
        {
            "projectId": coord["project_id"],
            "tenantId": coord["tenant_id"],
            "traceId": coord.get("trace_id"),
            "roles": sorted(principal.roles),
            "actor": principal.user_id,
        },
    )
    status = await _wait(client, instance)
    output = status.output or {}
    if not output.get("ok"):
        raise HttpError(403, output.get("error") or "phase override refused")
    metrics().orchestration_started("phase-override", tenant_id=coord["tenant_id"], manual=True)
    return _json(output)


async def _rerun_assembly(client, coord, body, principal, action) -> func.HttpResponse:
    name = body.get("serviceName")
    if not isinstance(name, str) or not name:
        raise HttpError(400, "body needs 'serviceName'")
    template = body.get("templateId")
    if action == "apply-template" and not template:
        raise HttpError(400, "body needs 'templateId'")
    sid = body.get("microserviceId") or f"svc-{name}"
    run_key = f"{sid}~{action}-{uuid.uuid4().hex[:6]}"
    flow = default_catalog().flow("microservice-assembly")
    # Work the current phase forbids is refused here: started, the flow would be rejected by
    # the coordinator's phase gate and its failure would mark the whole project Failed.
    # (Work of a later phase is fine: it is postponed until that phase.)
    from podium.domain.lifecycle import decide_task

    gate = decide_task(coord.get("phase", "Initialization"), flow.name, catalog=default_catalog())
    if gate.kind == "rejected":
        raise HttpError(409, f"{action} refused in phase {coord.get('phase')}: {gate.reason}")
    params = flow.resolve_parameters({"serviceName": name, "microserviceId": sid})
    instance = instance_id_for(flow.name, coord["project_id"], run_key)
    await client.start_new(
        "flow_runner",
        instance,
        {
            "flow": flow.name,
            "tenantId": coord["tenant_id"],
            "projectId": coord["project_id"],
            "traceId": coord.get("trace_id"),
            "params": params,
            "key": run_key,
            "trigger": action,
            "templates": [template] if template else [],
            "manualBy": principal.user_id,
        },
    )
    metrics().orchestration_started(flow.name, tenant_id=coord["tenant_id"], manual=True)
    return _json({"ok": True, "instanceId": instance, "action": action}, 202)


async def _wait(client: Any, instance: str, timeout: float = 30.0):
    import asyncio

    for _ in range(int(timeout / 0.1)):
        status = await client.get_status(instance)
        value = getattr(status.runtime_status, "value", status.runtime_status)
        if value in ("Completed", "Failed", "Terminated"):
            return status
        await asyncio.sleep(0.1)
    raise HttpError(504, f"{instance} did not finish in {timeout:.0f} s")


# ---------------------------------------------------------------------------- artifacts
@bp.route(route="projects/{projectId}/artifacts/{*path}", methods=["GET"], auth_level=ANON)
@bp.durable_client_input(client_name="client")
@api
async def get_artifact(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    coord = await _readable_project(req, client)
    path = req.route_params.get("path") or ""
    try:
        data = adapters().artifacts.get(coord["tenant_id"], coord["project_id"], path)
    except NotFoundError:
        raise HttpError(404, f"artifact {path} not found") from None
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return func.HttpResponse(data, status_code=200, mimetype=kind)


@bp.route(route="projects/{projectId}/export", methods=["GET"], auth_level=ANON)
@bp.durable_client_input(client_name="client")
@api
async def export_project(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    coord = await _readable_project(req, client)
    data = adapters().artifacts.zip_export(coord["tenant_id"], coord["project_id"])
    return func.HttpResponse(
        data,
        status_code=200,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{coord["project_id"]}.zip"'},
    )
