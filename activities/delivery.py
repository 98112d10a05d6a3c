"""Finalization: delivery summary, ZIP export, ProjectDeliveryComplete, webhooks.

Called by ``apply_coordinator_decision`` when the coordinator reports the project delivered
(the finalization flow completed in DeliveryComplete; the project is now read-only).
Webhooks are configured per tenant in ``PODIUM_WEBHOOKS`` (JSON ``{"tenant": ["https://..."]}``);
a failing webhook is logged and audited, never fatal: delivery already happened.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from activities._runtime import adapters, audit, job_event, log, metrics, publish
from podium.coordination.ids import stable_uuid
from podium.runtime.project_view import all_pages, duration_ms

EXPORT_PATH = "delivery/export.zip"
SUMMARY_PATH = "delivery/summary.json"


def deliver(job: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    a = adapters()
    tenant, project = job["tenantId"], job["projectId"]
    summary = delivery_summary(tenant, project, at=job["at"])
    a.artifacts.put_bytes(
        tenant, project, SUMMARY_PATH, json.dumps(summary, indent=2).encode(), "application/json"
    )
    export = a.artifacts.zip_export(tenant, project, exclude={EXPORT_PATH})
    a.artifacts.put_bytes(tenant, project, EXPORT_PATH, export, "application/zip")
    artifacts = sorted(set(a.artifacts.list(tenant, project)) - {EXPORT_PATH})
    summary.update(artifacts=artifacts, export=EXPORT_PATH, exportBytes=len(export))
    a.deliveries.put({**summary, "deliveryId": project})
    publish(
        job_event(
            job,
            "ProjectDeliveryComplete",
            {"completedAt": job["at"], "deliveryArtifacts": artifacts[:200]},
            event_id=stable_uuid(project, "ProjectDeliveryComplete"),
        )
    )
    audit(
        job,
        "ProjectDeliveryComplete",
        f"delivered {len(artifacts)} artifacts; read-only",
        phase="DeliveryComplete",
        at=job["at"],
        artifacts=len(artifacts),
    )
    metrics().project_finished(
        delivered=True, duration_ms=summary.get("durationMs"), artifacts_count=len(artifacts)
    )
    notify(
        tenant,
        {
            "type": "ProjectDeliveryComplete",
            "projectId": project,
            "traceId": job["traceId"],
            "artifacts": len(artifacts),
            "completedAt": job["at"],
        },
    )
    return summary


def delivery_summary(tenant: str, project: str, *, at: str) -> dict[str, Any]:
    """Timeline of phases, flows with task counts, retries and durations."""
    a = adapters()
    flows = list(
        all_pages(lambda token: a.graphs.list_snapshots(tenant, project, continuation=token))
    )
    rows = list(
        all_pages(
            lambda token: a.audit.query(tenant, project, type="PhaseAdvanced", continuation=token)
        )
    )
    # Agent retries happen inside the agent_task sub-orchestration (the graph node keeps one
    # attempt per dispatch), so they are counted from the audit trail: every AgentTaskScheduled
    # after a task's first attempt is a retry.
    agent_retries: dict[str, int] = {}
    for row in all_pages(
        lambda token: a.audit.query(
            tenant, project, type="AgentTaskScheduled", continuation=token, limit=500
        )
    ):
        details = row.get("details") or {}
        if int(details.get("attempt") or 1) > 1:
            flow_id = details.get("flowInstanceId") or ""
            agent_retries[flow_id] = agent_retries.get(flow_id, 0) + 1
    project_rec = a.projects.get(tenant, project) or {}
    created = project_rec.get("createdAt")
    timeline = [
        {"phase": r["phase"], "enteredAt": r["timestamp"], "action": r["action"]} for r in rows
    ]
    flow_rows = []
    retries = 0
    for item in flows:
        snap = item["snapshot"]
        tasks = (snap.get("graph") or {}).get("nodes", [])
        task_retries = sum(max(int(t.get("attempts", 0)) - 1, 0) for t in tasks)
        task_retries += agent_retries.get(item["flowId"], 0)
        retries += task_retries
        flow_rows.append(
            {
                "flowId": item["flowId"],
                "flow": snap.get("flow"),
                "status": snap.get("status"),
                "tasks": len(tasks),
                "retries": task_retries,
                "startedAt": snap.get("createdAt"),
                "completedAt": snap.get("updatedAt"),
                "durationMs": duration_ms(snap.get("createdAt"), snap.get("updatedAt")),
            }
        )
    return {
        "tenantId": tenant,
        "projectId": project,
        "name": project_rec.get("name", project),
        "createdAt": created,
        "completedAt": at,
        "durationMs": duration_ms(created, at),
        "phases": timeline,
        "flows": flow_rows,
        "totalTasks": sum(f["tasks"] for f in flow_rows),
        "retries": retries,
    }


def notify(tenant: str, message: dict[str, Any]) -> int:
    """POST ``message`` to the tenant's webhooks; returns how many accepted it."""
    hooks = adapters().settings.webhooks.get(tenant, [])
    ok = 0
    for url in hooks:
        try:
            httpx.post(url, json=message, timeout=5.0).raise_for_status()
            ok += 1
        except httpx.HTTPError as exc:
            log.warning("webhook %s failed: %s", url, exc)
    return ok
