"""The contract between the local host's durable engine and everything that drives it.

The engine (``engine.py``, its store and the SDK bridge) implements :class:`DurableEngine`.
The HTTP layer (the Durable HTTP API under ``/runtime/webhooks/durabletask``), the durable
client binding, the Service Bus / timer trigger runners, the CLI and the pytest fixture only
use what is declared here, so the two sides can evolve independently.

Names and JSON shapes follow the Durable Functions HTTP API (``runtimeStatus`` values,
``customStatus``, ``createdTime`` ...), because the SDK's ``DurableOrchestrationClient`` and
outside tools read them as-is.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class RuntimeStatus(enum.StrEnum):
    """Durable Functions' ``runtimeStatus`` values, spelled as the HTTP API spells them."""

    Pending = "Pending"
    Running = "Running"
    Completed = "Completed"
    ContinuedAsNew = "ContinuedAsNew"
    Failed = "Failed"
    Terminated = "Terminated"
    Suspended = "Suspended"

    @property
    def is_terminal(self) -> bool:
        return self in (RuntimeStatus.Completed, RuntimeStatus.Failed, RuntimeStatus.Terminated)


class HostError(Exception):
    """Base of every error the engine reports to a caller; never a bare stack trace."""

    http_status = 400


class UnknownFunction(HostError):
    """No orchestrator / activity / entity of that name is registered by the app."""

    http_status = 404


class InstanceNotFound(HostError):
    http_status = 404


class InstanceConflict(HostError):
    """start_new with an instance id whose instance is still running (not terminal)."""

    http_status = 409


class InvalidOperation(HostError):
    """E.g. resume of an instance that is not suspended, raise_event on a terminal one."""

    http_status = 410


@dataclass
class InstanceState:
    """What ``get_status`` returns; ``to_http_json`` gives the HTTP API's body."""

    instance_id: str
    name: str
    runtime_status: RuntimeStatus
    input: Any = None  # decoded JSON value
    output: Any = None  # decoded JSON value (the failure message for Failed)
    custom_status: Any = None
    created_time: datetime | None = None
    last_updated_time: datetime | None = None
    history: list[dict[str, Any]] | None = None  # only when asked (show_history)

    def to_http_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "instanceId": self.instance_id,
            "runtimeStatus": self.runtime_status.value,
            "input": self.input,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": _iso(self.created_time),
            "lastUpdatedTime": _iso(self.last_updated_time),
        }
        if self.history is not None:
            body["historyEvents"] = self.history
        return body


@dataclass
class InstanceQuery:
    """Filters of ``list_instances`` / ``purge_instances`` (all optional, ANDed)."""

    runtime_status: Iterable[RuntimeStatus] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    instance_id_prefix: str | None = None
    page_size: int = 100
    continuation_token: str | None = None


@dataclass
class EntityState:
    exists: bool
    state: Any = None  # decoded JSON value
    last_modified: datetime | None = None


@dataclass
class FunctionInfo:
    """One function of the app, as indexed once from ``app.get_functions()``."""

    name: str
    trigger_type: str  # orchestrationTrigger, activityTrigger, entityTrigger, httpTrigger, ...
    trigger_binding: dict[str, Any]  # get_dict_repr() of the trigger binding
    bindings: list[dict[str, Any]] = field(default_factory=list)
    user_function: Callable[..., Any] | None = None


class Clock(Protocol):
    """Where the engine reads time; a virtual clock lets tests jump over long timers."""

    def now(self) -> datetime: ...  # tz-aware UTC, never goes backwards


class DurableEngine(Protocol):
    """The durable task engine of the local host. All methods are thread-safe and return
    quickly (they commit to the store and wake the dispatcher); none waits for user code."""

    task_hub: str

    def start_new(self, name: str, instance_id: str | None = None, input: Any = None) -> str: ...

    def get_status(
        self, instance_id: str, show_history: bool = False, show_input: bool = True
    ) -> InstanceState | None: ...

    def list_instances(self, query: InstanceQuery) -> tuple[list[InstanceState], str | None]: ...

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None: ...

    def terminate(self, instance_id: str, reason: str | None = None) -> None: ...

    def suspend(self, instance_id: str, reason: str | None = None) -> None: ...

    def resume(self, instance_id: str, reason: str | None = None) -> None: ...

    def purge(self, instance_id: str) -> int: ...

    def purge_instances(self, query: InstanceQuery) -> int: ...

    def signal_entity(
        self, entity_name: str, key: str, operation: str, input: Any = None
    ) -> None: ...

    def read_entity_state(self, entity_name: str, key: str) -> EntityState: ...

    def wait_for_idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is runnable now (timers in the future may remain)."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
