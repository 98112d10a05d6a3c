"""Pure decisions of one flow run, shared by the graph-runner orchestrator and its tests.

The orchestrator (``orchestrators/flow_runner.py``) only yields Durable tasks; what to do with a
finished agent task, a human answer or an escalation is decided here, on an ExecutionGraph,
with timestamps passed in. Everything returns plain JSON-able data so it can travel through
orchestration history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from podium.domain import ExecutionGraph, OrchestrationTask

# Outcome statuses a task sub-orchestration returns.
COMPLETED = "Completed"
SKIPPED = "Skipped"

ESCALATION_OPTIONS = ["Retry", "Skip", "Abort"]
ESCALATION_ROLE = "Admin"


@dataclass
class Step:
    """What the runner must do after applying an outcome."""

    transitions: list[dict[str, Any]] = field(default_factory=list)
    escalate: dict[str, Any] | None = None  # a ManualInterventionRequired human task to run
    abort_reason: str | None = None
    retry_task: str | None = None


def apply_agent_outcome(
    graph: ExecutionGraph, task_id: str, outcome: dict[str, Any], at: str
) -> Step:
    """Apply the result of an ``agent_task`` sub-orchestration to the graph."""
    step = Step()
    status = outcome.get("status")
    if status == COMPLETED:
        step.transitions.append(
            graph.mark_completed(task_id, at=at, outputs=outcome.get("outputs") or {}).to_dict()
        )
        return step
    error = {"code": outcome.get("errorCode", "AgentFailed"), "message": outcome.get("reason", "")}
    if outcome.get("stalled"):
        step.transitions.append(
            graph.mark_stalled(task_id, at=at, reason=error["message"]).to_dict()
        )
    step.transitions.append(graph.mark_failed(task_id, at=at, error=error).to_dict())
    if status == SKIPPED and graph.task(task_id).optional:
        step.transitions.append(
            graph.mark_skipped(task_id, at=at, reason=outcome.get("reason")).to_dict()
        )
        return step
    if outcome.get("action") == "Abort":
        step.abort_reason = f"task {task_id} failed: {error['message']} (policy: abort)"
        return step
    step.escalate = escalation_spec(graph.task(task_id), error["message"])
    return step


def apply_human_outcome(
    graph: ExecutionGraph, task_id: str, outcome: dict[str, Any], at: str
) -> Step:
    """Apply a person's answer (or the checkpoint's timeout fallback) to the graph."""
    step = Step()
    response = outcome.get("response", "")
    fallback = (outcome.get("fallbackAction") or "continue").lower()
    by = outcome.get("submittedBy") or "timeout-policy"
    outputs = {k: outcome.get(k) for k in ("response", "data", "submittedBy", "respondedAt")}
    if response in ("Approve", "Approved", "Edit", "Edited") or (
        response == "TimedOut" and fallback == "continue"
    ):
        step.transitions.append(graph.mark_completed(task_id, at=at, outputs=outputs).to_dict())
        return step
    if response == "TimedOut" and fallback == "skip":
        step.transitions.append(graph.mark_failed(task_id, at=at, error="no answer").to_dict())
        step.transitions.append(
            graph.mark_skipped(
                task_id, at=at, reason="human task timed out", override_by=by
            ).to_dict()
        )
        return step
    reason = (
        f"{graph.task(task_id).type} rejected by {by}"
        if response.startswith("Reject")
        else f"{graph.task(task_id).type}: no answer in time (fallback: abort)"
    )
    step.transitions.append(graph.mark_failed(task_id, at=at, error=reason).to_dict())
    step.abort_reason = reason
    return step


def apply_escalation_answer(
    graph: ExecutionGraph, task_id: str, outcome: dict[str, Any], at: str
) -> Step:
    """Retry / Skip / Abort chosen by a person for a failed task (ManualInterventionRequired)."""
    step = Step()
    response = outcome.get("response", "")
    data = outcome.get("data") or {}
    choice = data.get("action") if response == "Edit" and isinstance(data, dict) else response
    by = outcome.get("submittedBy") or "escalation-policy"
    if choice in ("Retry", "Approve"):
        step.transitions.append(graph.mark_retry(task_id, at=at).to_dict())
        step.retry_task = task_id
    elif choice == "Skip":
        step.transitions.append(
            graph.mark_skipped(
                task_id, at=at, reason="skipped by a person", override_by=by
            ).to_dict()
        )
    else:
        step.abort_reason = f"task {task_id}: {choice or 'no answer'} by {by}"
    return step


def escalation_spec(task: OrchestrationTask, reason: str) -> dict[str, Any]:
    """The human task a failed required task escalates to."""
    return {
        "title": f"{task.type} failed: retry, skip or abort?",
        "description": reason,
        "options": ESCALATION_OPTIONS,
        "requiredRole": ESCALATION_ROLE,
        "fallbackAction": "abort",
        "kind": "ManualInterventionRequired",
    }
