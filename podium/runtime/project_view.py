"""Read models for Studio and the CLI: a project's state assembled from the coordinator entity's
state and the stores (graph snapshots, human tasks, audit trail, delivery summary)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from podium.domain.phases import PHASE_ORDER, phase_cmp

PAGE = 500


def phase_timeline(coord: dict[str, Any]) -> list[dict[str, Any]]:
    """Nine phases with done / current / future, when each was entered, and its flows."""
    current = coord.get("phase", "Initialization")
    entered = {h["phase"]: h.get("enteredAt") for h in coord.get("phase_history", [])}
    flows: dict[str, list[dict[str, Any]]] = {}
    for rec in coord.get("flows", {}).values():
        flows.setdefault(rec["phase"], []).append(
            {
                "flowId": rec["instance_id"],
                "name": rec["flow"],
                "instanceId": rec["instance_id"],
                "key": rec.get("key", ""),
                "status": rec["status"],
            }
        )
    out = []
    for phase in PHASE_ORDER:
        cmp = phase_cmp(phase, current)
        state = "done" if cmp < 0 else "current" if cmp == 0 else "future"
        if state == "current" and coord.get("locked"):
            state = "done"
        out.append(
            {
                "phase": phase.value,
                "enteredAt": entered.get(phase.value),
                "state": state,
                "flows": sorted(flows.get(phase.value, []), key=lambda f: f["flowId"]),
            }
        )
    return out


def graph_views(adapters: Any, tenant: str, project: str) -> list[dict[str, Any]]:
    """Every flow's graph with node statuses, attempts and durations."""
    out = []
    for item in all_pages(
        lambda token: adapters.graphs.list_snapshots(tenant, project, continuation=token)
    ):
        snap = item["snapshot"]
        nodes = [_node(n) for n in (snap.get("graph") or {}).get("nodes", [])]
        out.append(
            {
                "flowId": item["flowId"],
                "name": snap.get("flow"),
                "instanceId": snap.get("instanceId", item["flowId"]),
                "key": snap.get("key", ""),
                "phase": snap.get("phase"),
                "status": snap.get("status", "Running"),
                "progress": snap.get("progress"),
                "updatedAt": snap.get("updatedAt"),
                "nodes": nodes,
            }
        )
    return out


def _node(n: dict[str, Any]) -> dict[str, Any]:
    human = n.get("human")
    return {
        "taskId": n["taskId"],
        "type": n.get("type"),
        "agentId": n.get("agentId"),
        "status": n.get("status", "Pending"),
        "attempts": n.get("attempts", 0),
        "dependsOn": n.get("dependsOn", []),
        "startedAt": n.get("startedAt"),
        "completedAt": n.get("completedAt"),
        "durationMs": duration_ms(n.get("startedAt"), n.get("completedAt")),
        "optional": bool(n.get("optional")),
        "inputs": n.get("inputs") or {},
        "outputs": n.get("outputs"),
        "error": n.get("error"),
        "human": (
            {"title": human.get("title"), "requiredRole": human.get("requiredRole")}
            if isinstance(human, dict)
            else None
        ),
    }


def duration_ms(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        s = datetime.fromisoformat(start.replace("Z", "+00:00"))
        e = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((e - s).total_seconds() * 1000, 1)


def audit_records(adapters: Any, tenant: str, project: str, **filters: Any) -> list[dict]:
    """The audit trail, filtered (at most about 5,000 rows: whole pages of ``PAGE``)."""
    out: list[dict] = []
    wanted = {k: v for k, v in filters.items() if v}
    for page in pages(
        lambda token: adapters.audit.query(
            tenant, project, continuation=token, limit=PAGE, **wanted
        )
    ):
        out.extend(page)
        if len(out) >= 5000:
            break
    return out


def pages(fetch: Callable[[str | None], tuple[list[Any], str | None]]) -> Iterator[list[Any]]:
    """Every page of a listing that answers ``(items, continuation)`` for a continuation."""
    token: str | None = None
    while True:
        page, token = fetch(token)
        yield page
        if not token:
            return


def all_pages(fetch: Callable[[str | None], tuple[list[Any], str | None]]) -> Iterator[Any]:
    """Every item of every page (see :func:`pages`)."""
    for page in pages(fetch):
        yield from page


def progress_of(graphs: list[dict[str, Any]]) -> dict[str, Any]:
    total = sum(len(g["nodes"]) for g in graphs)
    done = sum(1 for g in graphs for n in g["nodes"] if n["status"] in ("Completed", "Skipped"))
    running = [
        n["agentId"]
        for g in graphs
        for n in g["nodes"]
        if n["status"] == "InProgress" and n.get("agentId")
    ]
    return {
        "totalTasks": total,
        "completed": done,
        "runningAgents": sorted(set(running)),
        "inProgress": len(running),
    }


def project_state(
    adapters: Any,
    coord: dict[str, Any],
    record: dict[str, Any] | None,
    *,
    include_audit: bool = False,
) -> dict[str, Any]:
    tenant, project = (
        coord.get("tenant_id") or (record or {}).get("tenantId"),
        coord.get("project_id") or (record or {}).get("projectId"),
    )
    graphs = graph_views(adapters, tenant, project)
    delivery = adapters.deliveries.get(tenant, project)
    state = {
        "projectId": project,
        "tenantId": tenant,
        "name": (record or {}).get("name") or coord.get("name") or project,
        "phase": coord.get("phase", "Initialization"),
        "status": coord.get("status", "Pending"),
        "locked": bool(coord.get("locked")),
        "traceId": coord.get("trace_id") or (record or {}).get("traceId"),
        "blockedTasks": coord.get("blocked_tasks", 0),
        "upstream": coord.get("upstream") or (record or {}).get("upstream", []),
        "children": coord.get("children", []),
        "phaseTimeline": phase_timeline(coord),
        "graphs": graphs,
        "progress": progress_of(graphs),
        "humanTasks": adapters.human_tasks.list_pending(tenant, project),
        "delivery": _delivery_view(delivery, project),
    }
    if include_audit:
        state["audit"] = audit_records(adapters, tenant, project)
    return state


def _delivery_view(delivery: dict[str, Any] | None, project: str) -> dict[str, Any] | None:
    if not delivery:
        return None
    base = f"/api/projects/{project}/artifacts/"
    return {
        "completedAt": delivery.get("completedAt"),
        "artifacts": [{"name": a, "url": base + a} for a in delivery.get("artifacts", [])],
        "export": f"/api/projects/{project}/export",
        "summary": delivery,
    }
