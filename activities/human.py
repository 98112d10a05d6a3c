"""Human-in-the-loop activities: store the pending task and announce it; close it on timeout
(notify the escalation target, audit the fallback)."""

from __future__ import annotations

from typing import Any

from activities import bp
from activities._runtime import adapters, audit, job_event, log, metrics, publish
from podium.adapters.ports import AlreadyAnsweredError
from podium.coordination.ids import human_task_id, stable_uuid
from podium.observability import traced


@bp.activity_trigger(input_name="job", activity="request_human_task")
@traced("activity request_human_task")
def request_human_task(job: dict[str, Any]) -> dict[str, Any]:
    spec = job["task"].get("human") or {}
    task_id = human_task_id(job["taskInstanceId"])
    kind = spec.get("kind") or "HumanTaskRequested"
    record = {
        "tenantId": job["tenantId"],
        "projectId": job["projectId"],
        "taskId": task_id,
        "traceId": job["traceId"],
        "flow": job["flow"],
        "flowId": job["flowInstanceId"],
        "instanceId": job["taskInstanceId"],
        "graphTaskId": job["task"]["taskId"],
        "kind": kind,
        "title": spec.get("title", job["task"]["type"]),
        "description": spec.get("description", ""),
        "options": spec.get("options") or ["Approve", "Reject"],
        "requiredRole": spec.get("requiredRole") or "Architect",
        "fallbackAction": spec.get("fallbackAction", "continue"),
        "escalationTarget": spec.get("escalationTarget"),
        "requestedAt": job["requestedAt"],
        "expiresAt": job["expiresAt"],
        "phase": job.get("phase"),
        "status": "pending",
    }
    store = adapters().human_tasks
    if store.get(job["tenantId"], job["projectId"], task_id) is None:
        store.put(record)
    payload = {
        "taskId": task_id,
        "title": record["title"],
        "description": record["description"],
        "options": record["options"],
        "requiredRole": record["requiredRole"],
        "fallbackAction": record["fallbackAction"],
        "escalationTarget": record["escalationTarget"],
        "instanceId": job["taskInstanceId"],
        "flow": job["flow"],
    }
    if kind == "ManualInterventionRequired":
        payload["kind"] = kind
    publish(_event(job, "HumanTaskRequested", payload, task_id))
    audit(
        job,
        "HumanTaskRequested",
        f"{record['title']} (role {record['requiredRole']})",
        at=job["requestedAt"],
        key=task_id,
        taskId=job["task"]["taskId"],
        humanTaskId=task_id,
        requiredRole=record["requiredRole"],
    )
    metrics().human_task_requested(record["requiredRole"])
    return {"taskId": task_id}


@bp.activity_trigger(input_name="job", activity="expire_human_task")
@traced("activity expire_human_task")
def expire_human_task(job: dict[str, Any]) -> dict[str, Any]:
    task_id = human_task_id(job["taskInstanceId"])
    store = adapters().human_tasks
    try:
        store.answer(
            job["tenantId"],
            job["projectId"],
            task_id,
            {"response": "TimedOut", "fallbackAction": job["fallbackAction"]},
            answered_by="timeout-policy",
        )
    except AlreadyAnsweredError:
        log.info("human task %s answered just before its timeout; keeping the answer", task_id)
    target = job.get("escalationTarget")
    audit(
        job,
        "TimeoutWarning",
        f"no answer to {job['task']['type']} in time; fallback "
        f"{job['fallbackAction']}" + (f", escalated to {target}" if target else ""),
        at=job["at"],
        key=task_id,
        taskId=job["task"]["taskId"],
        humanTaskId=task_id,
        escalationTarget=target,
        fallbackAction=job["fallbackAction"],
    )
    if target:
        from activities.delivery import notify

        notify(
            job["tenantId"],
            {
                "type": "HumanTaskEscalated",
                "projectId": job["projectId"],
                "taskId": task_id,
                "target": target,
                "traceId": job["traceId"],
            },
        )
    return {"taskId": task_id}


def _event(job: dict[str, Any], event_type: str, payload: dict[str, Any], key: str) -> dict:
    return job_event(
        job,
        event_type,
        payload,
        event_id=stable_uuid(job["taskInstanceId"], event_type, key),
        timestamp=job.get("requestedAt") or job.get("at"),
    )
