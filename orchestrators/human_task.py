"""A human-in-the-loop checkpoint: ask, wait for an answer or the TTL, apply the fallback.

Input: ``{task: {taskId, type, human: spec}, taskInstanceId, flow, flowInstanceId, tenantId,
projectId, traceId, phase, defaults}``. An activity stores the pending task and emits
HumanTaskRequested; the answer comes back as the ``HumanTaskResponseReceived`` external event
(raised by the router after the HTTP endpoint checked the caller's role), raced with a durable
timer of ``responseTimeoutSec`` (default 2 h). On timeout the task is closed as TimedOut, the
escalation target is notified, and the checkpoint's ``fallbackAction`` (continue / skip /
abort) is returned for the flow runner to apply.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators import bp
from orchestrators._util import after, event_data, now_iso
from podium.coordination.ids import human_task_id
from podium.domain import DEFAULT_TIMEOUTS
from podium.domain.routing import external_event_name


@bp.orchestration_trigger(context_name="context", orchestration="human_task")
def human_task(context: df.DurableOrchestrationContext):
    job: dict[str, Any] = context.get_input()
    spec = job["task"].get("human") or {}
    timeout = spec.get("responseTimeoutSec") or DEFAULT_TIMEOUTS.human_sec
    expires = after(context, timeout)
    yield context.call_activity(
        "request_human_task",
        {
            **job,
            "requestedAt": now_iso(context),
            "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    )
    name = external_event_name("HumanTaskResponseReceived", human_task_id(job["taskInstanceId"]))
    answer = context.wait_for_external_event(name)
    timer = context.create_timer(expires)
    winner = yield context.task_any([answer, timer])
    if winner is answer:
        timer.cancel()
        event = event_data(answer.result) or {}
        payload = event.get("payload", event)
        return {
            "response": payload.get("response"),
            "data": payload.get("data"),
            "submittedBy": payload.get("submittedBy"),
            "respondedAt": event.get("timestamp") or now_iso(context),
            "fallbackAction": spec.get("fallbackAction", "continue"),
        }
    fallback = spec.get("fallbackAction", "continue")
    yield context.call_activity(
        "expire_human_task",
        {
            **job,
            "fallbackAction": fallback,
            "escalationTarget": spec.get("escalationTarget"),
            "at": now_iso(context),
        },
    )
    return {
        "response": "TimedOut",
        "fallbackAction": fallback,
        "submittedBy": None,
        "respondedAt": now_iso(context),
    }
