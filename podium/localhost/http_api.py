"""The Durable Functions HTTP API, served by the local host.

Routes and status codes follow the documented API (``/runtime/webhooks/durabletask/...``), so
the SDK's ``DurableOrchestrationClient`` and outside tools (curl, the CLI) both work:

==========================================================  =====================================
``POST orchestrators/{name}[/{instanceId}]``                202 + Location + management URLs;
                                                            404 unknown orchestrator; 400 bad JSON;
                                                            ``?timeout=s``: 200 output if done
``GET instances/{id}``                                      200 Completed, 202 running (Location),
                                                            400 Failed/Terminated, 404 unknown
``GET instances``                                           200 list; ``x-ms-continuation-token``
``DELETE instances/{id}``                                   200 ``{"instancesDeleted": 1}`` / 404
``DELETE instances``                                        purge by filter; 404 when none matched
``POST instances/{id}/raiseEvent/{event}``                  202; 400 bad JSON; 404; 410 terminal
``POST instances/{id}/terminate|suspend|resume``            202; 404; 410 invalid for its state
``POST instances/{id}/restart``                             202 with the (new) instance id
``POST entities/{name}/{key}?op=``                          202; 404 unknown entity; 400 bad JSON
``GET entities/{name}/{key}``                               200 state; 404 when it does not exist
==========================================================  =====================================

Every 4xx/5xx carries a JSON body ``{"error": <kind>, "message": <text>, "ExceptionMessage":
<text>}`` (the SDK reads ``ExceptionMessage`` when a start request is refused).

Input encoding, as the Durable extension does it: the SDK client posts start inputs and entity
operation inputs already serialized (``df_dumps`` / ``json.dumps`` then aiohttp's ``json=``),
so a body that is a JSON *string* holding JSON stands for its inner JSON (the SDK's documented
``signal_entity(id, "add", 1)`` reaches the entity as ``1``); any other JSON body is the value
itself. Event bodies are passed on decoded once, which keeps the SDK 1.7.0 client's double
encoding of ``raise_event`` data exactly as on Azure (the orchestrator sees a JSON string).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from podium.localhost.api import (
    DurableEngine,
    HostError,
    InstanceNotFound,
    InstanceQuery,
    InstanceState,
    RuntimeStatus,
)

log = logging.getLogger("podium.localhost.http_api")

CONTINUATION_HEADER = "x-ms-continuation-token"
_TRUE = {"true", "1", "yes"}


class BadRequest(HostError):
    http_status = 400


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": kind, "message": message, "ExceptionMessage": message}, status_code=status
    )


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    return default if raw is None else raw.strip().lower() in _TRUE


def _seconds(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "" or raw.startswith("{"):  # unfilled URL template
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name}: expected seconds, got {raw!r}") from None
    if value < 0:
        raise BadRequest(f"query parameter {name}: must not be negative")
    return value


def _parse_time(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"query parameter {name}: not an ISO 8601 time: {raw!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _statuses(raw: str | None) -> list[RuntimeStatus] | None:
    if not raw:
        return None
    out = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(RuntimeStatus(part))
        except ValueError:
            known = ", ".join(s.value for s in RuntimeStatus)
            raise BadRequest(f"runtimeStatus: unknown value {part!r} (known: {known})") from None
    return out or None


async def _json_body(request: Request, *, required: bool = False) -> tuple[bool, Any]:
    """``(present, value)`` of a JSON body; 400 when it is not JSON."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise BadRequest("a JSON request body is required")
        return False, None
    try:
        return True, json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


def _unwrap_sdk_json(value: Any) -> Any:
    """The SDK posts ``json.dumps(df_dumps(input))``: a JSON string holding the input's JSON."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


class DurableHttpApi:
    """Handlers of the Durable HTTP API over one engine; ``routes()`` mounts them."""

    def __init__(
        self,
        engine: DurableEngine,
        durable_key: str,
        public_base_url: Callable[[Request], str] | None = None,
    ) -> None:
        self.engine = engine
        self.durable_key = durable_key
        self._public_base = public_base_url or (lambda r: f"{r.url.scheme}://{r.url.netloc}")

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Engine calls touch SQLite; keep them off the event loop."""
        return await anyio.to_thread.run_sync(lambda: fn(*args))

    def _wrap(self, handler: Callable[[Request], Awaitable[Response]]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except HostError as exc:
                return error_response(exc.http_status, type(exc).__name__, str(exc))
            except Exception:  # never a stack trace to the caller
                error_id = str(uuid.uuid4())
                log.exception("Durable HTTP API %s %s failed (error id %s)",
                              request.method, request.url.path, error_id)
                return error_response(500, "InternalServerError",
                                      f"the request failed; see the host log (error id {error_id})")

        return endpoint

    def _status_url(self, request: Request, instance_id: str) -> str:
        base = self._public_base(request)
        qs = (f"taskHub={quote(self.engine.task_hub)}&connection=Storage"
              f"&code={quote(self.durable_key)}")
        return f"{base}/runtime/webhooks/durabletask/instances/{quote(instance_id, safe='')}?{qs}"

    def management_payload(self, request: Request, instance_id: str) -> dict[str, str]:
        status = self._status_url(request, instance_id)
        path, qs = status.split("?", 1)
        return {
            "id": instance_id,
            "statusQueryGetUri": status,
            "sendEventPostUri": f"{path}/raiseEvent/{{eventName}}?{qs}",
            "terminatePostUri": f"{path}/terminate?reason={{text}}&{qs}",
            "rewindPostUri": f"{path}/rewind?reason={{text}}&{qs}",
            "purgeHistoryDeleteUri": status,
            "restartPostUri": f"{path}/restart?{qs}",
            "suspendPostUri": f"{path}/suspend?reason={{text}}&{qs}",
            "resumePostUri": f"{path}/resume?reason={{text}}&{qs}",
        }

    def routes(self) -> list[BaseRoute]:
        w = self._wrap
        return [
            Route("/orchestrators/{name}", w(self.start), methods=["POST"]),
            Route("/orchestrators/{name}/{instance_id}", w(self.start), methods=["POST"]),
            Route("/instances", w(self.list_instances), methods=["GET"]),
            Route("/instances/", w(self.list_instances), methods=["GET"]),
            Route("/instances", w(self.purge_many), methods=["DELETE"]),
            Route("/instances/", w(self.purge_many), methods=["DELETE"]),
            Route("/instances/{instance_id}", w(self.get_status), methods=["GET"]),
            Route("/instances/{instance_id}", w(self.purge_one), methods=["DELETE"]),
            Route("/instances/{instance_id}/raiseEvent/{event}", w(self.raise_event),
                  methods=["POST"]),
            Route("/instances/{instance_id}/terminate", w(self.terminate), methods=["POST"]),
            Route("/instances/{instance_id}/suspend", w(self.suspend), methods=["POST"]),
            Route("/instances/{instance_id}/resume", w(self.resume), methods=["POST"]),
            Route("/instances/{instance_id}/restart", w(self.restart), methods=["POST"]),
            Route("/instances/{instance_id}/rewind", w(self.rewind), methods=["POST"]),
            Route("/entities/{name}/{key}", w(self.signal_entity), methods=["POST"]),
            Route("/entities/{name}/{key}", w(self.read_entity), methods=["GET"]),
        ]

    # -- orchestrations ---------------------------------------------------------------------

    async def start(self, request: Request) -> Response:
        name = request.path_params["name"]
        instance_id = request.path_params.get("instance_id")
        _, body = await _json_body(request)
        value = _unwrap_sdk_json(body)
        timeout = _seconds(request, "timeout")
        interval = _seconds(request, "pollingInterval") or 1.0
        new_id = await self._run(self.engine.start_new, name, instance_id, value)
        if timeout:
            done = await self._wait_for_completion(new_id, timeout, interval)
            if done is not None:
                return done
        payload = self.management_payload(request, new_id)
        return JSONResponse(payload, status_code=202,
                            headers={"Location": payload["statusQueryGetUri"],
                                     "Retry-After": "1"})

    async def _wait_for_completion(
        self, instance_id: str, timeout: float, interval: float
    ) -> Response | None:
        """``createAndWaitOnNewInstancePostUri``: wait (wall time) for a terminal state."""
        deadline = anyio.current_time() + timeout
        while True:
            state = await self._run(self.engine.get_status, instance_id, False, True)
            if state is not None and state.runtime_status is RuntimeStatus.Completed:
                return Response(json.dumps(state.output), status_code=200,
                                media_type="application/json")
            if state is not None and state.runtime_status in (RuntimeStatus.Failed,
                                                               RuntimeStatus.Terminated):
                code = 500 if state.runtime_status is RuntimeStatus.Failed else 200
                return JSONResponse(state.to_http_json(), status_code=code)
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                return None
            await anyio.sleep(min(interval, remaining))

    async def get_status(self, request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        state: InstanceState | None = await self._run(
            self.engine.get_status, instance_id,
            _flag(request, "showHistory", False), _flag(request, "showInput", True))
        if state is None:
            raise _not_found(instance_id)
        body = state.to_http_json()
        status = state.runtime_status
        if status is RuntimeStatus.Completed:
            return JSONResponse(body, status_code=200)
        if status in (RuntimeStatus.Failed, RuntimeStatus.Terminated):
            return JSONResponse(body, status_code=400)
        return JSONResponse(body, status_code=202,
                            headers={"Location": self._status_url(request, instance_id),
                                     "Retry-After": "1"})

    def _query(self, request: Request) -> InstanceQuery:
        top_raw = request.query_params.get("top")
        try:
            top = int(top_raw) if top_raw else 100
        except ValueError:
            raise BadRequest(f"top: expected an integer, got {top_raw!r}") from None
        if top < 1:
            raise BadRequest("top: must be at least 1")
        return InstanceQuery(
            runtime_status=_statuses(request.query_params.get("runtimeStatus")),
            created_from=_parse_time(request.query_params.get("createdTimeFrom"),
                                     "createdTimeFrom"),
            created_to=_parse_time(request.query_params.get("createdTimeTo"), "createdTimeTo"),
            instance_id_prefix=request.query_params.get("instanceIdPrefix") or None,
            page_size=top,
            continuation_token=request.headers.get(CONTINUATION_HEADER) or None,
        )

    async def list_instances(self, request: Request) -> Response:
        query = self._query(request)
        show_input = _flag(request, "showInput", False)
        show_history = _flag(request, "showHistory", False)
        states, token = await self._run(self.engine.list_instances, query)
        body = []
        for state in states:
            if show_history:
                full = await self._run(self.engine.get_status, state.instance_id, True,
                                       show_input)
                state = full or state
            item = state.to_http_json()
            if not show_input:
                item["input"] = None
            body.append(item)
        headers = {CONTINUATION_HEADER: token} if token else {}
        return JSONResponse(body, status_code=200, headers=headers)

    async def purge_one(self, request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        deleted = await self._run(self.engine.purge, instance_id)
        if not deleted:
            raise _not_found(instance_id)
        return JSONResponse({"instancesDeleted": deleted}, status_code=200)

    async def purge_many(self, request: Request) -> Response:
        query = self._query(request)
        if not (query.runtime_status or query.created_from or query.created_to
                or query.instance_id_prefix):
            raise BadRequest("purging needs a filter: createdTimeFrom, createdTimeTo, "
                             "runtimeStatus or instanceIdPrefix")
        deleted = await self._run(self.engine.purge_instances, query)
        if not deleted:
            return error_response(404, "NotFound", "no instance matched the filter")
        return JSONResponse({"instancesDeleted": deleted}, status_code=200)

    async def raise_event(self, request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        _, data = await _json_body(request)
        await self._run(self.engine.raise_event, instance_id, request.path_params["event"], data)
        return Response(status_code=202)

    async def terminate(self, request: Request) -> Response:
        await self._run(self.engine.terminate, request.path_params["instance_id"],
                        request.query_params.get("reason"))
        return Response(status_code=202)

    async def suspend(self, request: Request) -> Response:
        await self._run(self.engine.suspend, request.path_params["instance_id"],
                        request.query_params.get("reason"))
        return Response(status_code=202)

    async def resume(self, request: Request) -> Response:
        await self._run(self.engine.resume, request.path_params["instance_id"],
                        request.query_params.get("reason"))
        return Response(status_code=202)

    async def restart(self, request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        state = await self._run(self.engine.get_status, instance_id, False, True)
        if state is None:
            raise _not_found(instance_id)
        new_id_flag = _flag(request, "restartWithNewInstanceId", True)
        target = uuid.uuid4().hex if new_id_flag else instance_id
        new_id = await self._run(self.engine.start_new, state.name, target, state.input)
        return JSONResponse(new_id, status_code=202)

    async def rewind(self, request: Request) -> Response:
        return error_response(501, "NotImplemented",
                              "rewind is not supported by the local host (it is deprecated)")

    # -- entities ---------------------------------------------------------------------------

    async def signal_entity(self, request: Request) -> Response:
        op = request.query_params.get("op")
        if not op:
            raise BadRequest("query parameter op (the operation name) is required")
        _, data = await _json_body(request)
        data = _unwrap_sdk_json(data)
        await self._run(self.engine.signal_entity, request.path_params["name"],
                        request.path_params["key"], op, data)
        return Response(status_code=202)

    async def read_entity(self, request: Request) -> Response:
        name, key = request.path_params["name"], request.path_params["key"]
        state = await self._run(self.engine.read_entity_state, name, key)
        if not state.exists:
            return error_response(404, "EntityNotFound", f"entity @{name}@{key} does not exist")
        return Response(json.dumps(state.state), status_code=200,
                        media_type="application/json")


def _not_found(instance_id: str) -> HostError:
    return InstanceNotFound(f"no instance with id {instance_id!r}")
