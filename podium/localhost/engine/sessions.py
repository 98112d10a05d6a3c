"""How an episode invokes the SDK: full replay, or an extended session.

Full replay (:class:`FullReplay`) is the out-of-process protocol as the Functions host speaks
it: the whole history as JSON, every time; a chain of N steps costs O(N^2) event parses.

An extended session (:class:`ExtendedSessions`, like the Durable extension's
``extendedSessionsEnabled``) keeps the SDK's replay state (its ``TaskOrchestrationExecutor``,
context and suspended generator) in memory after an episode and, next time, hands it only the
new events, through the same ``process_event`` the SDK's own replay loop uses. Whenever the
session cannot be trusted (a restart, an eviction, an episode the engine discarded, another
execution) the engine falls back to a full replay, so a session is only ever an optimisation.
With ``verify=True`` every session episode is also fully replayed and compared (tests run
that way).
"""

from __future__ import annotations

import json
import logging
import traceback
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from azure.durable_functions.models.DurableOrchestrationContext import (
    DurableOrchestrationContext,
)
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent
from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor
from azure.durable_functions.orchestrator import Orchestrator
from dateutil.parser import parse as dt_parse
from dateutil.tz import tzutc

from podium.localhost.api import FunctionInfo
from podium.localhost.engine import logcontext
from podium.localhost.engine.model import InstanceRecord

log = logging.getLogger("podium.localhost.engine")

OUT_OF_PROC_MARKER = "$OutOfProcData$:"
EVENT_SENT = 14
Outcome = tuple[dict[str, Any], str | None]  # (orchestrator state, failure message or None)


_TS = "%Y-%m-%dT%H:%M:%S.%fZ"
_UTC = tzutc()


def _fast_event(data: dict[str, Any]) -> HistoryEvent:
    """``HistoryEvent(**data)`` without dateutil's slow generic parser (the engine writes one
    fixed timestamp format). Used only if it builds exactly what the SDK builds (checked once
    at import by :func:`_fast_events_match`)."""
    event = HistoryEvent.__new__(HistoryEvent)
    fields = dict(data)
    event._event_type = fields.pop("EventType")
    event._event_id = fields.pop("EventId")
    event._is_played = fields.pop("IsPlayed")
    stamp = fields.pop("Timestamp")
    try:
        event._timestamp = datetime.strptime(stamp, _TS).replace(tzinfo=_UTC)
    except ValueError:
        event._timestamp = dt_parse(stamp)
    event._is_processed = False
    event.Name = event.InstanceId = event.TaskScheduledId = None
    event.Reason = event.Details = event.Input = None
    for key, value in fields.items():
        setattr(event, key, value)
    return event


def _fast_events_match() -> bool:
    sample = {
        "EventType": 5,
        "EventId": -1,
        "IsPlayed": False,
        "Timestamp": "2026-01-02T03:04:05.123456Z",
        "TaskScheduledId": 3,
        "Result": "1",
    }
    try:
        return vars(_fast_event(sample)) == vars(HistoryEvent(**sample))
    except Exception:  # noqa: BLE001 - an SDK change: use the SDK's own constructor
        return False


_make_event = _fast_event if _fast_events_match() else (lambda data: HistoryEvent(**data))


class SessionMismatch(AssertionError):
    """A session episode differed from a full replay (only raised with ``verify=True``)."""


def build_context(rec: InstanceRecord, history: list[str]) -> str:
    """The orchestrator context JSON the SDK's ``Orchestrator.create`` wrapper expects."""
    parent = rec.parent["instance_id"] if rec.parent else None
    return (
        '{"history":['
        + ",".join(history)
        + '],"input":'
        + json.dumps(rec.input)
        + ',"instanceId":'
        + json.dumps(rec.instance_id)
        + ',"isReplaying":false,"parentInstanceId":'
        + json.dumps(parent)
        + ',"upperSchemaVersion":1,"upperSchemaVersionNew":2,'
        '"maximumShortTimerDuration":"6.00:00:00",'
        '"longRunningTimerIntervalDuration":"3.00:00:00",'
        '"defaultHttpAsyncRequestSleepTimeMillseconds":30000}'
    )


def _failure(exc: Exception) -> Outcome:
    """The SDK raises ``"<message>\\n\\n$OutOfProcData$:<state json>"`` when user code throws."""
    text = str(exc)
    cause = exc.__cause__  # the SDK raises "from" the user's exception
    if OUT_OF_PROC_MARKER in text:
        message, _, data = text.partition(OUT_OF_PROC_MARKER)
        try:
            state = json.loads(data)
        except ValueError:
            state = {}
        message = message.rstrip("\n") or type(exc).__name__
        if cause is not None:
            message = f"{type(cause).__name__}: {cause}"
            state["error"] = "".join(traceback.format_exception(cause))
        return state, message
    return {}, f"{type(exc).__name__}: {text}"


def invoke_orchestrator(fi: FunctionInfo, context_json: str) -> Outcome:
    """One full-replay invocation through the app's registered (SDK-made) function."""
    assert fi.user_function is not None
    with logcontext.invocation(fi.name):
        try:
            return json.loads(fi.user_function(context_json)), None
        except Exception as exc:  # noqa: BLE001 - user code failure is data here
            return _failure(exc)


class Invoker(Protocol):
    def __call__(
        self,
        fi: FunctionInfo,
        rec: InstanceRecord,
        history: list[str],
        new_texts: list[str],
        new_events: list[dict[str, Any]],
    ) -> Outcome: ...

    def committed(self, instance_id: str, execution_id: str, history_len: int) -> None: ...

    def forget(self, instance_id: str) -> None: ...


class FullReplay:
    """The plain protocol: the whole history on every invocation."""

    def __call__(
        self,
        fi: FunctionInfo,
        rec: InstanceRecord,
        history: list[str],
        new_texts: list[str],
        new_events: list[dict[str, Any]],
    ) -> Outcome:
        return invoke_orchestrator(fi, build_context(rec, history + new_texts))

    def committed(self, instance_id: str, execution_id: str, history_len: int) -> None:
        return None

    def forget(self, instance_id: str) -> None:
        return None


@dataclass
class _Session:
    fi: FunctionInfo
    executor: TaskOrchestrationExecutor
    context: DurableOrchestrationContext
    execution_id: str
    seen_len: int  # history events the executor has processed
    history_len: int = -1  # stored history length this state matches; -1 until committed


class ExtendedSessions:
    """Replay state kept in memory between episodes (LRU of ``capacity`` instances)."""

    def __init__(self, capacity: int = 10_000, verify: bool = False) -> None:
        self.capacity = capacity
        self.verify = verify
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __call__(
        self,
        fi: FunctionInfo,
        rec: InstanceRecord,
        history: list[str],
        new_texts: list[str],
        new_events: list[dict[str, Any]],
    ) -> Outcome:
        session = self._sessions.pop(rec.instance_id, None)
        usable = (
            session is not None
            and session.fi is fi
            and session.execution_id == rec.execution_id
            and session.history_len == len(history)
        )
        if usable:
            assert session is not None
            self.hits += 1
            # events the engine appended after the last call (TaskScheduled, EventSent...)
            # were part of that episode; the SDK's own replay processes them as old events
            # (only EventSent matters: process_event ignores TaskScheduled, TimerCreated...)
            tail = [
                event
                for event in map(json.loads, history[session.seen_len :])
                if event["EventType"] == EVENT_SENT
            ]
            outcome = self._continue(session, tail, new_events)
            session.seen_len = len(history) + len(new_texts)
        else:
            self.misses += 1
            session, outcome = self._start(fi, rec, build_context(rec, history + new_texts))
            if session is not None:
                session.seen_len = len(history) + len(new_texts)
        if self.verify:
            full = invoke_orchestrator(fi, build_context(rec, history + new_texts))
            if _comparable(full) != _comparable(outcome):
                raise SessionMismatch(
                    f"extended session of {rec.instance_id} diverged from a full replay:\n"
                    f"session: {outcome}\nreplay:  {full}"
                )
        state, failure = outcome
        if session is not None and failure is None and not state.get("isDone"):
            self._sessions[rec.instance_id] = session
            while len(self._sessions) > self.capacity:
                self._sessions.popitem(last=False)
        return outcome

    def committed(self, instance_id: str, execution_id: str, history_len: int) -> None:
        session = self._sessions.get(instance_id)
        if session is not None:
            if session.execution_id == execution_id:
                session.history_len = history_len
            else:
                self._sessions.pop(instance_id, None)

    def forget(self, instance_id: str) -> None:
        self._sessions.pop(instance_id, None)

    def _start(
        self, fi: FunctionInfo, rec: InstanceRecord, context_json: str
    ) -> tuple[_Session | None, Outcome]:
        wrapper = fi.user_function
        fn = getattr(wrapper, "orchestrator_function", None)
        if fn is None:  # not made by Orchestrator.create: no session, plain invocation
            return None, invoke_orchestrator(fi, context_json)
        with logcontext.invocation(fi.name):
            # What Orchestrator.create's wrapper does, keeping the objects it would discard.
            ctx = DurableOrchestrationContext.from_json(context_json)
            ctx._input_expected_type = getattr(wrapper, "_df_input_type", None)
            orchestrator = Orchestrator(fn)
            try:
                text = orchestrator.handle(ctx)
            except Exception as exc:  # noqa: BLE001
                return None, _failure(exc)
        session = _Session(fi, orchestrator.task_orchestration_executor, ctx, rec.execution_id, 0)
        return session, (json.loads(text), None)

    def _continue(
        self, session: _Session, old: list[dict[str, Any]], new: list[dict[str, Any]]
    ) -> Outcome:
        executor, ctx = session.executor, session.context
        played = [_make_event({**e, "IsPlayed": True}) for e in old]
        fresh = [_make_event({**e, "IsPlayed": False}) for e in new]
        ctx.histories.extend(played + fresh)
        with logcontext.invocation(session.fi.name):
            try:
                for is_new, events in ((False, played), (True, fresh)):
                    executor._is_processing_new_events = is_new
                    for event in events:
                        executor.process_event(event)
                        if executor.has_execution_completed:
                            break
                return json.loads(executor.get_orchestrator_state_str()), None
            except Exception as exc:  # noqa: BLE001
                return _failure(exc)


def _comparable(outcome: Outcome) -> Any:
    state, failure = outcome
    if failure is not None:
        # tracebacks differ in frames; the message and the actions must match
        return failure.splitlines()[0] if failure else failure, state.get("actions")
    return state
