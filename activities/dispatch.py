"""Agent dispatch: publish AgentTaskScheduled to the agent-tasks topic and record failures.

The message carries ``@vault:`` *references* only: a secret value never enters an event. The
agent resolves a reference it needs at the last moment through its tenant-scoped resolver.
"""

from __future__ import annotations

from typing import Any

from activities import bp
from activities._runtime import adapters, audit, metrics, publish, workspace
from podium import topology
from podium.coordination.ids import stable_uuid
from podium.domain import DEFAULT_TIMEOUTS


@bp.activity_trigger(input_name="job", activity="dispatch_agent_task")
def dispatch_agent_task(job: dict[str, Any]) -> dict[str, Any]:
    task = job["task"]
    agent, attempt = job["agentId"], job["attempt"]
    dispatch_id = job["taskInstanceId"]
    record = adapters().projects.get(job["tenantId"], job["projectId"]) or {}
    envelope = {
        "eventType": "AgentTaskScheduled",
        "eventId": stable_uuid(dispatch_id, "scheduled", agent, attempt),
        "traceId": job["traceId"],
        "tenantId": job["tenantId"],
        "projectId": job["projectId"],
        "source": job["flow"],
        "origin": f"{job['flow']}:{job['phase']}:{task['taskId']}",
        "timestamp": job["at"],
        "payload": {
            "taskId": dispatch_id,
            "graphTaskId": task["taskId"],
            "agentId": agent,
            "taskType": task["type"],
            "inputs": _inputs(task, record),
            "upstream": job.get("upstream") or {},
            "templates": task.get("templates") or [],
            "phase": job["phase"],
            "attempt": attempt,
            "timeoutSec": task.get("timeoutSec")
            or (job.get("defaults") or {}).get("timeoutSec")
            or DEFAULT_TIMEOUTS.task_sec,
            "instanceId": dispatch_id,
            "flow": job["flow"],
            "flowInstanceId": job["flowInstanceId"],
            "flowId": job["flowInstanceId"],
            "config": _config(record),
            "workspace": workspace(job["tenantId"], job["projectId"]),
        },
    }
    publish(envelope, topology.AGENT_TASKS_TOPIC, {topology.PROP_AGENT_ID: agent})
    audit(
        job,
        "AgentTaskScheduled",
        f"{task['type']} → {agent} (attempt {attempt})",
        at=job["at"],
        key=(agent, attempt),
        taskId=task["taskId"],
        agentId=agent,
        attempt=attempt,
        flowInstanceId=job["flowInstanceId"],
    )
    if attempt > 1:
        metrics().agent_task_retried(agent, task["type"])
    return {"eventId": envelope["eventId"]}


def _inputs(task: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The task's inputs, plus the project request's ``_fault`` block (docs/agents.md: "a flow
    passes the project's ``_fault`` block into a task's inputs"; the worker applies it only to
    the agents / task types it names and strips it before the handler runs). A task's own
    ``inputs._fault`` wins."""
    inputs = dict(task.get("inputs") or {})
    fault = (record.get("request") or {}).get("_fault")
    if fault is not None and "_fault" not in inputs:
        inputs["_fault"] = fault
    return inputs


def _config(record: dict[str, Any]) -> dict[str, Any]:
    """The project's configuration for the agent: variables and ``@vault:`` references only
    (never resolved values: those stay inside the agent's own resolver)."""
    config = (record.get("request") or {}).get("config") or {}
    return {
        "env": config.get("env", "dev"),
        "secrets": dict(config.get("secrets") or {}),
        "variables": dict(config.get("variables") or {}),
    }


@bp.activity_trigger(input_name="job", activity="record_agent_failure")
def record_agent_failure(job: dict[str, Any]) -> dict[str, Any]:
    """Audit an attempt that did not succeed and the decision taken about it."""
    decision = job.get("decision") or {}
    audit(
        job,
        _audit_type(job["kind"]),
        f"{job['taskType']} on {job['agentId']}: {job['reason']} → {decision.get('action')}",
        at=job["at"],
        key=(job["agentId"], job["attempt"]),
        taskId=job["taskId"],
        agentId=job["agentId"],
        attempt=job["attempt"],
        errorCode=job["errorCode"],
        decision=decision,
    )
    m = metrics()
    if job["kind"] in ("not_acknowledged", "stalled"):
        m.task_timed_out(job["agentId"], job["taskType"])
        m.stalled_task_detected(job["agentId"], job["taskType"])
    else:
        m.agent_task_completed(job["agentId"], job["taskType"], 0.0, False)
    for event in job.get("events", []):
        publish(event)
    return {"recorded": True}


def _audit_type(kind: str) -> str:
    return {"not_acknowledged": "AgentNotAcknowledged", "stalled": "TaskStalled"}.get(
        kind, "AgentTaskFailed"
    )
