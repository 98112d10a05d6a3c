"""``agent_throttle`` entity (key: ``tenantId|agentId``): the tenant-wide concurrency limit of
one agent. host.json limits are per worker; this holds the count across the whole app.

Slots are leases (holder → expiry) so a holder that vanished (terminated orchestration)
cannot keep a slot forever: expired leases are dropped on the next ``acquire``.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from entities import bp
from podium.coordination.throttle import AgentThrottle


@bp.entity_trigger(context_name="context", entity_name="agent_throttle")
def agent_throttle(context: df.DurableEntityContext) -> None:
    throttle = AgentThrottle.from_dict(context.get_state(lambda: None))
    data: dict[str, Any] = _decoded(context.get_input())
    operation = context.operation_name
    if operation == "acquire":
        result: Any = throttle.acquire(
            data["holder"],
            int(data.get("limit", 1)),
            data.get("at", ""),
            int(data.get("leaseSec", 1800)),
        )
    elif operation == "release":
        result = throttle.release(data["holder"])
    elif operation == "get":
        result = throttle.to_dict()
    else:
        result = {"error": f"unknown operation {operation!r}"}
    context.set_state(throttle.to_dict())
    context.set_result(result)


def _decoded(value: Any) -> dict[str, Any]:
    """Operation input; the SDK client double-encodes what it signals, so decode strings."""
    import json

    for _ in range(3):
        if not isinstance(value, str):
            break
        value = json.loads(value)
    return value if isinstance(value, dict) else {}
