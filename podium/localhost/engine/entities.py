"""Runs one batch of operations on one entity through the SDK's entity protocol."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from podium.localhost.api import FunctionInfo
from podium.localhost.engine import history as h
from podium.localhost.engine import logcontext
from podium.localhost.engine.model import EntityOp, EntityRecord

log = logging.getLogger("podium.localhost.engine")


def split_entity_id(entity_id: str) -> tuple[str, str]:
    """``@name@key`` -> (name, key)."""
    name, _, key = entity_id[1:].partition("@")
    return name, key


def entity_id_of(name: str, key: str) -> str:
    return f"@{name.lower()}@{key}"


def run_entity_batch(
    fi: FunctionInfo,
    entity_id: str,
    record: EntityRecord | None,
    ops: list[EntityOp],
    now: datetime,
) -> tuple[EntityRecord, list[tuple[dict[str, Any], dict[str, Any]]]]:
    """Run ``ops`` in order; returns the new entity record and (op, EventRaised) responses for
    the operations that were calls (signals get no response)."""
    name, key = split_entity_id(entity_id)
    context = {
        "self": {"name": name, "key": key},
        "exists": bool(record and record.exists),
        "state": record.state if record else None,
        "batch": [
            # The SDK json.loads the operation input and then df_loads it: encoded twice.
            {
                "name": o.op["name"],
                "input": json.dumps(o.op.get("input")),
                "isSignal": o.op["isSignal"],
            }
            for o in ops
        ],
    }
    with logcontext.invocation(fi.name if fi else name):
        try:
            if fi is None or fi.user_function is None:
                raise LookupError(f"no entity function named '{name}' is registered by the app")
            out = json.loads(fi.user_function(json.dumps(context)))
            results = out.get("results") or []
            new_record = EntityRecord(
                entity_id, bool(out.get("entityExists")), out.get("entityState"), now
            )
        except Exception as exc:  # noqa: BLE001 - the whole batch failed; state unchanged
            log.warning("entity %s batch failed: %s", entity_id, exc)
            results = [{"isError": True, "result": json.dumps(str(exc))} for _ in ops]
            new_record = record or EntityRecord(entity_id, False, None, now)
    responses = []
    for op, res in zip(ops, results, strict=False):
        if op.op["isSignal"] or not op.op.get("parent"):
            if res.get("isError"):
                log.warning(
                    "signal %s to %s failed: %s", op.op["name"], entity_id, res.get("result")
                )
            continue
        body: dict[str, Any] = {"result": res.get("result")}
        if res.get("isError"):
            body["exceptionType"] = "System.Exception"
        ev = h.event(h.EVENT_RAISED, now, Name=op.op["id"], Input=json.dumps(body))
        responses.append((op.op, ev))
    return new_record, responses
