"""The transport boundary of agent workers, and the loop that drives workers over it.

Why a protocol: the binding to the local host's embedded broker and to Azure Service Bus
belongs to the host, not to the agents. A transport only has to receive task messages (for the
agents this process hosts), settle them, and send results. Settlement happens after the answer
was sent, so a crash in between leads to a redelivery, which the worker's memo absorbs.

Two transports live here because they need nothing else: ``MemoryTransport`` (in-process
queues, for tests and embedding) and ``JsonLinesTransport`` (tasks as JSON lines on stdin,
results as JSON lines on stdout, so any parent process can drive an agent process).
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, runtime_checkable

from podium.agents.worker import AgentWorker, ProcessOutcome
from podium.topology import PROP_AGENT_ID

log = logging.getLogger("podium.agents.transport")


@dataclass
class InboundMessage:
    """One received task message. ``handle`` is whatever the transport needs to settle it."""

    body: Any
    properties: dict[str, Any] = field(default_factory=dict)
    handle: Any = None


@runtime_checkable
class Transport(Protocol):
    """What a worker host needs from a message broker."""

    def receive(self, max_messages: int, timeout: float) -> list[InboundMessage]:
        """Up to ``max_messages`` task messages, waiting at most ``timeout`` seconds."""

    def complete(self, message: InboundMessage) -> None:
        """Settle a message: it was answered (or deliberately left unanswered)."""

    def dead_letter(self, message: InboundMessage, reason: str) -> None:
        """Settle a message nobody can answer (malformed, or for an agent not hosted)."""

    def send(self, envelope: dict[str, Any]) -> None:
        """Publish a result envelope (Acknowledged / Completed / Failed) to the results queue."""


class MemoryTransport:
    """In-process queues: ``put_task`` in, ``results`` out. Thread-safe."""

    def __init__(self) -> None:
        self._tasks: queue.Queue[InboundMessage] = queue.Queue()
        self.results: list[dict[str, Any]] = []
        self.dead_lettered: list[tuple[InboundMessage, str]] = []
        self.completed: list[InboundMessage] = []
        self._lock = threading.Lock()
        self._results_changed = threading.Condition(self._lock)

    def put_task(self, envelope: Any, properties: dict[str, Any] | None = None) -> None:
        props = dict(properties or {})
        payload = envelope.get("payload") if isinstance(envelope, dict) else None
        if isinstance(payload, dict) and PROP_AGENT_ID not in props:
            props[PROP_AGENT_ID] = payload.get("agentId")
        self._tasks.put(InboundMessage(envelope, props))

    def receive(self, max_messages: int, timeout: float) -> list[InboundMessage]:
        try:
            first = self._tasks.get(timeout=timeout)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < max_messages:
            try:
                batch.append(self._tasks.get_nowait())
            except queue.Empty:
                break
        return batch

    def complete(self, message: InboundMessage) -> None:
        with self._lock:
            self.completed.append(message)

    def dead_letter(self, message: InboundMessage, reason: str) -> None:
        with self._lock:
            self.dead_lettered.append((message, reason))

    def send(self, envelope: dict[str, Any]) -> None:
        with self._results_changed:
            self.results.append(envelope)
            self._results_changed.notify_all()

    def wait_for_results(self, predicate: Any, timeout: float) -> bool:
        """Block until ``predicate(results)`` holds (tests and embedding hosts)."""
        with self._results_changed:
            return self._results_changed.wait_for(lambda: predicate(self.results), timeout)


class JsonLinesTransport:
    """Tasks as JSON lines on an input stream, results as JSON lines on an output stream.

    End of input means "no more tasks": the run loop drains in-flight work and stops.
    """

    def __init__(self, stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> None:
        self._in = stdin or sys.stdin
        self._out = stdout or sys.stdout
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._write_lock = threading.Lock()
        self.closed = threading.Event()
        reader = threading.Thread(target=self._read, name="podium-agents-stdin", daemon=True)
        reader.start()

    def _read(self) -> None:
        for line in self._in:
            if line.strip():
                self._lines.put(line)
        self._lines.put(None)

    def receive(self, max_messages: int, timeout: float) -> list[InboundMessage]:
        batch: list[InboundMessage] = []
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return batch
        while True:
            if line is None:
                self.closed.set()
                return batch
            try:
                body: Any = json.loads(line)
            except json.JSONDecodeError as exc:
                body = {"_unparseable": line.strip()[:200], "_error": str(exc)}
            batch.append(InboundMessage(body))
            if len(batch) >= max_messages:
                return batch
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return batch

    def complete(self, message: InboundMessage) -> None:
        """Nothing to settle on a stream."""

    def dead_letter(self, message: InboundMessage, reason: str) -> None:
        log.warning("dead-lettered task line: %s", reason)
        self.send({"eventType": "DeadLettered", "reason": reason})

    def send(self, envelope: dict[str, Any]) -> None:
        with self._write_lock:
            self._out.write(json.dumps(envelope) + "\n")
            self._out.flush()


def _agent_of(message: InboundMessage) -> str | None:
    agent = message.properties.get(PROP_AGENT_ID)
    if isinstance(agent, str):
        return agent
    body = message.body
    if isinstance(body, dict) and isinstance(body.get("payload"), dict):
        value = body["payload"].get("agentId")
        return value if isinstance(value, str) else None
    return None


OnOutcome = Callable[[InboundMessage, ProcessOutcome], None]


def handle_message(workers: Mapping[str, AgentWorker], transport: Transport,
                   message: InboundMessage, on_outcome: OnOutcome | None = None
                   ) -> ProcessOutcome | None:
    """Route one message to its worker, answer it, settle it. Never raises on bad input.

    ``on_outcome`` sees every processed message (e.g. a benchmark summing ``handler_ms``).
    """
    agent_id = _agent_of(message)
    worker = workers.get(agent_id or "")
    if worker is None:
        transport.dead_letter(message, f"NoWorker: no agent {agent_id!r} in this host")
        return None
    try:
        outcome = worker.process(message.body, transport.send)
    except Exception:  # noqa: BLE001 - sending failed; leave unsettled so it is redelivered
        log.exception("could not answer a task for %s; leaving it for redelivery", agent_id)
        return None
    if outcome.status == "rejected":
        transport.dead_letter(message, outcome.error or "rejected")
    else:
        transport.complete(message)
    if on_outcome is not None:
        on_outcome(message, outcome)
    return outcome


def _settled(future: Future[ProcessOutcome | None]) -> None:
    """Log what a task thread raised (settling failed): the message will be redelivered."""
    error = future.exception()
    if error is not None:
        log.error("settling a task message failed: %r", error, exc_info=error)


def run_workers(workers: Mapping[str, AgentWorker], transport: Transport,
                stop: threading.Event, *, concurrency: int = 4, poll_timeout: float = 0.5,
                stop_when_closed: threading.Event | None = None,
                on_outcome: OnOutcome | None = None) -> int:
    """Receive and process tasks until ``stop`` is set; then drain in-flight work.

    Returns how many messages were handled. Graceful shutdown means: stop receiving, let
    every task already running answer and settle, then return. ``stop_when_closed`` lets a
    finite transport (a stream) end the loop once its input is exhausted.
    """
    handled = 0
    in_flight: set[Future[ProcessOutcome | None]] = set()
    finished = threading.Event()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="podium-agent") as pool:
        while not stop.is_set():
            free = concurrency - len(in_flight)
            if free <= 0:
                finished.wait(poll_timeout)
                finished.clear()
                in_flight = {f for f in in_flight if not f.done()}
                continue
            try:
                batch = transport.receive(free, poll_timeout)
            except Exception:  # noqa: BLE001 - a broker hiccup must not kill the agent host
                log.exception("receive failed; retrying in %.1f s", poll_timeout)
                stop.wait(poll_timeout)
                continue
            for message in batch:
                future = pool.submit(handle_message, workers, transport, message, on_outcome)
                future.add_done_callback(_settled)
                future.add_done_callback(lambda _f: finished.set())
                in_flight.add(future)
                handled += 1
            in_flight = {f for f in in_flight if not f.done()}
            if not batch and stop_when_closed is not None and stop_when_closed.is_set():
                break
    return handled


class AgentHost:
    """Runs ``run_workers`` on a background thread: the in-process host of the local host.

    ``start()`` returns immediately; ``stop()`` stops receiving, waits for running tasks to
    answer, and joins the thread.
    """

    def __init__(self, workers: Mapping[str, AgentWorker], transport: Transport, *,
                 concurrency: int = 4, poll_timeout: float = 0.2,
                 on_outcome: OnOutcome | None = None) -> None:
        self.workers = workers
        self.transport = transport
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=run_workers, args=(workers, transport, self._stop),
            kwargs={"concurrency": concurrency, "poll_timeout": poll_timeout,
                    "on_outcome": on_outcome},
            name="podium-agent-host", daemon=True)

    def start(self) -> AgentHost:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> AgentHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
