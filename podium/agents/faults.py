"""Failure injection for the factory's fault tests.

Why in the request and task inputs: the fault tests drive the real orchestration through the
real transport, so the only thing they control is the request they submit. The worker takes
the ``_fault`` block from the task's ``inputs`` (stripped before the handler runs), else from
the project request in the workspace (``request.json``). Workers can also be given a spec
directly (``AgentWorker.inject_fault``) when a test holds the worker object.

    inputs._fault = {
      "agents": ["planner-agent"],   # only these agents misbehave (default: every agent)
      "taskTypes": ["PlanMicroservices"],  # only these task types (default: every type)
      "failAttempts": 2,             # attempts 1..2 fail, attempt 3 succeeds
      "permanent": false,            # injected failures are permanent (no retry)
      "silent": true,                # never acknowledge nor answer (or "silentAttempts": N)
      "noResult": true,              # acknowledge, then never answer (task timeout)
      "duplicate": true,             # send Acknowledged and the final answer twice
      "delaySec": 0.5                # sleep before answering (bounded by timeoutSec)
    }
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FAULT_KEY = "_fault"


class InvalidFaultSpec(ValueError):
    """The ``_fault`` block is malformed; reported as a permanent failure of the task."""


@dataclass(frozen=True)
class FaultSpec:
    agents: tuple[str, ...] = ()
    task_types: tuple[str, ...] = ()
    fail_attempts: int = 0
    permanent: bool = False
    silent_attempts: int = 0  # a very large number means "always"
    no_result: bool = False
    duplicate: bool = False
    delay_sec: float = 0.0

    ALWAYS = 1_000_000

    def applies_to(self, agent_id: str, task_type: str) -> bool:
        return ((not self.agents or agent_id in self.agents)
                and (not self.task_types or task_type in self.task_types))

    def is_silent(self, attempt: int) -> bool:
        return attempt <= self.silent_attempts

    def should_fail(self, attempt: int) -> bool:
        return attempt <= self.fail_attempts


def _int(spec: dict[str, Any], key: str) -> int:
    value = spec.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidFaultSpec(f"_fault.{key} must be a non-negative integer")
    return value


def _bool(spec: dict[str, Any], key: str) -> bool:
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise InvalidFaultSpec(f"_fault.{key} must be a boolean")
    return value


def _names(spec: dict[str, Any], key: str) -> tuple[str, ...]:
    value = spec.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidFaultSpec(f"_fault.{key} must be a list of strings")
    return tuple(value)


_KNOWN = {"agents", "taskTypes", "failAttempts", "permanent", "silent", "silentAttempts",
          "noResult", "duplicate", "delaySec"}


def parse_fault(raw: Any) -> FaultSpec | None:
    """Parse an ``inputs._fault`` block; None when there is none."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidFaultSpec("_fault must be a JSON object")
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise InvalidFaultSpec(f"_fault has unknown keys: {', '.join(unknown)}")
    silent_attempts = _int(raw, "silentAttempts")
    if _bool(raw, "silent"):
        silent_attempts = FaultSpec.ALWAYS
    delay = raw.get("delaySec", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise InvalidFaultSpec("_fault.delaySec must be a non-negative number")
    return FaultSpec(
        agents=_names(raw, "agents"), task_types=_names(raw, "taskTypes"),
        fail_attempts=_int(raw, "failAttempts"), permanent=_bool(raw, "permanent"),
        silent_attempts=silent_attempts, no_result=_bool(raw, "noResult"),
        duplicate=_bool(raw, "duplicate"), delay_sec=float(delay),
    )
