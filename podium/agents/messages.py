"""Agent task and result messages, as plain dicts in the normalized envelope of the seed.

Why dicts and not the domain's pydantic contracts: the agent SDK must run as its own process
next to any transport, so it keeps its own small, strict parser with no dependency on the
orchestration core. The shapes are exactly those the orchestrators publish and consume:

    envelope: {eventType, eventId, traceId, tenantId, projectId, source, timestamp, payload,
               origin?, microserviceId?}

Result event ids are derived from (eventType, taskId, traceId, attempt), so a result that is
sent twice carries the same eventId and any event-id de-duplication downstream sees it as the
redelivery it is.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TASK_SCHEDULED = "AgentTaskScheduled"
TASK_ACKNOWLEDGED = "AgentTaskAcknowledged"
TASK_COMPLETED = "AgentTaskCompleted"
TASK_FAILED = "AgentTaskFailed"

ENVELOPE_KEYS = ("eventType", "eventId", "traceId", "tenantId", "projectId", "source",
                 "timestamp", "payload")
DEFAULT_TIMEOUT_SEC = 900.0
# When a task names no workspace: <root>/<tenantId>/<projectId>, root being this setting, else
# the local host's artifact store ($PODIUM_DATA_DIR/artifacts, PODIUM_DATA_DIR default .podium),
# which is where the local host keeps each project's files (activities._runtime.workspace).
WORKSPACE_ROOT_SETTING = "PODIUM_WORKSPACE_ROOT"
DATA_DIR_SETTING = "PODIUM_DATA_DIR"

# errorClass of a failure (podium.domain.policies.ErrorClass values). Permanent failures are
# Fatal except test verdicts, which the domain treats as partially recoverable (skip/escalate),
# and policy violations (tenant, secrets, workspace), which it never retries.
PARTIALLY_RECOVERABLE_CODES = frozenset({"TestFailed", "CoverageBelowThreshold"})
POLICY_VIOLATION_CODES = frozenset({"TenantViolation", "SecretInjectionBlocked",
                                    "WorkspaceViolation"})

# A namespace of our own, so result ids never collide with ids minted elsewhere.
_RESULT_NAMESPACE = uuid.UUID("4f1c2c3e-7a0b-4d8e-9a55-0d1f5e0c9b21")


class InvalidTaskMessage(ValueError):
    """The message is not a well-formed AgentTaskScheduled envelope.

    ``attributable`` is True when taskId/traceId/agentId could be read, so a Failed answer can
    still be addressed to the waiting orchestration; otherwise the message can only be
    dead-lettered.
    """

    def __init__(self, message: str, attributable: bool = False) -> None:
        super().__init__(message)
        self.attributable = attributable


@dataclass(frozen=True)
class AgentTask:
    """One scheduled agent task, parsed and validated from its envelope."""

    task_id: str
    task_type: str
    agent_id: str
    attempt: int
    phase: str
    flow_id: str
    inputs: dict[str, Any]
    config: dict[str, Any]
    workspace: Path
    timeout_sec: float
    trace_id: str
    tenant_id: str
    project_id: str
    event_id: str
    origin: Any = None
    microservice_id: str | None = None
    instance_id: str | None = None
    envelope: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def idempotency_key(self) -> str:
        """taskId + traceId + attempt: a retry is new work, a redelivery is not."""
        return f"{self.task_id}|{self.trace_id}|{self.attempt}"


def _require_str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidTaskMessage(f"{where}.{key} must be a non-empty string")
    return value


def parse_task(envelope: Any) -> AgentTask:
    """Validate an AgentTaskScheduled envelope; raise InvalidTaskMessage with a clear reason."""
    if not isinstance(envelope, dict):
        raise InvalidTaskMessage("envelope must be a JSON object")
    if envelope.get("eventType") != TASK_SCHEDULED:
        raise InvalidTaskMessage(
            f"eventType must be {TASK_SCHEDULED!r}, got {envelope.get('eventType')!r}")
    missing = [k for k in ENVELOPE_KEYS if k not in envelope]
    if missing:
        raise InvalidTaskMessage(f"envelope is missing {', '.join(missing)}")
    payload = envelope["payload"]
    if not isinstance(payload, dict):
        raise InvalidTaskMessage("payload must be a JSON object")
    for key in ("traceId", "tenantId", "projectId", "eventId"):
        _require_str(envelope, key, "envelope")
    task_id = _require_str(payload, "taskId", "payload")
    agent_id = _require_str(payload, "agentId", "payload")
    # From here on the task is attributable: a Failed answer can reach its orchestration.
    try:
        task_type = _require_str(payload, "taskType", "payload")
        attempt = payload.get("attempt", 1)
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise InvalidTaskMessage("payload.attempt must be an integer >= 1")
        inputs = payload.get("inputs", {})
        config = payload.get("config", {})
        if not isinstance(inputs, dict):
            raise InvalidTaskMessage("payload.inputs must be a JSON object")
        if not isinstance(config, dict):
            raise InvalidTaskMessage("payload.config must be a JSON object")
        workspace = payload.get("workspace", inputs.get("workspace"))
        if workspace is None:
            workspace = _default_workspace(default_workspace_root(), envelope["tenantId"],
                                           envelope["projectId"])
        if not isinstance(workspace, str) or not workspace.strip():
            raise InvalidTaskMessage("payload.workspace (or inputs.workspace) must be the "
                                     "project workspace directory")
        if not Path(workspace).is_absolute():
            raise InvalidTaskMessage("payload.workspace must be an absolute path")
        timeout = payload.get("timeoutSec")
        if timeout is None:
            timeout = DEFAULT_TIMEOUT_SEC
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise InvalidTaskMessage("payload.timeoutSec must be a positive number")
        phase = payload.get("phase")
        flow_id = payload.get("flowId", payload.get("flow"))
        instance_id = payload.get("instanceId")
    except InvalidTaskMessage as exc:
        raise InvalidTaskMessage(str(exc), attributable=True) from None
    return AgentTask(
        task_id=task_id, task_type=task_type, agent_id=agent_id, attempt=attempt,
        phase=phase if isinstance(phase, str) else "",
        flow_id=flow_id if isinstance(flow_id, str) else "", inputs=dict(inputs),
        config=dict(config), workspace=Path(workspace), timeout_sec=float(timeout),
        trace_id=envelope["traceId"], tenant_id=envelope["tenantId"],
        project_id=envelope["projectId"], event_id=envelope["eventId"],
        origin=envelope.get("origin"), microservice_id=envelope.get("microserviceId"),
        instance_id=instance_id if isinstance(instance_id, str) else None, envelope=envelope,
    )


def default_workspace_root() -> str:
    root = os.environ.get(WORKSPACE_ROOT_SETTING, "").strip()
    if root:
        return root
    return str(Path(os.environ.get(DATA_DIR_SETTING, "").strip() or ".podium") / "artifacts")


def _default_workspace(root: str, tenant_id: str, project_id: str) -> str:
    """``<root>/<tenantId>/<projectId>``, refusing ids that would leave ``root``."""
    for value in (tenant_id, project_id):
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", value) or ".." in value:
            raise InvalidTaskMessage(f"{value!r} cannot name a workspace directory")
    return str(Path(root).resolve() / tenant_id / project_id)


def result_event_id(event_type: str, task_id: str, trace_id: str, attempt: int) -> str:
    """Deterministic id: the same answer to the same attempt always has the same eventId."""
    return str(uuid.uuid5(_RESULT_NAMESPACE, f"{event_type}|{task_id}|{trace_id}|{attempt}"))


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _result_envelope(event_type: str, agent_id: str, task_id: str, trace_id: str,
                     tenant_id: str, project_id: str, attempt: int,
                     payload: dict[str, Any], origin: Any = None,
                     microservice_id: str | None = None) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "eventType": event_type,
        "eventId": result_event_id(event_type, task_id, trace_id, attempt),
        "traceId": trace_id,
        "tenantId": tenant_id,
        "projectId": project_id,
        "source": agent_id,
        "timestamp": _now(),
        "payload": payload,
    }
    if origin is not None:
        envelope["origin"] = origin
    if microservice_id is not None:
        envelope["microserviceId"] = microservice_id
    return envelope


def _for_task(task: AgentTask, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    if task.instance_id is not None:
        payload["instanceId"] = task.instance_id  # the orchestration waiting for this answer
    return _result_envelope(event_type, task.agent_id, task.task_id, task.trace_id,
                            task.tenant_id, task.project_id, task.attempt, payload,
                            task.origin, task.microservice_id)


def acknowledged(task: AgentTask) -> dict[str, Any]:
    return _for_task(task, TASK_ACKNOWLEDGED, {
        "taskId": task.task_id, "agentId": task.agent_id, "attempt": task.attempt})


def completed(task: AgentTask, outputs: dict[str, Any], artifacts: list[str]) -> dict[str, Any]:
    return _for_task(task, TASK_COMPLETED, {
        "taskId": task.task_id, "agentId": task.agent_id, "attempt": task.attempt,
        "status": "Success", "outputs": outputs, "artifacts": artifacts})


def error_fields(reason: str, permanent: bool) -> dict[str, str]:
    """The domain contract's errorCode / message / errorClass for a failure reason.

    ``reason`` is "Code: explanation" (or just "Code"); the code is what the domain's error
    table classifies, and errorClass makes the agent's permanent/transient verdict explicit.
    """
    code = reason.split(":", 1)[0].strip() or "Unknown"
    if not permanent:
        error_class = "Recoverable"
    elif code in PARTIALLY_RECOVERABLE_CODES:
        error_class = "PartiallyRecoverable"
    elif code in POLICY_VIOLATION_CODES:
        error_class = "PolicyViolation"
    else:
        error_class = "Fatal"
    return {"errorCode": code, "message": reason, "errorClass": error_class}


def failed(task: AgentTask, reason: str, permanent: bool, details: Any = None) -> dict[str, Any]:
    return _for_task(task, TASK_FAILED, {
        "taskId": task.task_id, "agentId": task.agent_id, "attempt": task.attempt,
        "reason": reason, "permanent": permanent, "details": details,
        **error_fields(reason, permanent)})


def failed_unparsed(envelope: dict[str, Any], reason: str) -> dict[str, Any] | None:
    """A permanent Failed for a task that could not be parsed but can still be attributed."""
    payload = envelope.get("payload") if isinstance(envelope, dict) else None
    if not isinstance(payload, dict):
        return None
    attempt = payload.get("attempt")
    attempt = attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 1
    try:
        return _result_envelope(
            TASK_FAILED, str(payload["agentId"]), str(payload["taskId"]),
            str(envelope["traceId"]), str(envelope.get("tenantId", "")),
            str(envelope.get("projectId", "")), attempt,
            {"taskId": payload["taskId"], "agentId": payload["agentId"], "attempt": attempt,
             "reason": reason, "permanent": True, "details": None,
             **error_fields(reason, True),
             **({"instanceId": payload["instanceId"]}
                if isinstance(payload.get("instanceId"), str) else {})},
            envelope.get("origin"), envelope.get("microserviceId"))
    except KeyError:
        return None


def scheduled(*, task_id: str, task_type: str, agent_id: str, workspace: str,
              inputs: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
              attempt: int = 1, trace_id: str = "trace-local", tenant_id: str = "tenant-local",
              project_id: str = "project-local", phase: str = "", flow_id: str = "",
              timeout_sec: float = 900, event_id: str | None = None,
              instance_id: str | None = None) -> dict[str, Any]:
    """Build an AgentTaskScheduled envelope: for tests, benchmarks and local tools."""
    return {
        "eventType": TASK_SCHEDULED,
        "eventId": event_id or str(uuid.uuid4()),
        "traceId": trace_id, "tenantId": tenant_id, "projectId": project_id,
        "source": "podium.agents", "timestamp": _now(),
        "payload": {
            "taskId": task_id, "taskType": task_type, "agentId": agent_id,
            "attempt": attempt, "phase": phase, "flowId": flow_id,
            "inputs": dict(inputs or {}), "config": dict(config or {}),
            "workspace": workspace, "timeoutSec": timeout_sec,
            **({"instanceId": instance_id} if instance_id else {}),
        },
    }
