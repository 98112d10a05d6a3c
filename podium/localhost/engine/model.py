"""Records the engine keeps in its durable store, and the write batch that commits them.

Every change the engine makes goes through one :class:`WriteBatch` committed atomically, and
nothing a batch enables (an activity, a timer, a message to another instance) is started before
that batch is committed: that is what makes a ``kill -9`` lose nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from podium.localhost.api import RuntimeStatus


@dataclass
class InstanceRecord:
    """One orchestration instance (its current execution)."""

    instance_id: str
    name: str
    execution_id: str
    status: RuntimeStatus
    input: str | None  # JSON text
    created: datetime
    updated: datetime
    output: str | None = None  # JSON text
    custom_status: str | None = None  # JSON text
    parent: dict[str, Any] | None = None  # {"instance_id", "execution_id", "seq"}
    # Engine bookkeeping (sequence counter, applied actions, retries, timers, wake condition).
    state: dict[str, Any] = field(default_factory=dict)
    version: int = 0  # in memory only: bumped by API changes that invalidate a running episode


@dataclass
class Message:
    """A new event for an orchestration instance, waiting to be delivered in its next episode."""

    id: int
    instance_id: str
    event: dict[str, Any]


@dataclass
class WorkItem:
    """An activity to run. Its row is deleted in the same transaction that records its result."""

    id: int
    instance_id: str
    execution_id: str
    seq: int
    name: str
    input: str | None


@dataclass
class TimerRecord:
    id: int
    instance_id: str
    execution_id: str
    fire_at: datetime
    event: dict[str, Any]  # the TimerFired event delivered when it fires


@dataclass
class EntityOp:
    """One operation queued for an entity (a signal, or a call with a parent to answer)."""

    id: int
    entity_id: str  # "@name@key", name lower-cased
    op: dict[str, Any]  # {"name", "input", "isSignal", "id", "parent"}


@dataclass
class EntityRecord:
    entity_id: str
    exists: bool
    state: str | None  # JSON text
    last_modified: datetime | None = None


@dataclass
class WriteBatch:
    """Everything one dispatcher step changes; a store applies it in one transaction."""

    put_instances: dict[str, InstanceRecord] = field(default_factory=dict)
    purge_instances: list[str] = field(default_factory=list)
    clear_history: list[str] = field(default_factory=list)
    append_history: list[tuple[str, int, list[str]]] = field(default_factory=list)
    add_messages: list[Message] = field(default_factory=list)
    delete_messages: list[tuple[str, int]] = field(default_factory=list)  # (instance, max id)
    delete_all_messages: list[str] = field(default_factory=list)
    add_work: list[WorkItem] = field(default_factory=list)
    delete_work: list[int] = field(default_factory=list)
    add_timers: list[TimerRecord] = field(default_factory=list)
    delete_timers: list[int] = field(default_factory=list)
    delete_instance_timers: list[str] = field(default_factory=list)
    add_entity_ops: list[EntityOp] = field(default_factory=list)
    delete_entity_ops: list[tuple[str, int]] = field(default_factory=list)  # (entity, max id)
    put_entities: list[EntityRecord] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in self.__dataclass_fields__)

    def merge(self, other: WriteBatch) -> None:
        self.put_instances.update(other.put_instances)
        for name in self.__dataclass_fields__:
            if name != "put_instances":
                getattr(self, name).extend(getattr(other, name))


@dataclass
class PendingWork:
    """What a store hands back at start-up so the engine can continue where it stopped."""

    instances: list[InstanceRecord]
    messages: list[Message]
    work: list[WorkItem]
    timers: list[TimerRecord]
    entity_ops: list[EntityOp]
    max_id: int
