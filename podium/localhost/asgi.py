"""The local host's one ASGI app: HTTP triggers and the Durable HTTP API on the same port.

* ``/runtime/webhooks/durabletask/...``: the Durable HTTP API; needs the durable system key or
  the master key (``?code=`` or ``x-functions-key``), as on Azure;
* ``/_podium/rpc/<token>/durabletask/...``: the same API for the SDK client (its ``rpcBaseUrl``);
  the random per-process token in the path stands in for Azure's host-internal RPC listener;
* ``/admin/host/status``: ``{"state": "Running"}`` (master key), used by the CLI;
* everything else: HTTP trigger functions (``http_triggers.py``).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from podium.localhost.client import WEBHOOK_PATH, rpc_path
from podium.localhost.http_api import DurableHttpApi
from podium.localhost.http_triggers import HttpTriggers, key_matches, key_of


async def _json_404(scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"error": "NotFound", "message": f"no route {scope.get('path')}"},
                            status_code=404)
    await response(scope, receive, send)


class _KeyGuard:
    """Lets a request through only with one of the accepted keys; 401 JSON otherwise."""

    def __init__(self, app: ASGIApp, *keys: str) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not key_matches(key_of(Request(scope)), *self.keys):
            response = JSONResponse(
                {"error": "Unauthorized",
                 "message": "the Durable HTTP API needs the system key (code=) or master key"},
                status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _TriggerApp:
    def __init__(self, triggers: HttpTriggers) -> None:
        self.triggers = triggers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = await self.triggers(Request(scope, receive))
        await response(scope, receive, send)


def build_app(
    api: DurableHttpApi, triggers: HttpTriggers, rpc_token: str, master_key: str
) -> Starlette:
    async def host_status(request: Request) -> Response:
        if not key_matches(key_of(request), master_key):
            return JSONResponse({"error": "Unauthorized", "message": "master key required"},
                                status_code=401)
        return JSONResponse({"state": "Running", "taskHub": api.engine.task_hub})

    webhook = _KeyGuard(Router(api.routes(), default=_json_404), api.durable_key, master_key)
    rpc = Router(api.routes(), default=_json_404)
    app = Starlette(routes=[
        Mount(WEBHOOK_PATH, app=webhook),
        Mount(rpc_path(rpc_token), app=rpc),
        Route("/admin/host/status", host_status, methods=["GET"]),
    ])
    app.router.default = _TriggerApp(triggers)
    return app


def origin_of(request: Request) -> str:
    """``scheme://host[:port]`` the caller used (management URLs are built on it)."""
    return f"{request.url.scheme}://{request.url.netloc}"


__all__: list[Any] = ["build_app", "origin_of"]
