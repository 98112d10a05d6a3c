"""History events in the shape the Durable SDK parses (PascalCase, int ``EventType``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from podium.localhost.engine.store import ts

EXECUTION_STARTED = 0
TASK_SCHEDULED = 4
TASK_COMPLETED = 5
TASK_FAILED = 6
SUB_ORCHESTRATION_CREATED = 7
SUB_ORCHESTRATION_COMPLETED = 8
SUB_ORCHESTRATION_FAILED = 9
TIMER_CREATED = 10
TIMER_FIRED = 11
ORCHESTRATOR_STARTED = 12
ORCHESTRATOR_COMPLETED = 13
EVENT_SENT = 14
EVENT_RAISED = 15

# Action types of the SDK's out-of-process protocol (azure.durable_functions ActionType).
CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR = 2
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
WAIT_FOR_EXTERNAL_EVENT = 6
CALL_ENTITY = 7
CALL_HTTP = 8
SIGNAL_ENTITY = 9
WHEN_ANY = 11
WHEN_ALL = 12

ACTION_NAMES = {
    CALL_ACTIVITY: "CallActivity",
    CALL_ACTIVITY_WITH_RETRY: "CallActivityWithRetry",
    CALL_SUB_ORCHESTRATOR: "CallSubOrchestrator",
    CALL_SUB_ORCHESTRATOR_WITH_RETRY: "CallSubOrchestratorWithRetry",
    CONTINUE_AS_NEW: "ContinueAsNew",
    CREATE_TIMER: "CreateTimer",
    WAIT_FOR_EXTERNAL_EVENT: "WaitForExternalEvent",
    CALL_ENTITY: "CallEntity",
    CALL_HTTP: "CallHttp",
    SIGNAL_ENTITY: "SignalEntity",
    WHEN_ANY: "WhenAny",
    WHEN_ALL: "WhenAll",
}

# Keys the engine adds to events for its own bookkeeping; the SDK ignores unknown keys.
EXTERNAL = "PodiumExternal"


def event(event_type: int, when: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    return {
        "EventType": event_type,
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": ts(when),
        **fields,
    }


def dumps(value: dict[str, Any], played: bool) -> str:
    """JSON text of an event; ``played`` marks events of earlier episodes (replay)."""
    value["IsPlayed"] = played
    return json.dumps(value, separators=(",", ":"))
