"""Deterministic identifiers.

Orchestrator code may not call ``uuid4()`` (replay would produce a different id), so every id
an orchestration or the router mints is derived from stable inputs with UUIDv5. The same
inputs always give the same id, which is also what makes a redelivered event start nothing new.
"""

from __future__ import annotations

import re
import uuid

_NAMESPACE = uuid.UUID("6f1c2a52-5b8e-4d7e-9a51-7d3f0c0a9b11")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def stable_uuid(*parts: object) -> str:
    """A UUIDv5 over the parts, joined unambiguously."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def safe_key(text: str) -> str:
    """Instance ids and entity keys may not contain '/', '\\', '#', '?' or control chars."""
    return _UNSAFE.sub("_", text)


def task_instance_id(flow_instance: str, task_id: str) -> str:
    """Sub-orchestration id of one agent or human task of a flow run."""
    return f"{flow_instance}:task:{safe_key(task_id)}"


def human_task_id(task_instance_id: str) -> str:
    """A URL-safe id for a pending human task, stable for one checkpoint run (the orchestrator
    derives the external event name from it, the activity stores the task under it)."""
    return "ht-" + stable_uuid("human", task_instance_id)[:18]
