"""One agent task, end to end: throttle, dispatch, acknowledgement and result races, retries.

Input: ``{task, taskInstanceId, flow, flowInstanceId, tenantId, projectId, traceId, phase,
defaults, upstream}``. Each attempt takes a slot from the tenant-wide per-agent throttle entity,
publishes AgentTaskScheduled (activity), then waits for ``AgentTaskEvent`` external events
(raised by the agent-results trigger) against durable timers: first the acknowledgement
timeout (30 s), then the task timeout (15 min). No acknowledgement or no result counts as a
stall (TaskStalled); failures are classified and mapped by ``decide_failure`` to retry with
backoff (a durable timer), the fallback agent, skip (optional tasks) or escalation. Always
returns an outcome dict; never raises, so the flow runner sees every ending the same way.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators import bp
from orchestrators._util import after, envelope, event_data, now_iso, throttle
from podium.domain import (
    DEFAULT_RETRY_POLICY,
    DEFAULT_TIMEOUTS,
    FailureAction,
    RetryPolicy,
    classify_error,
    decide_failure,
)
from podium.domain.routing import external_event_name

THROTTLE_POLL_SEC = (0.2, 0.5, 1, 2, 5)  # a freed slot is found within this delay


@bp.orchestration_trigger(context_name="context", orchestration="agent_task")
def agent_task(context: df.DurableOrchestrationContext):
    job: dict[str, Any] = context.get_input()
    task = job["task"]
    defaults = job.get("defaults") or {}
    policy = RetryPolicy.model_validate(
        task.get("retryPolicy")
        or defaults.get("retryPolicy")
        or DEFAULT_RETRY_POLICY.model_dump(by_alias=True)
    )
    agent = task.get("agentId")
    fallback = task.get("fallbackAgent")
    attempts_on_agent, attempt, stalled_agents = 0, 0, []
    waiters: dict[str, Any] = {}
    while True:
        attempt += 1
        attempts_on_agent += 1
        yield from _acquire(context, job, agent, defaults)
        try:
            yield context.call_activity(
                "dispatch_agent_task",
                {**job, "agentId": agent, "attempt": attempt, "at": now_iso(context)},
            )
        except Exception as exc:  # noqa: BLE001 - e.g. SecretBindingFailed: never dispatched
            context.signal_entity(
                throttle(job["tenantId"], agent), "release", {"holder": context.instance_id}
            )
            return _dispatch_failed(agent, attempt, str(exc))
        result = yield from _await_agent(context, job, attempt, task, defaults, waiters)
        context.signal_entity(
            throttle(job["tenantId"], agent), "release", {"holder": context.instance_id}
        )
        if result["kind"] == "completed":
            return {
                "status": "Completed",
                "outputs": result["payload"].get("outputs") or {},
                "artifacts": result["payload"].get("artifacts") or [],
                "agentId": agent,
                "attempts": attempt,
                "stalledAgents": stalled_agents,
            }
        code, reason = _failure(result, agent, task, attempt)
        if result["kind"] in ("not_acknowledged", "stalled"):
            stalled_agents.append(agent)
        decision = decide_failure(
            error_class=classify_error(code, result.get("payload", {}).get("errorClass")),
            attempts=attempts_on_agent,
            retry_policy=policy,
            optional=bool(task.get("optional")),
            agent_id=agent,
            fallback_agent=fallback,
        )
        yield context.call_activity(
            "record_agent_failure",
            {
                **_ids(job),
                "agentId": agent,
                "attempt": attempt,
                "kind": result["kind"],
                "errorCode": code,
                "reason": reason,
                "decision": decision.model_dump(by_alias=True),
                "events": _failure_events(context, job, task, agent, attempt, result, code, reason),
                "at": now_iso(context),
            },
        )
        if decision.action is FailureAction.RETRY:
            yield context.create_timer(after(context, decision.delay_sec))
            continue
        if decision.action is FailureAction.FALLBACK_AGENT:
            agent, attempts_on_agent = decision.agent_id, 0
            continue
        status = "Skipped" if decision.action is FailureAction.SKIP_AND_CONTINUE else "Failed"
        return {
            "status": status,
            "reason": reason,
            "errorCode": code,
            "agentId": agent,
            "attempts": attempt,
            "action": decision.action.value,
            "stalled": result["kind"] in ("not_acknowledged", "stalled"),
            "stalledAgents": stalled_agents,
        }


def _dispatch_failed(agent: str, attempt: int, message: str) -> dict[str, Any]:
    """The dispatch activity failed (after the host's own retries): a policy matter, such as a
    secret that does not resolve for the tenant, so the task fails and the flow aborts."""
    reason = message.split("\n", 1)[0].strip() or "dispatch failed"
    code = reason.split(":", 1)[0] if ":" in reason else "DispatchFailed"
    return {
        "status": "Failed",
        "reason": reason,
        "errorCode": code,
        "agentId": agent,
        "attempts": attempt,
        "action": "Abort",
        "stalled": False,
        "stalledAgents": [],
    }


def _acquire(context, job: dict[str, Any], agent: str, defaults: dict[str, Any]):
    """Take a slot of the tenant-wide concurrency limit of ``agent`` (host.json limits are per
    worker only). Polls with durable timers while the agent is at its limit."""
    limit = (defaults.get("agentConcurrency") or {}).get(agent) or defaults.get("agentLimit", 8)
    for i in range(10_000):
        lease = (defaults.get("timeoutSec") or DEFAULT_TIMEOUTS.task_sec) * 2
        granted = yield context.call_entity(
            throttle(job["tenantId"], agent),
            "acquire",
            {
                "holder": context.instance_id,
                "limit": limit,
                "at": now_iso(context),
                "leaseSec": lease,
            },
        )
        if granted.get("granted"):
            return
        yield context.create_timer(after(context, THROTTLE_POLL_SEC[min(i, 4)]))


AGENT_EVENTS = ("AgentTaskAcknowledged", "AgentTaskCompleted", "AgentTaskFailed")


def _await_agent(
    context,
    job: dict[str, Any],
    attempt: int,
    task: dict[str, Any],
    defaults: dict[str, Any],
    waiters: dict[str, Any],
):
    """Race the agent's events against the acknowledgement, then the task timeout.

    Events are raised as ``<eventType>:<dispatch id>`` (the routing registry's convention).
    Waiters live in ``waiters`` across attempts and are reused until they fire, because an
    abandoned ``wait_for_external_event`` would swallow the next event of its name; an event of
    an earlier attempt is dropped and its waiter renewed."""
    ack_sec = defaults.get("ackTimeoutSec") or DEFAULT_TIMEOUTS.ack_sec
    task_sec = task.get("timeoutSec") or defaults.get("timeoutSec") or DEFAULT_TIMEOUTS.task_sec
    deadline, acked = after(context, ack_sec), False
    while True:
        for kind in AGENT_EVENTS:
            if kind not in waiters:
                name = external_event_name(kind, job["taskInstanceId"])
                waiters[kind] = context.wait_for_external_event(name)
        timer = context.create_timer(deadline)
        winner = yield context.task_any([*waiters.values(), timer])
        if winner is timer:
            return {"kind": "stalled" if acked else "not_acknowledged", "payload": {}}
        timer.cancel()
        kind = next(k for k, w in waiters.items() if w is winner)
        del waiters[kind]
        event = event_data(winner.result) or {}
        payload = event.get("payload") or {}
        if any(event.get(k) != job[k] for k in ("tenantId", "projectId", "traceId")):
            continue  # not this project's answer (forged or misrouted): never trust it
        if int(payload.get("attempt", attempt)) != attempt:
            continue  # a late answer to an earlier attempt
        if kind == "AgentTaskAcknowledged":
            if not acked:
                acked, deadline = True, after(context, task_sec)
            continue
        return {
            "kind": "completed" if kind == "AgentTaskCompleted" else "failed",
            "payload": payload,
        }


def _failure(result: dict[str, Any], agent: str, task: dict[str, Any], attempt: int):
    payload = result.get("payload") or {}
    if result["kind"] == "not_acknowledged":
        return "AgentNotAcknowledged", f"{agent} did not acknowledge attempt {attempt}"
    if result["kind"] == "stalled":
        return "AgentTimeout", f"{agent} gave no result for {task['type']} in time"
    return payload.get("errorCode") or "AgentFailed", payload.get("message") or "agent failed"


def _failure_events(context, job, task, agent, attempt, result, code, reason) -> list[dict]:
    run = {**job, "flow": job["flow"]}
    dispatch_id = job["taskInstanceId"]
    if result["kind"] == "not_acknowledged":
        return [
            envelope(
                context,
                run,
                "AgentNotAcknowledged",
                {"taskId": dispatch_id, "agentId": agent, "attempt": attempt},
                "nack",
                attempt,
            )
        ]
    if result["kind"] == "stalled":
        return [
            envelope(
                context,
                run,
                "TaskStalled",
                {
                    "taskId": dispatch_id,
                    "agentId": agent,
                    "stalledAfterSec": task.get("timeoutSec"),
                },
                "stall",
                attempt,
            )
        ]
    return [
        envelope(
            context,
            run,
            "OrchestrationTaskFailed",
            {"taskId": dispatch_id, "reason": reason, "attempts": attempt, "errorCode": code},
            "failed",
            attempt,
        )
    ]


def _ids(job: dict[str, Any]) -> dict[str, Any]:
    keys = ("flow", "flowInstanceId", "tenantId", "projectId", "traceId", "taskInstanceId", "phase")
    return {k: job.get(k) for k in keys} | {
        "taskId": job["task"]["taskId"],
        "taskType": job["task"]["type"],
    }
