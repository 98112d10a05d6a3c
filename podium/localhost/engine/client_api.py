"""The ``DurableEngine`` API half of :class:`~podium.localhost.engine.core.Engine`.

Every method commits its change to the store before it returns and then wakes the dispatcher;
none waits for user code. Kept apart from the dispatcher so each module stays small; the two
share the engine's queues under one lock (``_cond``).
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from podium.localhost.api import (
    Clock,
    EntityState,
    InstanceConflict,
    InstanceNotFound,
    InstanceQuery,
    InstanceState,
    InvalidOperation,
    RuntimeStatus,
)
from podium.localhost.engine import history as h
from podium.localhost.engine.entities import entity_id_of
from podium.localhost.engine.episode import PARENT_EXECUTION, new_instance, started_event
from podium.localhost.engine.model import EntityOp, InstanceRecord, Message, WriteBatch
from podium.localhost.engine.sessions import Invoker
from podium.localhost.engine.store import DurableStore
from podium.localhost.functions import FunctionIndex

EVENT_NAMES = {
    0: "ExecutionStarted",
    1: "ExecutionCompleted",
    4: "TaskScheduled",
    5: "TaskCompleted",
    6: "TaskFailed",
    7: "SubOrchestrationInstanceCreated",
    8: "SubOrchestrationInstanceCompleted",
    9: "SubOrchestrationInstanceFailed",
    10: "TimerCreated",
    11: "TimerFired",
    12: "OrchestratorStarted",
    13: "OrchestratorCompleted",
    14: "EventSent",
    15: "EventRaised",
}


class EngineApi:
    """Client-facing operations; the dispatcher state they touch is declared here."""

    index: FunctionIndex
    store: DurableStore
    clock: Clock
    _cond: threading.Condition
    _instances: dict[str, InstanceRecord]
    _histories: dict[str, list[str]]
    _inbox: dict[str, list[Message]]
    _wake: dict[str, tuple[set[int], int, bool]]
    _ready: dict[str, None]
    _cancelled_timers: set[int]
    _invoker: Invoker

    def _new_id(self) -> int:
        raise NotImplementedError

    def _reset_wake(self, instance_id: str) -> None:
        raise NotImplementedError

    def _update_ready(self, instance_id: str) -> None:
        raise NotImplementedError

    def _deliver(self, msg: Message) -> None:
        raise NotImplementedError

    def _queue_entity_op(self, op: EntityOp) -> None:
        raise NotImplementedError

    def start_new(self, name: str, instance_id: str | None = None, input: Any = None) -> str:
        self.index.orchestrator(name)  # UnknownFunction
        instance_id = instance_id or uuid.uuid4().hex
        input_text = json.dumps(input)
        with self._cond:
            existing = self._instances.get(instance_id) or self.store.get_instance(instance_id)
            if existing is not None and not existing.status.is_terminal:
                raise InstanceConflict(
                    f"an instance with id '{instance_id}' is {existing.status.value}"
                )
            now = self.clock.now()
            rec = new_instance(name, instance_id, input_text, now)
            msg = Message(self._new_id(), instance_id, started_event(rec, now))
            batch = WriteBatch(put_instances={instance_id: rec}, add_messages=[msg])
            if existing is not None:
                batch.clear_history.append(instance_id)
                batch.delete_all_messages.append(instance_id)
                batch.delete_instance_timers.append(instance_id)
            # delete_all_messages runs before add_messages in one transaction
            self.store.apply(batch)
            self._instances[instance_id] = rec
            self._histories[instance_id] = []
            self._inbox[instance_id] = []
            self._reset_wake(instance_id)
            self._deliver(msg)
            self._cond.notify_all()
        return instance_id

    def _state_of(self, rec: InstanceRecord, show_history: bool, show_input: bool) -> InstanceState:
        events = None
        if show_history:
            events = [_public_event(json.loads(e)) for e in self.store.get_history(rec.instance_id)]
        return InstanceState(
            instance_id=rec.instance_id,
            name=rec.name,
            runtime_status=rec.status,
            input=_loads(rec.input) if show_input else None,
            output=_loads(rec.output),
            custom_status=_loads(rec.custom_status),
            created_time=rec.created,
            last_updated_time=rec.updated,
            history=events,
        )

    def get_status(
        self, instance_id: str, show_history: bool = False, show_input: bool = True
    ) -> InstanceState | None:
        rec = self.store.get_instance(instance_id)
        return self._state_of(rec, show_history, show_input) if rec else None

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        """The current execution's raw history events as the SDK sees them (int EventType)."""
        return [json.loads(e) for e in self.store.get_history(instance_id)]

    def list_instances(self, query: InstanceQuery) -> tuple[list[InstanceState], str | None]:
        records, token = self.store.query_instances(query)
        return [self._state_of(r, False, True) for r in records], token

    def _active(self, instance_id: str) -> InstanceRecord:
        rec = self._instances.get(instance_id)
        if rec is not None:
            return rec
        stored = self.store.get_instance(instance_id)
        if stored is None:
            raise InstanceNotFound(f"no instance with id '{instance_id}'")
        raise InvalidOperation(
            f"instance '{instance_id}' is {stored.status.value}; it accepts no more changes"
        )

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        with self._cond:
            self._active(instance_id)
            ev = h.event(h.EVENT_RAISED, self.clock.now(), Name=event_name, Input=json.dumps(data))
            ev[h.EXTERNAL] = True
            msg = Message(self._new_id(), instance_id, ev)
            self.store.apply(WriteBatch(add_messages=[msg]))
            self._deliver(msg)
            self._cond.notify_all()

    def terminate(self, instance_id: str, reason: str | None = None) -> None:
        with self._cond:
            rec = self._active(instance_id)
            now = self.clock.now()
            rec.version += 1
            rec.status = RuntimeStatus.Terminated
            rec.output = json.dumps(reason)
            rec.updated = now
            batch = WriteBatch(
                put_instances={instance_id: rec},
                delete_all_messages=[instance_id],
                delete_instance_timers=[instance_id],
            )
            if rec.parent:
                p = rec.parent
                ev = h.event(
                    h.SUB_ORCHESTRATION_FAILED,
                    now,
                    TaskScheduledId=p["seq"],
                    Reason=f"sub-orchestration '{instance_id}' was terminated: {reason}",
                    Details="",
                )
                ev[PARENT_EXECUTION] = p["execution_id"]
                batch.add_messages.append(Message(self._new_id(), p["instance_id"], ev))
            self.store.apply(batch)
            self._cancelled_timers.update(rec.state.get("timers", {}).values())
            for name in ("_histories", "_inbox", "_wake", "_ready"):
                getattr(self, name).pop(instance_id, None)
            self._instances.pop(instance_id, None)
            self._invoker.forget(instance_id)
            for msg in batch.add_messages:
                self._deliver(msg)
            self._cond.notify_all()

    def suspend(self, instance_id: str, reason: str | None = None) -> None:
        with self._cond:
            rec = self._active(instance_id)
            if rec.status == RuntimeStatus.Suspended:
                return
            rec.version += 1
            rec.status = RuntimeStatus.Suspended
            rec.updated = self.clock.now()
            self.store.apply(WriteBatch(put_instances={instance_id: rec}))
            self._update_ready(instance_id)

    def resume(self, instance_id: str, reason: str | None = None) -> None:
        with self._cond:
            rec = self._active(instance_id)
            if rec.status != RuntimeStatus.Suspended:
                raise InvalidOperation(f"instance '{instance_id}' is not suspended")
            rec.version += 1
            rec.status = RuntimeStatus.Running
            rec.updated = self.clock.now()
            self.store.apply(WriteBatch(put_instances={instance_id: rec}))
            self._update_ready(instance_id)
            self._cond.notify_all()

    def purge(self, instance_id: str) -> int:
        with self._cond:
            stored = self.store.get_instance(instance_id)
            if stored is None:
                raise InstanceNotFound(f"no instance with id '{instance_id}'")
            if not stored.status.is_terminal:
                raise InvalidOperation(
                    f"instance '{instance_id}' is {stored.status.value}; terminate it first"
                )
            self.store.apply(WriteBatch(purge_instances=[instance_id]))
            return 1

    def purge_instances(self, query: InstanceQuery) -> int:
        terminal = [s for s in RuntimeStatus if s.is_terminal]
        wanted = (
            [RuntimeStatus(s) for s in query.runtime_status] if query.runtime_status else terminal
        )
        q = InstanceQuery(
            runtime_status=[s for s in wanted if s.is_terminal] or [RuntimeStatus.Completed],
            created_from=query.created_from,
            created_to=query.created_to,
            instance_id_prefix=query.instance_id_prefix,
        )
        if not [s for s in wanted if s.is_terminal]:
            return 0
        with self._cond:
            ids = self.store.instance_ids(q)
            if ids:
                self.store.apply(WriteBatch(purge_instances=ids))
            return len(ids)

    def signal_entity(self, entity_name: str, key: str, operation: str, input: Any = None) -> None:
        fi = self.index.entity(entity_name)
        entity_id = entity_id_of(fi.name, key)
        with self._cond:
            op = EntityOp(
                self._new_id(),
                entity_id,
                {
                    "name": operation,
                    "input": json.dumps(input),
                    "isSignal": True,
                    "id": str(uuid.uuid4()),
                },
            )
            self.store.apply(WriteBatch(add_entity_ops=[op]))
            self._queue_entity_op(op)
            self._cond.notify_all()

    def read_entity_state(self, entity_name: str, key: str) -> EntityState:
        fi = self.index.entity(entity_name)
        record = self.store.get_entity(entity_id_of(fi.name, key))
        if record is None or not record.exists:
            return EntityState(exists=False)
        return EntityState(
            exists=True, state=_loads(record.state), last_modified=record.last_modified
        )


def _loads(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def _public_event(ev: dict[str, Any]) -> dict[str, Any]:
    ev = {k: v for k, v in ev.items() if not k.startswith("Podium") and k != "IsPlayed"}
    ev["EventType"] = EVENT_NAMES.get(ev.get("EventType", -1), str(ev.get("EventType")))
    return ev
