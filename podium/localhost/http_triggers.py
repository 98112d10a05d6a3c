"""HTTP trigger functions served at ``/<routePrefix>/<route>``, as the Functions host does.

* Route templates: literal segments (case-insensitive, as ASP.NET routing), ``{param}``,
  optional ``{param?}`` (last segments), catch-all ``{*rest}``, and the constraints ``int``,
  ``long``, ``bool``, ``alpha``, ``guid``, ``float``, ``double``, ``decimal``,
  ``datetime``, ``minlength(n)``, ``maxlength(n)``, ``length(n)``, ``min(n)``, ``max(n)``,
  ``regex(...)``. The default route is the function name. Literal routes win over templates.
* ``methods``: a route that matches with another method answers 405.
* ``authLevel``: ``anonymous``; ``function`` accepts the function key or the master key;
  ``admin`` only the master key; given as ``?code=`` or the ``x-functions-key`` header.
  A missing or wrong key answers 401.
* The function gets a real ``func.HttpRequest`` (method, url, headers, params, route_params,
  body) and, with ``@app.durable_client_input``, the client binding JSON (see ``client.py``).
* An unhandled exception answers 500 with a JSON body naming the invocation id; the stack
  trace goes to the host log only.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from podium.localhost.api import FunctionInfo
from podium.localhost.invocation import Invoker, binding_of

log = logging.getLogger("podium.localhost.http")

_CONSTRAINTS: dict[str, str] = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?i:true|false)",
    "alpha": r"[A-Za-z]+",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "float": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "datetime": r"\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+Z?)?",
}
_PARAM = re.compile(r"^\{(?P<star>\*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<cons>(?::[^}]+?)?)"
                    r"(?P<opt>\?)?\}$")


class RouteError(ValueError):
    """A route template that cannot be served; names the function."""


@dataclass
class CompiledRoute:
    template: str
    regex: re.Pattern[str]
    checks: list[tuple[str, Callable[[str], bool]]]
    specificity: tuple[int, int]  # (parameters, -literal segments): lower sorts first

    def match(self, path: str) -> dict[str, str] | None:
        m = self.regex.match(path)
        if not m:
            return None
        params = {k: v for k, v in m.groupdict().items() if v is not None}
        for name, check in self.checks:
            if name in params and not check(params[name]):
                return None
        return params


def _constraint(spec: str, name: str, template: str) -> tuple[str, Callable[[str], bool] | None]:
    """Regex fragment and extra check of one ``:constraint``."""
    m = re.fullmatch(r"(\w+)(?:\((.*)\))?", spec)
    if not m:
        raise RouteError(f"route {template!r}: bad constraint {spec!r} on {{{name}}}")
    kind, arg = m.group(1).lower(), m.group(2)
    if kind in _CONSTRAINTS:
        return _CONSTRAINTS[kind], None
    try:
        if kind == "minlength":
            n = int(arg or "")
            return r"[^/]+", lambda v: len(v) >= n
        if kind == "maxlength":
            n = int(arg or "")
            return r"[^/]+", lambda v: len(v) <= n
        if kind == "length":
            n = int(arg or "")
            return r"[^/]+", lambda v: len(v) == n
        if kind == "min":
            n = int(arg or "")
            return r"-?\d+", lambda v: int(v) >= n
        if kind == "max":
            n = int(arg or "")
            return r"-?\d+", lambda v: int(v) <= n
        if kind == "regex" and arg:
            inner = re.compile(arg)
            return r"[^/]+", lambda v: bool(inner.search(v))
    except (ValueError, re.error) as exc:
        raise RouteError(f"route {template!r}: bad constraint {spec!r}: {exc}") from None
    raise RouteError(f"route {template!r}: unsupported constraint {spec!r} on {{{name}}}")


def compile_route(template: str) -> CompiledRoute:
    segments = [s for s in template.strip("/").split("/") if s != ""]
    pattern = ""
    checks: list[tuple[str, Callable[[str], bool]]] = []
    params = literals = 0
    for i, seg in enumerate(segments):
        m = _PARAM.match(seg)
        if not m:
            if "{" in seg or "}" in seg:
                raise RouteError(f"route {template!r}: mixed literal/parameter segment {seg!r} "
                                 "is not supported by the local host")
            pattern += "/" + re.escape(seg)
            literals += 1
            continue
        params += 1
        name = m.group("name")
        fragment = r"[^/]+"
        for spec in [c for c in m.group("cons").split(":") if c]:
            fragment, check = _constraint(spec, name, template)
            if check:
                checks.append((name, check))
        if m.group("star"):
            if i != len(segments) - 1:
                raise RouteError(f"route {template!r}: a catch-all must be the last segment")
            pattern += f"(?:/(?P<{name}>.*))?"
        elif m.group("opt"):
            pattern += f"(?:/(?P<{name}>{fragment}))?"
        else:
            pattern += f"/(?P<{name}>{fragment})"
    regex = re.compile(f"^{pattern}/?$", re.IGNORECASE)
    return CompiledRoute(template, regex, checks, (params, -literals))


@dataclass
class HttpFunction:
    info: FunctionInfo
    route: CompiledRoute
    methods: frozenset[str] | None  # None: any
    auth_level: str  # anonymous | function | admin
    trigger_name: str
    client_name: str | None


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def http_functions(functions: list[FunctionInfo]) -> list[HttpFunction]:
    """Compile the HTTP triggers of an app; most specific routes first."""
    out = []
    for info in functions:
        if info.trigger_type != "httpTrigger":
            continue
        trig = info.trigger_binding
        route = trig.get("route") or info.name
        methods = trig.get("methods")
        client = binding_of(info, "durableClient")
        try:
            compiled = compile_route(route)
        except RouteError as exc:
            raise RouteError(f"function {info.name!r}: {exc}") from None
        out.append(HttpFunction(
            info=info,
            route=compiled,
            methods=frozenset(str(_plain(m)).upper() for m in methods) if methods else None,
            auth_level=str(_plain(trig.get("authLevel") or "function")).lower(),
            trigger_name=trig.get("name", "req"),
            client_name=client["name"] if client else None,
        ))
    out.sort(key=lambda f: f.route.specificity)
    return out


def key_of(request: Request) -> str | None:
    return request.query_params.get("code") or request.headers.get("x-functions-key")


def key_matches(given: str | None, *accepted: str) -> bool:
    """Constant-time comparison against every accepted key."""
    if not given:
        return False
    ok = False
    for key in accepted:
        if key and hmac.compare_digest(given.encode(), key.encode()):
            ok = True
    return ok


class HttpTriggers:
    """Dispatches ``/<prefix>/...`` requests to the app's HTTP trigger functions."""

    def __init__(
        self,
        functions: list[FunctionInfo],
        invoker: Invoker,
        function_key: str,
        master_key: str,
        client_binding: Callable[[Request], str],
        route_prefix: str = "api",
    ) -> None:
        self.functions = http_functions(functions)
        self.invoker = invoker
        self.function_key = function_key
        self.master_key = master_key
        self.client_binding = client_binding
        self.route_prefix = route_prefix.strip("/")

    def urls(self, base_url: str) -> list[tuple[str, str, str]]:
        """``(function name, methods, url)`` for the start banner."""
        out = []
        for f in self.functions:
            prefix = f"/{self.route_prefix}" if self.route_prefix else ""
            methods = ",".join(sorted(f.methods)) if f.methods else "ALL"
            out.append((f.info.name, methods,
                        f"{base_url.rstrip('/')}{prefix}/{f.route.template.strip('/')}"))
        return out

    async def __call__(self, request: Request) -> Response:
        path = request.url.path
        prefix = f"/{self.route_prefix}" if self.route_prefix else ""
        if prefix and not (path == prefix or path.startswith(prefix + "/")):
            return _error(404, "NotFound", f"no function serves {path}")
        sub = path[len(prefix):] or "/"
        method_mismatch = False
        for fn in self.functions:
            params = fn.route.match(sub)
            if params is None:
                continue
            if fn.methods is not None and request.method.upper() not in fn.methods:
                method_mismatch = True
                continue
            return await self._invoke(fn, request, params)
        if method_mismatch:
            return _error(405, "MethodNotAllowed", f"{request.method} is not allowed on {path}")
        return _error(404, "NotFound", f"no function serves {path}")

    def _authorized(self, fn: HttpFunction, request: Request) -> bool:
        if fn.auth_level == "anonymous":
            return True
        if fn.auth_level == "admin":
            return key_matches(key_of(request), self.master_key)
        return key_matches(key_of(request), self.function_key, self.master_key)

    async def _invoke(self, fn: HttpFunction, request: Request, params: dict[str, str]) -> Response:
        if not self._authorized(fn, request):
            return _error(401, "Unauthorized",
                          f"function {fn.info.name!r} needs a valid key ({fn.auth_level} level) "
                          "in ?code= or the x-functions-key header")
        body = await request.body()
        headers = {k: v for k, v in request.headers.items()}
        req = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=headers,
            params=dict(request.query_params),
            route_params=params,
            body=body,
        )
        kwargs: dict[str, Any] = {fn.trigger_name: req}
        if fn.client_name:
            kwargs[fn.client_name] = self.client_binding(request)
        invocation_id = "-"
        try:
            result, invocation_id = await self.invoker.invoke(fn.info, kwargs)
        except Exception:
            error_id = str(uuid.uuid4())
            log.exception("Function %r failed (error id %s)", fn.info.name, error_id)
            return _error(500, "InternalServerError",
                          f"function {fn.info.name!r} failed; see the host log "
                          f"(error id {error_id})")
        return to_response(result)


def to_response(result: Any) -> Response:
    """Translate what an HTTP function returned into an ASGI response."""
    if isinstance(result, func.HttpResponse):
        headers = dict(result.headers)
        media = result.mimetype
        ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
        if ctype is None and media:
            charset = result.charset
            headers["Content-Type"] = f"{media}; charset={charset}" if charset else media
        return Response(content=result.get_body(), status_code=result.status_code,
                        headers=headers)
    if result is None:
        return Response(status_code=204)
    if isinstance(result, bytes):
        return Response(content=result, status_code=200,
                        media_type="application/octet-stream")
    if isinstance(result, str):
        return Response(content=result, status_code=200, media_type="text/plain")
    return Response(content=json.dumps(result), status_code=200, media_type="application/json")


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": kind, "message": message}, status_code=status)
