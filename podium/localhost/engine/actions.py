"""Pure helpers about the SDK's actions and the engine's per-execution bookkeeping.

Signatures (type and name of an action, recursively for ``task_all`` / ``task_any``) are what
the non-determinism check compares; sequence numbers are handed out depth-first over the
atomic actions that take one, exactly as the SDK numbers its tasks.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from podium.localhost.api import RuntimeStatus
from podium.localhost.engine import history as h
from podium.localhost.engine.model import InstanceRecord

SEQ_ACTIONS = {
    h.CALL_ACTIVITY,
    h.CALL_ACTIVITY_WITH_RETRY,
    h.CALL_SUB_ORCHESTRATOR,
    h.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
    h.CREATE_TIMER,
    h.CALL_ENTITY,
    h.SIGNAL_ENTITY,
    h.CALL_HTTP,
}
COMPOUND_ACTIONS = {h.WHEN_ANY, h.WHEN_ALL}


def fresh_state() -> dict[str, Any]:
    """Bookkeeping of one execution (kept in the instance record's ``state``)."""
    return {
        "seq": 0,  # next sequence number (EventId) to hand out
        "sigs": [],  # signature of every top-level action applied, for non-determinism checks
        "seqs": [],  # sequence numbers each applied action consumed (depth-first)
        "retries": {},  # str(seq of current attempt) -> retry bookkeeping
        "retry_timers": {},  # str(timer seq) -> str(seq of the failed attempt)
        "timers": {},  # str(timer seq) -> timer id, for timers not fired yet
        "wake": None,  # seqs of a task_all of activities still running
        "ext": [],  # external events delivered in this execution: [name, input]
        "held": [],  # external events no wait asked for yet, oldest first: [name, input]
        "last_ts": None,
    }


def signature(action: dict[str, Any]) -> list[Any]:
    kind = action.get("actionType")
    if kind in COMPOUND_ACTIONS:
        return [kind, [signature(a) for a in action.get("compoundActions") or []]]
    if kind in (h.CALL_ENTITY, h.SIGNAL_ENTITY):
        return [kind, f"{action.get('instanceId')}:{action.get('operation')}"]
    if kind == h.WAIT_FOR_EXTERNAL_EVENT:
        return [kind, action.get("externalEventName")]
    return [kind, action.get("functionName")]


def describe(sig: list[Any]) -> str:
    kind, name = sig
    label = h.ACTION_NAMES.get(kind, f"action type {kind}")
    if kind in COMPOUND_ACTIONS:
        return f"{label}[{', '.join(describe(s) for s in name)}]"
    return f"{label} '{name}'" if name else label


def atomic(action: dict[str, Any]) -> list[dict[str, Any]]:
    """Depth-first atomic actions of a (possibly compound) action."""
    if action.get("actionType") in COMPOUND_ACTIONS:
        out: list[dict[str, Any]] = []
        for child in action.get("compoundActions") or []:
            out.extend(atomic(child))
        return out
    return [action]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# The execution a result message is addressed to (activity and sub-orchestration results,
# timers, entity responses): messages for an execution that continued as new are dropped.
PARENT_EXECUTION = "PodiumParentExecution"


def has_timer(sig: list[Any]) -> bool:
    kind, name = sig
    if kind in COMPOUND_ACTIONS:
        return any(has_timer(child) for child in name)
    return bool(kind == h.CREATE_TIMER)


def wait_names(sig: list[Any]) -> list[str]:
    kind, name = sig
    if kind in COMPOUND_ACTIONS:
        return [n for child in name for n in wait_names(child)]
    return [name] if kind == h.WAIT_FOR_EXTERNAL_EVENT else []


def retry_of(a: dict[str, Any], kind: str) -> dict[str, Any]:
    options = a.get("retryOptions") or {}
    return {
        "kind": kind,
        "name": a["functionName"],
        "input": a.get("input"),
        "attempt": 1,
        "max": int(options.get("maxNumberOfAttempts", 1)),
        "interval_ms": int(options.get("firstRetryIntervalInMilliseconds", 0)),
    }


def new_instance(
    name: str,
    instance_id: str,
    input_: str | None,
    now: datetime,
    parent: dict[str, Any] | None = None,
) -> InstanceRecord:
    return InstanceRecord(
        instance_id=instance_id,
        name=name,
        execution_id=uuid.uuid4().hex,
        status=RuntimeStatus.Pending,
        input=input_,
        created=now,
        updated=now,
        parent=parent,
        state=fresh_state(),
    )


def started_event(rec: InstanceRecord, now: datetime) -> dict[str, Any]:
    return h.event(
        h.EXECUTION_STARTED,
        now,
        Name=rec.name,
        Version="",
        Input=rec.input,
        OrchestrationInstance={"InstanceId": rec.instance_id, "ExecutionId": rec.execution_id},
    )
