"""Agent dispatch: publish AgentTaskScheduled to the agent-tasks topic and record failures.

The message carries ``@vault:`` *references* only: a secret value never enters an event. The
references are resolved here first (``_bind_secrets``), so a task whose secret is not bound
for its tenant fails before any agent sees it.
"""

from __future__ import annotations

import time
from typing import Any

from activities import bp
from activities._runtime import adapters, audit, job_event, metrics, publish, workspace
from podium import topology
from podium.coordination.ids import stable_uuid
from podium.domain import DEFAULT_TIMEOUTS
from podium.domain.config import find_vault_refs
from podium.observability import traced


@bp.activity_trigger(input_name="job", activity="dispatch_agent_task")
@traced("activity dispatch_agent_task")
def dispatch_agent_task(job: dict[str, Any]) -> dict[str, Any]:
    task = job["task"]
    agent, attempt = job["agentId"], job["attempt"]
    dispatch_id = job["taskInstanceId"]
    record = adapters().projects.get(job["tenantId"], job["projectId"]) or {}
    payload = {
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
    }
    envelope = job_event(
        job,
        "AgentTaskScheduled",
        payload,
        event_id=stable_uuid(dispatch_id, "scheduled", agent, attempt),
        origin=f"{job['flow']}:{job['phase']}:{task['taskId']}",
    )
    bound = _bind_secrets(job, task, envelope["payload"])
    if bound:
        envelope["payload"]["boundSecrets"] = bound  # names only: values never leave here
    publish(envelope, topology.AGENT_TASKS_TOPIC, {topology.PROP_AGENT_ID: agent})
    audit(
        job,
        "AgentTaskScheduled",
        f"{task['type']} → {agent} (attempt {attempt})",
        at=job["at"],
        key=(dispatch_id, agent, attempt),  # a re-dispatch (escalation Retry) is a new row
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


class SecretBindingError(RuntimeError):
    """A ``@vault:`` reference of the task does not resolve for the tenant (missing, or the
    vault refused): the task must not be handed to an agent."""


SECRET_TASK_TYPES = frozenset({"InjectSecrets"})


def _bind_secrets(job: dict[str, Any], task: dict[str, Any], payload: dict[str, Any]) -> list:
    """Resolve the task's ``@vault:`` references at the last moment, inside this activity.

    The values prove the references are bound for this tenant (a missing secret stops the task
    here, as the seed's "Secret binding failed" asks) and are registered with the redactor so
    no log, event or audit row can carry them; they are never put in the message. Every access
    is audited by the resolver (name, tenant, agent, trace — never the value)."""
    refs = set(find_vault_refs(payload.get("inputs") or {}))
    if task["type"] in SECRET_TASK_TYPES:
        refs |= set(find_vault_refs(payload.get("config") or {}))
    resolver = adapters().secrets
    for name in sorted(refs):
        started = time.perf_counter()
        try:
            resolver.resolve(
                job["tenantId"],
                name,
                trace_id=job["traceId"],
                agent_id=job["agentId"],
                project_id=job["projectId"],
                phase=job.get("phase"),
            )
        except Exception as exc:  # noqa: BLE001 - re-raised with a message free of values
            raise SecretBindingError(
                f"SecretBindingFailed: @vault:{name} does not resolve for tenant "
                f"{job['tenantId']} ({type(exc).__name__})"
            ) from None
        metrics().secret_resolved(
            (time.perf_counter() - started) * 1000, source=adapters().settings.secrets_kind
        )
    return sorted(refs)


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
@traced("activity record_agent_failure")
def record_agent_failure(job: dict[str, Any]) -> dict[str, Any]:
    """Audit an attempt that did not succeed and the decision taken about it."""
    decision = job.get("decision") or {}
    audit(
        job,
        _audit_type(job["kind"]),
        f"{job['taskType']} on {job['agentId']}: {job['reason']} → {decision.get('action')}",
        at=job["at"],
        key=(job["taskInstanceId"], job["agentId"], job["attempt"]),
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
