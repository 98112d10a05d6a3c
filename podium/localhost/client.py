"""The durable client input binding (``@app.durable_client_input``) of the local host.

The SDK's client middleware expects, under the client parameter name, the binding JSON the
Durable extension hands the worker (``taskHubName``, ``creationUrls``, ``managementUrls`` with
the ``INSTANCEID`` placeholder, ``baseUrl``, ``requiredQueryStringParameters``,
``rpcBaseUrl``); the real ``DurableOrchestrationClient`` then makes HTTP calls to
``rpcBaseUrl``. Those calls reach our Durable HTTP API (``http_api.py``):

* with a port: over real HTTP (the SDK's own aiohttp code). On Azure the RPC endpoint is a
  host-internal loopback listener that needs no key; here it is served under a path that
  holds a per-process random token (``/_podium/rpc/<token>/durabletask/``), so it needs no key
  either and cannot be guessed by other local users;
* in-process (no port, tests): :func:`install_inprocess_transport` replaces the SDK client
  module's ``post_async_request`` / ``get_async_request`` / ``delete_async_request`` with
  functions that send requests whose URL starts with a registered in-process base URL to the
  host's ASGI app through ``httpx.ASGITransport`` (other URLs still go to the originals).
  Responses are decoded exactly as the originals do.

The management URLs handed out (``create_check_status_response``) carry the durable system key
in ``code=``, as on Azure.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
_SDK_CLIENT_MODULE = "azure.durable_functions.models.DurableOrchestrationClient"


def rpc_path(token: str) -> str:
    return f"/_podium/rpc/{token}/durabletask"


def client_binding(
    public_base_url: str, rpc_base_url: str, task_hub: str, durable_key: str
) -> dict[str, Any]:
    """The client binding JSON (as a dict) the Durable extension gives a client function."""
    webhook = public_base_url.rstrip("/") + WEBHOOK_PATH
    qs = f"taskHub={quote(task_hub)}&connection=Storage&code={quote(durable_key)}"
    inst = f"{webhook}/instances/INSTANCEID"
    return {
        "taskHubName": task_hub,
        "creationUrls": {
            "createNewInstancePostUri": f"{webhook}/orchestrators/{{functionName}}"
            f"[/{{instanceId}}]?{qs}",
            "createAndWaitOnNewInstancePostUri": f"{webhook}/orchestrators/{{functionName}}"
            f"[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
            f"&pollingInterval={{intervalInSeconds}}&{qs}",
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": f"{inst}?{qs}",
            "sendEventPostUri": f"{inst}/raiseEvent/{{eventName}}?{qs}",
            "terminatePostUri": f"{inst}/terminate?reason={{text}}&{qs}",
            "rewindPostUri": f"{inst}/rewind?reason={{text}}&{qs}",
            "purgeHistoryDeleteUri": f"{inst}?{qs}",
            "restartPostUri": f"{inst}/restart?{qs}",
            "suspendPostUri": f"{inst}/suspend?reason={{text}}&{qs}",
            "resumePostUri": f"{inst}/resume?reason={{text}}&{qs}",
        },
        "baseUrl": webhook,
        "requiredQueryStringParameters": qs,
        "rpcBaseUrl": rpc_base_url.rstrip("/") + "/",
    }


def client_binding_json(
    public_base_url: str, rpc_base_url: str, task_hub: str, durable_key: str
) -> str:
    return json.dumps(client_binding(public_base_url, rpc_base_url, task_hub, durable_key))


# -- in-process transport ------------------------------------------------------------------

_routes: dict[str, Any] = {}  # in-process base URL -> ASGI app
_routes_lock = threading.Lock()
_originals: dict[str, Callable[..., Any]] = {}


def register_inprocess_app(app: Any) -> str:
    """Route SDK client calls for a new unique base URL to ``app``; returns that base URL."""
    install_inprocess_transport()
    base = f"http://podium-{uuid.uuid4().hex[:12]}.inprocess"
    with _routes_lock:
        _routes[base] = app
    return base


def unregister_inprocess_app(base: str) -> None:
    with _routes_lock:
        _routes.pop(base, None)


def _app_for(url: str) -> tuple[str, Any] | None:
    with _routes_lock:
        for base, app in _routes.items():
            if url.startswith(base + "/") or url == base:
                return base, app
    return None


async def _send(
    base: str, app: Any, method: str, url: str, data: Any = None, headers: dict | None = None
) -> httpx.Response:
    """One request to the ASGI app. The transport is called directly: an ``AsyncClient`` per
    call would cost an SSL context (~20 ms) each time."""
    headers = dict(headers or {})
    content = b""
    if method == "POST" and data is not None:  # aiohttp sends no body for json=None
        content = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    request = httpx.Request(method, url, headers=headers, content=content)
    response = await httpx.ASGITransport(app=app).handle_async_request(request)
    await response.aread()
    return response


def _decode(response: httpx.Response) -> Any:
    """As aiohttp's ``response.json(content_type=None)``: None for an empty body."""
    text = response.text.strip()
    return json.loads(text) if text else None


def _headers(trace_parent: str | None = None, trace_state: str | None = None,
             function_invocation_id: str | None = None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if trace_parent:
        headers["traceparent"] = trace_parent
    if trace_state:
        headers["tracestate"] = trace_state
    if function_invocation_id:
        headers["X-Azure-Functions-InvocationId"] = function_invocation_id
    return headers


async def _post(url: str, data: Any = None, trace_parent: str | None = None,
                trace_state: str | None = None,
                function_invocation_id: str | None = None) -> list[Any]:
    target = _app_for(url)
    if target is None:
        return await _originals["post_async_request"](
            url, data, trace_parent, trace_state, function_invocation_id)
    response = await _send(*target, "POST", url, data,
                           _headers(trace_parent, trace_state, function_invocation_id))
    return [response.status_code, _decode(response)]


async def _get(url: str, function_invocation_id: str | None = None) -> list[Any]:
    target = _app_for(url)
    if target is None:
        return await _originals["get_async_request"](url, function_invocation_id)
    response = await _send(*target, "GET", url,
                           headers=_headers(function_invocation_id=function_invocation_id))
    data = _decode(response)
    return [response.status_code, "" if data is None else data]


async def _delete(url: str, function_invocation_id: str | None = None) -> list[Any]:
    target = _app_for(url)
    if target is None:
        return await _originals["delete_async_request"](url, function_invocation_id)
    response = await _send(*target, "DELETE", url,
                           headers=_headers(function_invocation_id=function_invocation_id))
    return [response.status_code, _decode(response)]


def install_inprocess_transport() -> None:
    """Patch the SDK client module once (idempotent). Clients created afterwards use it."""
    import azure.durable_functions  # noqa: F401  (loads the client module)

    module = sys.modules[_SDK_CLIENT_MODULE]
    with _routes_lock:
        if _originals:
            return
        for name, replacement in (
            ("post_async_request", _post),
            ("get_async_request", _get),
            ("delete_async_request", _delete),
        ):
            _originals[name] = getattr(module, name)
            setattr(module, name, replacement)


async def close_sdk_http_session() -> None:
    """Close the SDK's shared aiohttp session (it is bound to the event loop that made it)."""
    try:
        from azure.durable_functions.models.utils import http_utils
    except ImportError:  # pragma: no cover - other SDK versions
        return
    session = getattr(http_utils, "_client_session", None)
    if session is not None and not session.closed:
        await session.close()
    http_utils._client_session = None
