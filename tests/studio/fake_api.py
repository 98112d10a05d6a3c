"""Test scaffolding: a real HTTP server (uvicorn, loopback, random port) serving

* Studio through the real blueprint functions (``podium.studio.blueprint.bp``) via a small
  Azure Functions HTTP adapter, and
* a stand-in of the JSON API Studio calls, from hand-written fixtures
  (``fixtures/studio_fixture.json``), with the same shapes and status codes as the contract in
  ``docs/studio.md``. Tests mutate :class:`FakeApi` state to simulate a run progressing.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FIXTURE = Path(__file__).with_name("fixtures") / "studio_fixture.json"


def _phase(value: str | None) -> str:
    value = value or ""
    return value[:-5] if value.endswith("Phase") else value


class FakeApi:
    """In-memory project state behind the JSON API; thread-safe enough for one browser."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.state: dict[str, Any] = json.loads(FIXTURE.read_text())
            self.server_roles: list[str] | None = None  # roles the *server* grants (403 tests)
            self.require_tenant = False  # like the app without PODIUM_TENANTS
            self.posts: list[dict[str, Any]] = []
            self.requests: list[str] = []

    # -- helpers tests use ------------------------------------------------------------------
    def project(self, project_id: str) -> dict[str, Any]:
        return self.state["details"][project_id]

    def node(self, project_id: str, task_id: str) -> dict[str, Any]:
        for graph in self.project(project_id)["graphs"]:
            for node in graph["nodes"]:
                if node["taskId"] == task_id:
                    return node
        raise KeyError(task_id)

    def set_node(self, project_id: str, task_id: str, **fields: Any) -> None:
        with self.lock:
            self.node(project_id, task_id).update(fields)

    def advance_phase(self, project_id: str) -> str:
        with self.lock:
            detail = self.project(project_id)
            timeline = detail["phaseTimeline"]
            i = next(k for k, p in enumerate(timeline) if p["state"] == "current")
            timeline[i]["state"] = "done"
            timeline[i + 1]["state"] = "current"
            timeline[i + 1]["enteredAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            detail["phase"] = timeline[i + 1]["phase"]
            for summary in self.state["projects"]:
                if summary["projectId"] == project_id:
                    summary["phase"] = detail["phase"]
            return detail["phase"]

    # -- API handlers -----------------------------------------------------------------------
    async def me(self, request: Request) -> Response:
        return JSONResponse(self.state["me"])

    async def projects(self, request: Request) -> Response:
        q = request.query_params
        if self.require_tenant and not q.get("tenantId"):
            return JSONResponse({"error": "tenantId is required (or set PODIUM_TENANTS)"}, 400)
        rows = [
            p
            for p in self.state["projects"]
            if (not q.get("tenantId") or p["tenantId"] == q["tenantId"])
            and (not q.get("phase") or _phase(p["phase"]) == _phase(q["phase"]))
            and (not q.get("status") or p["status"] == q["status"])
        ]
        return JSONResponse({"projects": copy.deepcopy(rows)})

    async def project_detail(self, request: Request) -> Response:
        detail = self.state["details"].get(request.path_params["project_id"])
        if detail is None:
            return JSONResponse({"error": "project not found"}, status_code=404)
        with self.lock:
            return JSONResponse(copy.deepcopy(detail))

    async def audit(self, request: Request) -> Response:
        pid = request.path_params["project_id"]
        if pid not in self.state["details"]:
            return JSONResponse({"error": "project not found"}, status_code=404)
        q = request.query_params
        records = [
            r
            for r in self.state["audit"].get(pid, [])
            if all(
                not q.get(k) or r.get(k) == q[k] for k in ("traceId", "taskId", "agentId", "type")
            )
        ]
        return JSONResponse({"records": copy.deepcopy(records)})

    async def answer(self, request: Request) -> Response:
        pid, tid = request.path_params["project_id"], request.path_params["task_id"]
        body = await request.json()
        with self.lock:
            self.posts.append({"projectId": pid, "taskId": tid, **body})
            detail = self.state["details"].get(pid)
            if detail is None:
                return JSONResponse({"error": "project not found"}, status_code=404)
            task = next((t for t in detail["humanTasks"] if t["taskId"] == tid), None)
            if task is None:
                return JSONResponse({"error": "human task not found"}, status_code=404)
            me = self.state["me"]
            roles = self.server_roles if self.server_roles is not None else me["roles"]
            if task["requiredRole"] not in roles:
                return JSONResponse(
                    {"error": f"{me['userId']} lacks role {task['requiredRole']}"}, status_code=403
                )
            if task["status"] != "Pending" or detail.get("locked"):
                return JSONResponse({"error": "human task already answered"}, status_code=409)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            task["status"] = "Answered"
            task["response"] = {
                "response": body["response"],
                "data": body.get("data", {}),
                "submittedBy": me["userId"],
                "timestamp": now,
            }
            try:
                node = self.node(pid, tid)
                node["status"] = "Completed" if body["response"] != "Reject" else "Failed"
                node["completedAt"] = now
            except KeyError:
                pass
            self.state["audit"].setdefault(pid, []).append(
                {
                    "type": "ManualApproval",
                    "actor": me["userId"],
                    "action": f"{body['response']} {task['title']}",
                    "phase": detail["phase"],
                    "timestamp": now,
                    "traceId": detail["traceId"],
                    "taskId": tid,
                    "agentId": None,
                    "details": {"response": body["response"]},
                }
            )
        return JSONResponse({"ok": True})

    async def action(self, request: Request) -> Response:
        """``mark-phase-complete``: Admins only (like the app's phase-override policy)."""
        pid, action = request.path_params["project_id"], request.path_params["action"]
        if action != "mark-phase-complete":
            return JSONResponse({"error": f"unknown action {action!r}"}, status_code=404)
        if self.project(pid).get("locked"):
            return JSONResponse({"error": "project is delivered and read-only"}, status_code=409)
        if "Admin" not in self.state["me"]["roles"]:
            return JSONResponse({"error": "needs one of the roles ['Admin']"}, status_code=403)
        before = self.project(pid)["phase"]
        return JSONResponse({"ok": True, "from": before, "to": self.advance_phase(pid)})

    async def artifact(self, request: Request) -> Response:
        name = request.path_params.get("name", "export.zip")
        return Response(f"artifact {name}".encode(), media_type="application/octet-stream")


def blueprint_routes(blueprint: func.Blueprint, prefix: str = "/api") -> list[Route]:
    """Starlette routes that invoke a Functions blueprint's HTTP functions, the way the
    Functions host does (HttpRequest in, HttpResponse out)."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(blueprint)
    routes: list[Route] = []
    for function in app.get_functions():
        trigger = function.get_trigger().get_dict_repr()
        if trigger.get("type") != "httpTrigger":
            continue
        path = prefix + "/" + trigger["route"].replace("{*path}", "{path:path}")
        methods = [str(getattr(m, "value", m)) for m in trigger.get("methods") or ["GET"]]
        user_function = function.get_user_function()

        async def endpoint(request: Request, _fn=user_function) -> Response:
            req = func.HttpRequest(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers),
                params=dict(request.query_params),
                route_params={k: str(v) for k, v in request.path_params.items()},
                body=await request.body(),
            )
            result: func.HttpResponse = await run_in_threadpool(_fn, req)
            headers = dict(result.headers)
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = f"{result.mimetype}; charset={result.charset}"
            return Response(result.get_body(), status_code=result.status_code, headers=headers)

        routes.append(Route(path, endpoint, methods=methods, name=function.get_function_name()))
    return routes


def build_app(fake: FakeApi, blueprint: func.Blueprint) -> Starlette:
    routes = [
        Route("/api/me", fake.me),
        Route("/api/projects", fake.projects),
        Route("/api/projects/{project_id}", fake.project_detail),
        Route("/api/projects/{project_id}/audit", fake.audit),
        Route("/api/projects/{project_id}/human-tasks/{task_id}", fake.answer, methods=["POST"]),
        Route("/api/projects/{project_id}/artifacts/{name}", fake.artifact),
        Route("/api/projects/{project_id}/export", fake.artifact),
        Route("/api/projects/{project_id}/actions/{action}", fake.action, methods=["POST"]),
        *blueprint_routes(blueprint),
    ]
    return Starlette(routes=routes)


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 with a random free port in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fixture server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
