"""One orchestration episode: deliver every ready event to the real SDK, apply its actions.

The SDK replays the whole history on every invocation, so the engine hands it *all* pending
events at once (as the Durable extension does) and, when the orchestrator is blocked on a
``task_all`` of plain activities, waits until every one of them has completed (or one failed)
before invoking it again: a fan-out of N costs two replays, not N.

The episode is computed without touching the store or the engine's queues: it returns a
:class:`EpisodeResult` whose ``batch`` the engine commits before it starts any of the work the
episode scheduled. (Keeping the SDK's replay state in memory between episodes, an "extended
session", would replace :func:`invoke_orchestrator` only.)
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from podium.localhost.api import RuntimeStatus, UnknownFunction
from podium.localhost.engine import history as h
from podium.localhost.engine.actions import (
    PARENT_EXECUTION,
    SEQ_ACTIONS,
    atomic,
    describe,
    fresh_state,
    has_timer,
    new_instance,
    parse_time,
    retry_of,
    signature,
    started_event,
    wait_names,
)
from podium.localhost.engine.model import (
    EntityOp,
    InstanceRecord,
    Message,
    TimerRecord,
    WorkItem,
    WriteBatch,
)
from podium.localhost.engine.sessions import (
    FullReplay,
    Invoker,
    build_context,
    invoke_orchestrator,
)
from podium.localhost.engine.store import ts
from podium.localhost.functions import FunctionIndex

log = logging.getLogger("podium.localhost.engine")


@dataclass
class EpisodeResult:
    record: InstanceRecord
    batch: WriteBatch = field(default_factory=WriteBatch)
    history: list[str] = field(default_factory=list)  # the whole history after the episode
    work: list[WorkItem] = field(default_factory=list)
    timers: list[TimerRecord] = field(default_factory=list)
    cancelled_timers: list[int] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    entity_ops: list[EntityOp] = field(default_factory=list)
    new_instances: list[InstanceRecord] = field(default_factory=list)
    finished: bool = False
    continued: bool = False


class NonDeterminism(Exception):
    pass


@dataclass
class Services:
    """What an episode needs from the engine (kept narrow so episodes stay testable)."""

    index: FunctionIndex
    new_id: Callable[[], int]
    instance_status: Callable[[str], RuntimeStatus | None]
    invoke: Invoker = field(default_factory=FullReplay)


class Episode:
    """Computes one episode of one instance (see module docstring)."""

    def __init__(
        self,
        svc: Services,
        rec: InstanceRecord,
        history: list[str],
        messages: list[Message],
        now: datetime,
    ) -> None:
        self.svc = svc
        state = json.loads(json.dumps(rec.state)) if rec.state else fresh_state()
        self.rec = InstanceRecord(**{**rec.__dict__, "state": state})
        self.st = state
        self.history = history
        self.messages = messages
        last = parse_time(state["last_ts"]) if state.get("last_ts") else None
        self.now = max(now, last) if last else now
        self.result = EpisodeResult(record=self.rec)
        self.appended: list[dict[str, Any]] = []  # events produced by applying actions
        self.last_new = -1  # index of the last action applied for the first time

    # -- delivery -------------------------------------------------------------------------
    def _deliver(self) -> list[dict[str, Any]]:
        """Order the new events as the SDK will allocate sequence numbers for them.

        Retry bookkeeping (a failed attempt gets a retry timer; a fired retry timer a new
        attempt) allocates sequence numbers inside the SDK *while it processes the event*, so
        those events go first, before any event that can resume user code.
        """
        started, allocating, others = [], [], []
        for msg in self.messages:
            ev = dict(msg.event)
            kind = ev["EventType"]
            if kind == h.EXECUTION_STARTED:
                started.append(ev)
            elif (
                kind in (h.TASK_FAILED, h.SUB_ORCHESTRATION_FAILED)
                and str(ev.get("TaskScheduledId")) in self.st["retries"]
            ):
                allocating.append(ev)
            elif kind == h.TIMER_FIRED and str(ev.get("TimerId")) in self.st["retry_timers"]:
                seq = self.st["retry_timers"][str(ev["TimerId"])]
                retry = self.st["retries"].get(seq)
                (allocating if retry and retry["attempt"] < retry["max"] else others).append(ev)
            else:
                others.append(ev)
        delivered: list[dict[str, Any]] = [h.event(h.ORCHESTRATOR_STARTED, self.now)]
        waits, got = self._wait_counts(), self._delivered_counts()
        for ev in [*started, *allocating, *others]:
            if ev["EventType"] == h.EVENT_RAISED and ev.get(h.EXTERNAL):
                name = ev["Name"]
                if waits.get(name, 0) <= got.get(name, 0):
                    # Nobody waits for it yet: hold it (FIFO) until a wait appears, so two
                    # events raised early are not collapsed into one by the SDK's buffer.
                    self.st.setdefault("held", []).append([name, ev.get("Input")])
                    continue
                got[name] = got.get(name, 0) + 1
            ev["Timestamp"] = ts(self.now)
            delivered.append(ev)
            delivered.extend(self._after_delivery(ev))
        return delivered

    def _wait_counts(self) -> dict[str, int]:
        """WaitForExternalEvent actions scheduled so far in this execution, by event name."""
        waits: dict[str, int] = {}
        for sig in self.st["sigs"]:
            for name in wait_names(sig):
                waits[name] = waits.get(name, 0) + 1
        return waits

    def _delivered_counts(self) -> dict[str, int]:
        got: dict[str, int] = {}
        for name, _ in self.st["ext"]:
            got[name] = got.get(name, 0) + 1
        return got

    def _release_held(self) -> None:
        """Send held events back to this instance once a wait for their name appeared."""
        held = self.st.get("held") or []
        if not held:
            return
        waits, got = self._wait_counts(), self._delivered_counts()
        keep = []
        for name, input_ in held:
            if waits.get(name, 0) > got.get(name, 0):
                got[name] = got.get(name, 0) + 1
                ev = h.event(h.EVENT_RAISED, self.now, Name=name, Input=input_)
                ev[h.EXTERNAL] = True
                self._message(self.rec.instance_id, ev)
            else:
                keep.append([name, input_])
        self.st["held"] = keep

    def _after_delivery(self, ev: dict[str, Any]) -> list[dict[str, Any]]:
        kind = ev["EventType"]
        st = self.st
        if kind == h.EVENT_RAISED and ev.get(h.EXTERNAL):
            st["ext"].append([ev["Name"], ev.get("Input")])
        if kind == h.TIMER_FIRED:
            st["timers"].pop(str(ev.get("TimerId")), None)
        if kind in (h.TASK_COMPLETED, h.TASK_FAILED) and st.get("wake"):
            done = ev.get("TaskScheduledId")
            st["wake"] = [s for s in st["wake"] if s != done] if done in st["wake"] else st["wake"]
        if kind in (h.TASK_FAILED, h.SUB_ORCHESTRATION_FAILED):
            key = str(ev.get("TaskScheduledId"))
            retry = st["retries"].get(key)
            if retry is None:
                return []
            timer_seq = self._next_seq()
            fire_at = self.now + timedelta(milliseconds=retry["interval_ms"])
            st["retry_timers"][str(timer_seq)] = key
            self._add_timer(timer_seq, fire_at)
            return [h.event(h.TIMER_CREATED, self.now, timer_seq, FireAt=ts(fire_at))]
        if kind == h.TIMER_FIRED:
            key = st["retry_timers"].pop(str(ev.get("TimerId")), None)
            retry = st["retries"].pop(key, None) if key else None
            if retry is None or retry["attempt"] >= retry["max"]:
                return []  # the SDK now surfaces the last failure
            retry["attempt"] += 1
            seq = self._next_seq()
            st["retries"][str(seq)] = retry
            if retry["kind"] == "activity":
                return [self._schedule_activity(seq, retry["name"], retry["input"])]
            return [self._create_child(seq, retry["name"], retry["input"], retry["instance_id"])]
        return []

    # -- helpers --------------------------------------------------------------------------
    def _next_seq(self) -> int:
        seq = self.st["seq"]
        self.st["seq"] = seq + 1
        return seq

    def _message(self, instance_id: str, ev: dict[str, Any]) -> None:
        self.result.messages.append(Message(self.svc.new_id(), instance_id, ev))

    def _add_timer(self, seq: int, fire_at: datetime) -> None:
        timer = TimerRecord(
            id=self.svc.new_id(),
            instance_id=self.rec.instance_id,
            execution_id=self.rec.execution_id,
            fire_at=fire_at,
            event=h.event(h.TIMER_FIRED, fire_at, TimerId=seq, FireAt=ts(fire_at)),
        )
        self.st["timers"][str(seq)] = timer.id
        self.result.timers.append(timer)

    def _schedule_activity(self, seq: int, name: str, input_: str | None) -> dict[str, Any]:
        try:
            self.svc.index.activity(name)
        except UnknownFunction as exc:
            self._message(
                self.rec.instance_id,
                h.event(h.TASK_FAILED, self.now, TaskScheduledId=seq, Reason=str(exc), Details=""),
            )
        else:
            self.result.work.append(
                WorkItem(
                    self.svc.new_id(),
                    self.rec.instance_id,
                    self.rec.execution_id,
                    seq,
                    name,
                    input_,
                )
            )
        return h.event(h.TASK_SCHEDULED, self.now, seq, Name=name, Input=input_)

    def _create_child(
        self, seq: int, name: str, input_: str | None, instance_id: str | None
    ) -> dict[str, Any]:
        child_id = instance_id or uuid.uuid4().hex
        created = h.event(
            h.SUB_ORCHESTRATION_CREATED, self.now, seq, Name=name, InstanceId=child_id, Input=input_
        )
        reason = None
        if name not in self.svc.index.orchestrators:
            reason = str(UnknownFunction(f"no orchestrator function named '{name}'"))
        else:
            status = self.svc.instance_status(child_id)
            if status is not None and not status.is_terminal:
                reason = f"an instance with id '{child_id}' is already running"
        if reason:
            self._message(
                self.rec.instance_id,
                h.event(
                    h.SUB_ORCHESTRATION_FAILED,
                    self.now,
                    TaskScheduledId=seq,
                    Reason=reason,
                    Details="",
                ),
            )
            return created
        child = new_instance(
            name,
            child_id,
            input_,
            self.now,
            parent={
                "instance_id": self.rec.instance_id,
                "execution_id": self.rec.execution_id,
                "seq": seq,
            },
        )
        self.result.new_instances.append(child)
        self.result.messages.append(
            Message(self.svc.new_id(), child_id, started_event(child, self.now))
        )
        return created

    def _apply_new(self, action: dict[str, Any]) -> list[int]:
        """Apply one new (possibly compound) action; returns the sequence numbers it used."""
        used: list[int] = []
        for atom in atomic(action):
            kind = atom.get("actionType")
            if kind not in SEQ_ACTIONS:
                continue
            seq = self._next_seq()
            used.append(seq)
            self.appended.extend(self._applyatomic(seq, kind, atom))
        return used

    def _applyatomic(self, seq: int, kind: int, a: dict[str, Any]) -> list[dict[str, Any]]:
        rid = self.rec.instance_id
        if kind in (h.CALL_ACTIVITY, h.CALL_ACTIVITY_WITH_RETRY):
            if kind == h.CALL_ACTIVITY_WITH_RETRY:
                self.st["retries"][str(seq)] = retry_of(a, "activity")
            return [self._schedule_activity(seq, a["functionName"], a.get("input"))]
        if kind in (h.CALL_SUB_ORCHESTRATOR, h.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            child_id = a.get("instanceId") or None
            if kind == h.CALL_SUB_ORCHESTRATOR_WITH_RETRY:
                self.st["retries"][str(seq)] = {
                    **retry_of(a, "orchestrator"),
                    "instance_id": child_id,
                }
            return [self._create_child(seq, a["functionName"], a.get("input"), child_id)]
        if kind == h.CREATE_TIMER:
            fire_at = parse_time(a["fireAt"])
            if not a.get("isCanceled"):
                self._add_timer(seq, fire_at)
            return [h.event(h.TIMER_CREATED, self.now, seq, FireAt=ts(fire_at))]
        if kind in (h.CALL_ENTITY, h.SIGNAL_ENTITY):
            entity_id = str(a["instanceId"])
            op_id = str(uuid.uuid4())
            payload: dict[str, Any] = {
                "op": a.get("operation"),
                "id": op_id,
                "parent": rid,
                "input": a.get("input"),
            }
            if kind == h.SIGNAL_ENTITY:
                payload["signal"] = True
            self._queue_entity_op(entity_id, op_id, a, kind == h.SIGNAL_ENTITY)
            return [
                h.event(
                    h.EVENT_SENT,
                    self.now,
                    seq,
                    InstanceId=entity_id,
                    Name=a.get("operation"),
                    Input=json.dumps(payload),
                )
            ]
        raise NonDeterminism(  # CallHttp: the local host has no HTTP activity
            f"action {h.ACTION_NAMES.get(kind, kind)} is not supported by the local host"
        )

    def _queue_entity_op(self, entity_id: str, op_id: str, a: dict[str, Any], signal: bool) -> None:
        name = entity_id[1:].split("@", 1)[0] if entity_id.startswith("@") else entity_id
        try:
            self.svc.index.entity(name)
        except UnknownFunction as exc:
            if signal:
                log.warning("signal to %s dropped: %s", entity_id, exc)
                return
            body = json.dumps({"result": json.dumps(str(exc)), "exceptionType": "UnknownFunction"})
            self._message(
                self.rec.instance_id, h.event(h.EVENT_RAISED, self.now, Name=op_id, Input=body)
            )
            return
        op = {"name": a.get("operation"), "input": a.get("input"), "isSignal": signal, "id": op_id}
        if not signal:
            op["parent"] = self.rec.instance_id
            op["parentExecution"] = self.rec.execution_id
        self.result.entity_ops.append(EntityOp(self.svc.new_id(), entity_id.lower(), op))

    def _check_cancellations(self, action: dict[str, Any], seqs: list[int]) -> None:
        atoms = [a for a in atomic(action) if a.get("actionType") in SEQ_ACTIONS]
        for atom, seq in zip(atoms, seqs, strict=False):
            if atom.get("actionType") == h.CREATE_TIMER and atom.get("isCanceled"):
                timer_id = self.st["timers"].pop(str(seq), None)
                if timer_id is not None:
                    self.result.cancelled_timers.append(timer_id)

    # -- the episode ----------------------------------------------------------------------
    def run(self) -> EpisodeResult:
        try:
            return self._run()
        except Exception as exc:  # an engine bug must fail one instance, not the host
            log.exception("episode of %s crashed", self.rec.instance_id)
            self.result = EpisodeResult(record=self.rec)
            return self._fail(f"local host engine error: {exc!r}", None, [])

    def _run(self) -> EpisodeResult:
        rec, st = self.rec, self.st
        delivered = self._deliver()
        fi = self.svc.index.orchestrators.get(rec.name)
        if fi is None:
            return self._fail(f"no orchestrator function named '{rec.name}'", None, delivered)
        if len(delivered) == 1 and self.history:  # only held events: no replay needed
            return self._commit_quiet()
        new_texts = [json.dumps(ev, separators=(",", ":")) for ev in delivered]
        state, failure = self.svc.invoke(fi, rec, self.history, new_texts, delivered)
        if failure is not None:
            message = f"Orchestrator function '{rec.name}' failed: {failure}"
            return self._fail(message, state.get("error"), delivered)
        actions = [a for group in state.get("actions") or [] for a in (group or [])]
        try:
            self._apply_actions(actions, bool(state.get("isDone")))
        except NonDeterminism as exc:
            return self._fail(str(exc), None, delivered)
        if "customStatus" in state:
            rec.custom_status = json.dumps(state["customStatus"])
        can = next((a for a in actions if a.get("actionType") == h.CONTINUE_AS_NEW), None)
        if can is not None:
            return self._continue_as_new(can, delivered)
        if state.get("isDone"):
            output = json.dumps(state.get("output"))
            return self._finish(RuntimeStatus.Completed, output, delivered, result=output)
        rec.status = RuntimeStatus.Running
        st["wake"] = self._wake(actions, st.get("wake"))
        self._release_held()
        return self._commit(delivered)

    def _apply_actions(self, actions: list[dict[str, Any]], done: bool) -> None:
        st = self.st
        sigs, seqs = st["sigs"], st["seqs"]
        for i, action in enumerate(actions):
            sig = signature(action)
            if i < len(sigs):
                if sig != sigs[i]:
                    raise NonDeterminism(
                        f"Non-deterministic workflow detected: action #{i} was "
                        f"{describe(sigs[i])} in the history, but the orchestrator now "
                        f"schedules {describe(sig)} at that position"
                    )
                if has_timer(sig):
                    self._check_cancellations(action, seqs[i])
                continue
            self.last_new = i
            seqs.append(self._apply_new(action))
            sigs.append(sig)
        if len(actions) < len(sigs):
            missing = sigs[len(actions)]
            raise NonDeterminism(
                f"Non-deterministic workflow detected: action #{len(actions)} "
                f"{describe(missing)} is in the history, but the orchestrator "
                f"{'completed' if done else 'stopped'} without scheduling it"
            )

    def _wake(self, actions: list[dict[str, Any]], previous: list[int] | None) -> list[int] | None:
        """Sequence numbers of a blocking task_all of plain activities, else None (any event
        wakes the instance)."""
        if not actions:
            return None
        last = actions[-1]
        if last.get("actionType") != h.WHEN_ALL:
            return None
        children = last.get("compoundActions") or []
        if not children or any(c.get("actionType") != h.CALL_ACTIVITY for c in children):
            return None
        if self.last_new == len(actions) - 1:
            return list(self.st["seqs"][-1])  # just scheduled: all still running
        return previous

    def _events_text(
        self, delivered: list[dict[str, Any]], tail: list[dict[str, Any]]
    ) -> list[str]:
        return [h.dumps(ev, True) for ev in [*delivered, *self.appended, *tail]]

    def _commit(
        self, delivered: list[dict[str, Any]], tail: list[dict[str, Any]] | None = None
    ) -> EpisodeResult:
        rec, res = self.rec, self.result
        self.st["last_ts"] = ts(self.now)
        rec.updated = self.now
        texts = self._events_text(
            delivered, [*(tail or []), h.event(h.ORCHESTRATOR_COMPLETED, self.now)]
        )
        b = res.batch
        b.append_history.append((rec.instance_id, len(self.history), texts))
        res.history = self.history + texts
        if self.messages:
            b.delete_messages.append((rec.instance_id, max(m.id for m in self.messages)))
        b.put_instances[rec.instance_id] = rec
        for inst in res.new_instances:
            b.put_instances[inst.instance_id] = inst
        b.add_messages.extend(res.messages)
        b.add_work.extend(res.work)
        b.add_timers.extend(res.timers)
        b.delete_timers.extend(res.cancelled_timers)
        b.add_entity_ops.extend(res.entity_ops)
        return res

    def _commit_quiet(self) -> EpisodeResult:
        """Record held events (consumed messages, new state) without invoking the SDK."""
        res = self.result
        res.history = self.history
        if self.messages:
            res.batch.delete_messages.append(
                (self.rec.instance_id, max(m.id for m in self.messages))
            )
        res.batch.put_instances[self.rec.instance_id] = self.rec
        return res

    def _finish(
        self,
        status: RuntimeStatus,
        output: str | None,
        delivered: list[dict[str, Any]],
        result: str | None = None,
        reason: str | None = None,
        details: str | None = None,
    ) -> EpisodeResult:
        rec, res = self.rec, self.result
        rec.status = status
        rec.output = output
        res.finished = True
        res.cancelled_timers.extend(self.st["timers"].values())
        self.st["timers"] = {}
        self.st["wake"] = None
        if rec.parent:
            p = rec.parent
            if status == RuntimeStatus.Completed:
                ev = h.event(
                    h.SUB_ORCHESTRATION_COMPLETED, self.now, TaskScheduledId=p["seq"], Result=result
                )
            else:
                ev = h.event(
                    h.SUB_ORCHESTRATION_FAILED,
                    self.now,
                    TaskScheduledId=p["seq"],
                    Reason=reason,
                    Details=details,
                )
            ev[PARENT_EXECUTION] = p["execution_id"]
            self._message(p["instance_id"], ev)
        tail = h.event(1, self.now, OrchestrationStatus=status.value, Result=output)
        if status == RuntimeStatus.Failed:
            tail["FailureDetails"] = {"ErrorMessage": reason, "Details": details}
        return self._commit(delivered, [tail])

    def _fail(self, message: str, details: Any, delivered: list[dict[str, Any]]) -> EpisodeResult:
        log.warning(
            "orchestration %s (%s) failed: %s", self.rec.instance_id, self.rec.name, message
        )
        self.appended = []
        self.result.work.clear()
        self.result.timers.clear()
        self.result.entity_ops.clear()
        self.result.new_instances.clear()
        self.result.messages.clear()
        detail_text = (
            details if isinstance(details, str) or details is None else json.dumps(details)
        )
        self.rec.state["failure_details"] = detail_text
        return self._finish(
            RuntimeStatus.Failed,
            json.dumps(message),
            delivered,
            reason=message,
            details=detail_text,
        )

    def _continue_as_new(
        self, action: dict[str, Any], delivered: list[dict[str, Any]]
    ) -> EpisodeResult:
        rec, res = self.rec, self.result
        carried = self._unprocessed_events(action)
        res.cancelled_timers.extend(self.st["timers"].values())
        res.continued = True
        # The old execution's history is replaced: ContinueAsNew keeps histories bounded.
        res.batch.clear_history.append(rec.instance_id)
        self.history = []
        self.appended = []
        rec.execution_id = uuid.uuid4().hex
        rec.input = action.get("input")
        rec.status = RuntimeStatus.Running
        rec.output = None
        last_ts = ts(self.now)
        self.st.clear()
        self.st.update(fresh_state())
        self.st["last_ts"] = last_ts
        res.messages.append(
            Message(self.svc.new_id(), rec.instance_id, started_event(rec, self.now))
        )
        for name, input_ in carried:
            ev = h.event(h.EVENT_RAISED, self.now, Name=name, Input=input_)
            ev[h.EXTERNAL] = True
            res.messages.append(Message(self.svc.new_id(), rec.instance_id, ev))
        res.history = []
        b = res.batch
        if self.messages:
            b.delete_messages.append((rec.instance_id, max(m.id for m in self.messages)))
        b.put_instances[rec.instance_id] = rec
        b.add_messages.extend(res.messages)
        b.delete_timers.extend(res.cancelled_timers)
        b.add_entity_ops.extend(res.entity_ops)
        b.add_work.extend(res.work)
        # Work and children of the old execution are dropped by execution id when they finish.
        return res

    def _unprocessed_events(self, action: dict[str, Any]) -> list[list[Any]]:
        """External events delivered to this execution that no wait consumed, then the held
        ones (never delivered), oldest first."""
        waits = self._wait_counts()
        carried = []
        for name, input_ in self.st["ext"]:
            if waits.get(name, 0) > 0:
                waits[name] -= 1
            else:
                carried.append([name, input_])
        return carried + list(self.st.get("held") or [])


__all__ = [
    "PARENT_EXECUTION",
    "Episode",
    "EpisodeResult",
    "Services",
    "build_context",
    "fresh_state",
    "invoke_orchestrator",
    "new_instance",
    "started_event",
]
