"""Studio's "Mark Phase Complete": ask the coordinator to advance by hand (override roles
only), then publish what it decided. An orchestration because only orchestrations can call an
entity and wait for its answer; the HTTP trigger waits for this one to finish."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators import bp
from orchestrators._util import coordinator, now_iso


@bp.orchestration_trigger(context_name="context", orchestration="phase_override")
def phase_override(context: df.DurableOrchestrationContext):
    req: dict[str, Any] = context.get_input()
    decision = yield context.call_entity(
        coordinator(req["projectId"]),
        "manual_advance",
        {"roles": req.get("roles", []), "actor": req.get("actor"), "at": now_iso(context)},
    )
    if decision.get("error"):
        return {"ok": False, "error": decision["error"]}
    yield context.call_activity(
        "apply_coordinator_decision",
        {
            "flow": "phase-override",
            "flowInstanceId": context.instance_id,
            "tenantId": req["tenantId"],
            "projectId": req["projectId"],
            "traceId": req["traceId"],
            "decision": decision,
            "events": [],
            "at": now_iso(context),
        },
    )
    return {"ok": True, "decision": decision}
