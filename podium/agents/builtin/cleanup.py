"""cleanup-agent: the delivery manifest, workspace cleanup and the delivery summary.

Why the manifest carries hashes: the delivered folder is exported (ZIP) and may be copied
around; ``delivery/artifacts.json`` lets anyone check that what they hold is what was built.
Task outputs stay small (a message must fit a Service Bus message), so large lists go to
files and outputs carry counts plus the first entries.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from podium.agents.builtin.common import (
    IDENTITY_SERVICE,
    PLAN_SERVICES,
    PLAN_VISION,
)
from podium.agents.context import AgentContext
from podium.agents.messages import AgentTask
from podium.agents.worker import AgentWorker

MANIFEST = "delivery/artifacts.json"
CACHE_DIRS = {"__pycache__", ".pytest_cache", ".podium-locks", ".ruff_cache", ".mypy_cache"}
MAX_LISTED = 200


def _is_cache(path: Path) -> bool:
    name = path.name
    return (name in CACHE_DIRS or name == ".coverage" or name.startswith(".coverage.")
            or name.endswith((".pyc", ".tmp")))


def delivered_files(root: Path) -> list[Path]:
    """Every delivered file under ``root``: no caches, no temp files, no delivery manifest."""
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(_is_cache(Path(part)) for part in relative.parts):
            continue
        if path.is_file() and relative.as_posix() != MANIFEST:
            files.append(path)
    return files


def collect_artifacts(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    entries = []
    for path in delivered_files(ctx.workspace):
        data = path.read_bytes()
        entries.append({"path": ctx.relative(path), "bytes": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()})
    ctx.write_json(MANIFEST, {"projectId": task.project_id, "count": len(entries),
                              "artifacts": entries})
    paths = [e["path"] for e in entries]
    return {"count": len(entries), "manifest": MANIFEST, "artifacts": paths[:MAX_LISTED],
            "truncated": len(paths) > MAX_LISTED,
            "totalBytes": sum(e["bytes"] for e in entries)}


def cleanup_workspace(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    removed, freed = 0, 0
    for path in sorted(ctx.workspace.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if not path.exists() or not _is_cache(path):
            continue
        if path.is_dir():
            freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            shutil.rmtree(path)
        else:
            freed += path.stat().st_size
            path.unlink()
        removed += 1
    tmp = ctx.path("tmp")
    if tmp.is_dir():
        freed += sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
        shutil.rmtree(tmp)
        removed += 1
    return {"removed": removed, "freedBytes": freed}


def _read(ctx: AgentContext, relative: str) -> Any:
    return ctx.read_json(relative) if ctx.exists(relative) else None


def delivery_summary(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    plan = _read(ctx, PLAN_SERVICES) or {"services": []}
    vision = _read(ctx, PLAN_VISION) or {}
    services = []
    for service in plan["services"]:
        name = service["name"]
        qa = _read(ctx, f"qa/{name}/results.json") or {}
        run = _read(ctx, f"pipelines/{name}/run.json") or {}
        services.append({
            "name": name, "path": f"services/{name}",
            "entities": [e["name"] for e in service["entityModel"]],
            "requiresAuth": service["requiresAuth"],
            "exposedPublicly": service["exposedPublicly"],
            "tests": {k: qa.get(k) for k in ("total", "passed", "failed", "errors")},
            "coverage": qa.get("coverage"), "qaPassed": qa.get("passedAll"),
            "pipelineRun": run.get("status"),
        })
    identity = _read(ctx, f"qa/{IDENTITY_SERVICE}/results.json")
    routes = (_read(ctx, "gateway/routes.json") or {}).get("routes", [])
    resources = (_read(ctx, "deploy/resources.json") or {}).get("resources", [])
    manifest = _read(ctx, MANIFEST) or {}
    summary = {
        "projectId": task.project_id, "tenantId": task.tenant_id,
        "systemName": vision.get("systemName"), "services": services,
        "identityService": ({"path": f"services/{IDENTITY_SERVICE}",
                             "tests": {k: identity.get(k) for k in ("total", "passed", "failed")},
                             "coverage": identity.get("coverage")} if identity else None),
        "gatewayRoutes": len(routes), "provisionedResources": len(resources),
        "artifacts": manifest.get("count"),
        "allTestsPassed": bool(services) and all(s["qaPassed"] for s in services),
    }
    ctx.write_json("delivery/summary.json", summary)
    ctx.write_text("delivery/summary.md", _markdown(summary))
    return {"services": len(services), "allTestsPassed": summary["allTestsPassed"],
            "summary": "delivery/summary.json"}


def _markdown(summary: dict[str, Any]) -> str:
    lines = [f"# Delivery of {summary['systemName'] or summary['projectId']}", "",
             "| service | entities | auth | public | tests passed | coverage % | pipeline |",
             "|---|---|---|---|---|---|---|"]
    for s in summary["services"]:
        tests = s["tests"]
        lines.append(f"| {s['name']} | {', '.join(s['entities'])} | {s['requiresAuth']} | "
                     f"{s['exposedPublicly']} | {tests['passed']}/{tests['total']} | "
                     f"{s['coverage']} | {s['pipelineRun']} |")
    lines += ["", f"Gateway routes: {summary['gatewayRoutes']}. "
                  f"Provisioned resources (simulated): {summary['provisionedResources']}. "
                  f"Artifacts: {summary['artifacts']}.", ""]
    return "\n".join(lines)


def register(workers: dict[str, AgentWorker]) -> None:
    cleanup = workers["cleanup-agent"]
    cleanup.add_handler("CollectDeliveryArtifacts", collect_artifacts)
    cleanup.add_handler("CleanupWorkspace", cleanup_workspace)
    cleanup.add_handler("GenerateDeliverySummary", delivery_summary)
