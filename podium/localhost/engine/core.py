"""The local host's durable task engine (implements ``podium.localhost.api.DurableEngine``).

One dispatcher thread owns the queues. Each step it (1) records finished activities and due
timers as messages, (2) runs a batch of orchestration episodes and entity batches, (3) commits
everything in ONE store transaction, and only then (4) starts the activities, timers and
messages that transaction enabled. User code of orchestrators and entities runs on the
dispatcher thread (the SDK's orchestrator objects are not thread-safe, and replay is CPU-bound
Python, so more threads would not help); activities run in :class:`ActivityRunner`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from podium.localhost.api import (
    Clock,
    RuntimeStatus,
)
from podium.localhost.clock import SystemClock
from podium.localhost.engine import history as h
from podium.localhost.engine import logcontext
from podium.localhost.engine.activities import ActivityRunner, completion
from podium.localhost.engine.client_api import EngineApi
from podium.localhost.engine.entities import run_entity_batch, split_entity_id
from podium.localhost.engine.episode import (
    PARENT_EXECUTION,
    Episode,
    EpisodeResult,
    Services,
)
from podium.localhost.engine.model import (
    EntityOp,
    EntityRecord,
    InstanceRecord,
    Message,
    TimerRecord,
    WorkItem,
    WriteBatch,
)
from podium.localhost.engine.sessions import ExtendedSessions, FullReplay, Invoker
from podium.localhost.engine.store import DurableStore
from podium.localhost.engine.workers import worker_count
from podium.localhost.functions import FunctionIndex

log = logging.getLogger("podium.localhost.engine")


@dataclass
class EngineOptions:
    """Engine settings; the host fills them from host.json / app settings.

    ``max_concurrent_activities`` is host.json ``extensions.durableTask.
    maxConcurrentActivityFunctions``; ``max_concurrent_orchestrations`` is
    ``maxConcurrentOrchestratorFunctions`` (episodes run one at a time on the dispatcher
    thread, which never exceeds it; it bounds how many are batched per transaction).
    ``thread_count`` defaults to ``PYTHON_THREADPOOL_THREAD_COUNT``.
    """

    task_hub: str = "TestHubName"
    max_concurrent_activities: int = 10 * 4
    max_concurrent_orchestrations: int = 100
    thread_count: int | None = None
    # FUNCTIONS_WORKER_PROCESS_COUNT (None: read the environment); > 1 runs activities in
    # worker processes that import ``app_path`` ("path/to/function_app.py[:attribute]").
    worker_processes: int | None = None
    app_path: str | None = None
    entity_batch_size: int = 1000
    # Keep each orchestration's SDK replay state between episodes (see sessions.py);
    # verify_sessions also replays fully every time and fails loudly on any difference.
    extended_sessions: bool = True
    session_capacity: int = 10_000
    verify_sessions: bool = False


class Engine(EngineApi):
    """See module docstring. Thread-safe; API methods (``client_api.py``) commit before they
    return."""

    def __init__(
        self,
        index: FunctionIndex,
        store: DurableStore,
        clock: Clock | None = None,
        options: EngineOptions | None = None,
    ) -> None:
        self.index = index
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.options = options or EngineOptions()
        self.task_hub = self.options.task_hub
        self._cond = threading.Condition(threading.RLock())
        self._instances: dict[str, InstanceRecord] = {}
        self._histories: dict[str, list[str]] = {}
        self._inbox: dict[str, list[Message]] = {}
        self._wake: dict[str, tuple[set[int], int, bool]] = {}  # seqs, hits, other
        self._ready: dict[str, None] = {}
        self._running: set[str] = set()
        self._activity_queue: deque[WorkItem] = deque()
        self._in_flight = 0
        self._completions: deque[tuple[WorkItem, dict[str, Any]]] = deque()
        self._timers: list[tuple[datetime, int, TimerRecord]] = []
        self._cancelled_timers: set[int] = set()
        self._entity_ops: dict[str, list[EntityOp]] = {}
        self._entity_ready: dict[str, None] = {}
        self._entities: dict[str, EntityRecord | None] = {}
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._stepping = False  # a step holds drained work outside the queues
        processes = self.options.worker_processes or worker_count()
        if processes > 1 and not self.options.app_path:
            log.warning("FUNCTIONS_WORKER_PROCESS_COUNT=%d ignored: no app path given", processes)
        self._runner = ActivityRunner(
            self.clock.now, self.options.thread_count, processes, self.options.app_path
        )
        self._unsubscribe = None
        subscribe = getattr(self.clock, "subscribe", None)
        if subscribe is not None:
            self._unsubscribe = subscribe(self._wake_up)
        self._invoker: Invoker = (
            ExtendedSessions(self.options.session_capacity, self.options.verify_sessions)
            if self.options.extended_sessions
            else FullReplay()
        )
        self._svc = Services(index, self._new_id, self._instance_status, self._invoker)
        logcontext.install()
        self._recover()

    # -- start-up -------------------------------------------------------------------------
    def _recover(self) -> None:
        """Rebuild the in-memory queues from the store: continue where the last run stopped."""
        pending = self.store.load_pending()
        self._ids = itertools.count(pending.max_id + 1)
        batch = WriteBatch()
        for rec in pending.instances:
            self._instances[rec.instance_id] = rec
        for msg in pending.messages:
            rec = self._instances.get(msg.instance_id)
            target = msg.event.get(PARENT_EXECUTION)
            if rec is not None and target in (None, rec.execution_id):
                self._inbox.setdefault(msg.instance_id, []).append(msg)
            else:
                batch.delete_messages.append((msg.instance_id, msg.id))
        for item in pending.work:
            rec = self._instances.get(item.instance_id)
            if rec and rec.execution_id == item.execution_id:
                self._activity_queue.append(item)  # at-least-once: re-run unrecorded work
            else:
                batch.delete_work.append(item.id)
        for timer in pending.timers:
            heapq.heappush(self._timers, (timer.fire_at, timer.id, timer))
        for op in pending.entity_ops:
            self._entity_ops.setdefault(op.entity_id, []).append(op)
            self._entity_ready[op.entity_id] = None
        self.store.apply(batch)
        for instance_id in list(self._inbox):
            self._reset_wake(instance_id)
        if pending.instances:
            log.info(
                "recovered %d instances, %d messages, %d activities, %d timers, %d entity ops",
                len(pending.instances),
                len(pending.messages),
                len(self._activity_queue),
                len(pending.timers),
                len(pending.entity_ops),
            )

    def _new_id(self) -> int:
        return next(self._ids)

    def _instance_status(self, instance_id: str) -> RuntimeStatus | None:
        rec = self._instances.get(instance_id)
        if rec is not None:
            return rec.status
        stored = self.store.get_instance(instance_id)
        return stored.status if stored else None

    def _wake_up(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # -- readiness --------------------------------------------------------------------------
    def _reset_wake(self, instance_id: str) -> None:
        rec = self._instances.get(instance_id)
        wake = rec.state.get("wake") if rec else None
        seqs = set(wake) if wake else set()
        self._wake[instance_id] = (seqs, 0, not seqs)
        for msg in self._inbox.get(instance_id, []):
            self._count(instance_id, msg)
        self._update_ready(instance_id)

    def _count(self, instance_id: str, msg: Message) -> None:
        seqs, hits, other = self._wake.get(instance_id, (set(), 0, True))
        ev = msg.event
        if ev["EventType"] == h.TASK_COMPLETED and ev.get("TaskScheduledId") in seqs:
            hits += 1
        else:
            other = True
        self._wake[instance_id] = (seqs, hits, other)

    def _update_ready(self, instance_id: str) -> None:
        rec = self._instances.get(instance_id)
        ready = False
        if (
            rec is not None
            and self._inbox.get(instance_id)
            and rec.status in (RuntimeStatus.Pending, RuntimeStatus.Running)
            and instance_id not in self._running
        ):
            seqs, hits, other = self._wake.get(instance_id, (set(), 0, True))
            ready = other or hits >= len(seqs)
        if ready:
            self._ready[instance_id] = None
        else:
            self._ready.pop(instance_id, None)

    def _deliver(self, msg: Message) -> None:
        """Put a committed message in its instance's inbox (or drop it if stale)."""
        rec = self._instances.get(msg.instance_id)
        parent_exec = msg.event.get(PARENT_EXECUTION)
        if rec is None or (parent_exec and parent_exec != rec.execution_id):
            return
        self._inbox.setdefault(msg.instance_id, []).append(msg)
        self._count(msg.instance_id, msg)
        self._update_ready(msg.instance_id)

    def _queue_entity_op(self, op: EntityOp) -> None:
        self._entity_ops.setdefault(op.entity_id, []).append(op)
        self._entity_ready[op.entity_id] = None

    # -- the dispatcher -------------------------------------------------------------------
    def _runnable(self) -> bool:
        return bool(
            self._ready
            or self._entity_ready
            or self._completions
            or (self._timers and self._timers[0][0] <= self.clock.now())
        )

    def _idle(self) -> bool:
        return not (
            self._stepping
            or self._runnable()
            or self._running
            or self._activity_queue
            or self._in_flight
        )

    def step(self) -> bool:
        """One dispatcher step; returns whether it did anything."""
        with self._cond:
            self._stepping = True
            batch = WriteBatch()
            delivered: list[Message] = []
            self._drain_completions(batch, delivered)
            self._fire_timers(batch, delivered)
            limit = max(1, self.options.max_concurrent_orchestrations)
            picked = list(itertools.islice(self._ready, limit))
            snapshots = []
            for instance_id in picked:
                del self._ready[instance_id]
                self._running.add(instance_id)
                rec = self._instances[instance_id]
                snapshots.append(
                    (
                        rec,
                        rec.version,
                        self._histories.get(instance_id),
                        list(self._inbox[instance_id]),
                    )
                )
            entities = list(self._entity_ready)
            self._entity_ready.clear()
            entity_work = [
                (e, self._entity_ops[e][: self.options.entity_batch_size]) for e in entities
            ]
        if batch.is_empty() and not snapshots and not entity_work:
            with self._cond:
                self._stepping = False
            return False
        try:
            return self._finish_step(batch, delivered, snapshots, entity_work)
        finally:
            with self._cond:
                self._stepping = False
                self._cond.notify_all()

    def _finish_step(
        self,
        batch: WriteBatch,
        delivered: list[Message],
        snapshots: list[tuple[InstanceRecord, int, list[str] | None, list[Message]]],
        entity_work: list[tuple[str, list[EntityOp]]],
    ) -> bool:
        results = []
        for rec, version, history, messages in snapshots:
            if history is None:
                history = self.store.get_history(rec.instance_id)
            now = self.clock.now()
            result = Episode(self._svc, rec, history, messages, now).run()
            results.append((rec, version, messages, result))
        entity_results = [self._run_entity(e, ops) for e, ops in entity_work]
        with self._cond:
            accepted = []
            for rec, version, messages, result in results:
                self._running.discard(rec.instance_id)
                current = self._instances.get(rec.instance_id)
                if current is None or current.version != version:
                    self._invoker.forget(rec.instance_id)
                    if current is not None:  # suspended meanwhile: retry after resume
                        self._reset_wake(rec.instance_id)
                    continue
                batch.merge(result.batch)
                accepted.append((messages, result))
            for entity_id, ops, record, responses in entity_results:
                batch.put_entities.append(record)
                batch.delete_entity_ops.append((entity_id, ops[-1].id))
                for op, ev in responses:
                    msg = Message(self._new_id(), op["parent"], ev)
                    ev[PARENT_EXECUTION] = op.get("parentExecution")
                    batch.add_messages.append(msg)
                    delivered.append(msg)
            try:
                self.store.apply(batch)
            except Exception:
                log.exception("store commit failed; stopping the engine")
                self._stopping = True
                raise
            for messages, result in accepted:
                self._apply_result(messages, result)
            for entity_id, ops, record, _ in entity_results:
                self._entities[entity_id] = record
                queue = self._entity_ops.get(entity_id, [])
                del queue[: len(ops)]
                if queue:
                    self._entity_ready[entity_id] = None
                else:
                    self._entity_ops.pop(entity_id, None)
            for msg in delivered:
                self._deliver(msg)
            self._dispatch_activities()
            self._cond.notify_all()
        return True

    def _run_entity(
        self, entity_id: str, ops: list[EntityOp]
    ) -> tuple[str, list[EntityOp], EntityRecord, list[tuple[dict[str, Any], dict[str, Any]]]]:
        if entity_id not in self._entities:
            self._entities[entity_id] = self.store.get_entity(entity_id)
        name, _ = split_entity_id(entity_id)
        fi = self.index.entities.get(name.lower())  # None: the app no longer has it
        record, responses = run_entity_batch(
            fi, entity_id, self._entities[entity_id], ops, self.clock.now()
        )
        return entity_id, ops, record, responses

    def _drain_completions(self, batch: WriteBatch, delivered: list[Message]) -> None:
        while self._completions:
            item, event = self._completions.popleft()
            batch.delete_work.append(item.id)
            rec = self._instances.get(item.instance_id)
            if rec is None or rec.execution_id != item.execution_id:
                continue  # instance ended or continued as new: the result is not needed
            event[PARENT_EXECUTION] = item.execution_id  # dropped if it continued as new
            msg = Message(self._new_id(), item.instance_id, event)
            batch.add_messages.append(msg)
            delivered.append(msg)

    def _fire_timers(self, batch: WriteBatch, delivered: list[Message]) -> None:
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            _, timer_id, timer = heapq.heappop(self._timers)
            if timer_id in self._cancelled_timers:
                self._cancelled_timers.discard(timer_id)
                continue
            batch.delete_timers.append(timer_id)
            rec = self._instances.get(timer.instance_id)
            if rec is None or rec.execution_id != timer.execution_id:
                continue
            event = {**timer.event, PARENT_EXECUTION: timer.execution_id}
            msg = Message(self._new_id(), timer.instance_id, event)
            batch.add_messages.append(msg)
            delivered.append(msg)

    def _apply_result(self, consumed: list[Message], result: EpisodeResult) -> None:
        rec = result.record
        instance_id = rec.instance_id
        old = self._instances.get(instance_id)
        if old is not None:
            rec.version = old.version
        inbox = self._inbox.get(instance_id, [])
        del inbox[: len(consumed)]
        if result.continued:  # results addressed to the old execution are not needed
            inbox[:] = [
                m for m in inbox if m.event.get(PARENT_EXECUTION) in (None, rec.execution_id)
            ]
        if result.finished:
            self._invoker.forget(instance_id)
            self._instances.pop(instance_id, None)
            self._histories.pop(instance_id, None)
            self._inbox.pop(instance_id, None)
            self._wake.pop(instance_id, None)
            self._ready.pop(instance_id, None)
        else:
            self._instances[instance_id] = rec
            self._histories[instance_id] = result.history
            self._invoker.committed(instance_id, rec.execution_id, len(result.history))
        self._cancelled_timers.update(result.cancelled_timers)
        for child in result.new_instances:
            self._instances[child.instance_id] = child
            self._histories[child.instance_id] = []
            self._inbox[child.instance_id] = []
        for timer in result.timers:
            heapq.heappush(self._timers, (timer.fire_at, timer.id, timer))
        self._activity_queue.extend(result.work)
        for op in result.entity_ops:
            self._queue_entity_op(op)
        if not result.finished:
            self._reset_wake(instance_id)
        for msg in result.messages:
            self._deliver(msg)

    def _dispatch_activities(self) -> None:
        limit = max(1, self.options.max_concurrent_activities)
        while self._activity_queue and self._in_flight < limit:
            item = self._activity_queue.popleft()
            rec = self._instances.get(item.instance_id)
            fi = self.index.activities.get(item.name)
            if rec is None or rec.execution_id != item.execution_id:
                # the instance ended or continued as new: nobody needs this result
                self._completions.append((item, {"EventType": h.TASK_FAILED}))
                continue
            if fi is None:  # the app no longer has it (changed code after a restart)
                error = LookupError(f"no activity function named '{item.name}'")
                self._completions.append((item, completion(item, self.clock.now(), error=error)))
                continue
            self._in_flight += 1
            self._runner.submit(fi, item, self._activity_done)

    def _activity_done(self, item: WorkItem, event: dict[str, Any]) -> None:
        with self._cond:
            self._in_flight -= 1
            self._completions.append((item, event))
            self._dispatch_activities()
            self._cond.notify_all()

    def _next_timer_delay(self) -> float | None:
        if not self._timers or getattr(self.clock, "is_virtual", False):
            return None
        delay = (self._timers[0][0] - self.clock.now()).total_seconds()
        return max(0.0, delay)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
            try:
                did = self.step()
            except Exception:  # noqa: BLE001 - keep serving; the failure is logged
                log.exception("engine step failed")
                did = False
            if did:
                continue
            with self._cond:
                if self._stopping:
                    return
                if self._runnable():
                    continue
                self._cond.notify_all()  # idle waiters
                delay = self._next_timer_delay()
                self._cond.wait(min(delay, 1.0) if delay is not None else 1.0)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._dispatch_activities()
            self._thread = threading.Thread(target=self._loop, name="podium-engine", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=30)
        self._runner.shutdown()
        if self._unsubscribe:
            self._unsubscribe()

    def wait_for_idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is runnable now (timers in the future may remain)."""
        if self._thread is None:
            return self.run_until_idle(timeout)
        with self._cond:
            return self._cond.wait_for(self._idle, timeout)

    def run_until_idle(self, timeout: float = 30.0) -> bool:
        """Drive the engine on the calling thread (no dispatcher thread) until idle: for an
        in-process test fixture with a virtual clock. Returns False on timeout."""
        if self._thread is not None:
            return self.wait_for_idle(timeout)
        deadline = _monotonic() + timeout
        with self._cond:
            self._dispatch_activities()
        while _monotonic() < deadline:
            if self.step():
                continue
            with self._cond:
                if self._idle():
                    return True
                if not self._runnable():
                    self._cond.wait(min(0.5, max(0.0, deadline - _monotonic())))
        return False

    def next_timer(self) -> datetime | None:
        """When the earliest pending durable timer fires (tests advance a virtual clock to it)."""
        with self._cond:
            live = [t for t in self._timers if t[1] not in self._cancelled_timers]
            return min(live)[0] if live else None


def _monotonic() -> float:
    import time

    return time.monotonic()


__all__ = ["Engine", "EngineOptions"]
