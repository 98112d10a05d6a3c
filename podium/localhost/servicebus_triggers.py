"""Service Bus trigger functions fed by the embedded broker.

One pump per function with a ``serviceBusTrigger`` binding (``queueName``, or ``topicName`` +
``subscriptionName``; ``%Setting%`` names are resolved from app settings). A pump peek-locks up
to ``extensions.serviceBus.maxConcurrentCalls`` messages at a time, hands each to the function
as a real ``func.ServiceBusMessage`` (or ``str`` / ``bytes`` when the parameter is annotated so;
a list of them with ``cardinality="many"``, up to ``extensions.serviceBus.maxMessageBatchSize``),
and settles it the way the Functions host does with ``autoCompleteMessages``:

* the function returns: the message is completed;
* the function raises: the message is abandoned (the error is logged with the invocation id),
  so it is redelivered, and after the entity's max delivery count it lands in the dead-letter
  queue with reason ``MaxDeliveryCountExceeded`` and the last error in the description.

Locks are renewed while a function runs. A failing function never stops its pump.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import typing
from collections.abc import Callable
from typing import Any

from azure.functions.servicebus import ServiceBusMessage

from podium.localhost.api import FunctionInfo
from podium.localhost.broker import Broker, BrokerError, MessageLockLost, ReceivedMessage
from podium.localhost.broker.broker import subscription_path
from podium.localhost.invocation import Invoker, binding_of

log = logging.getLogger("podium.localhost.servicebus")


def resolve_setting(value: str, settings: Callable[[str], str | None]) -> str:
    """``%Name%`` means the value of app setting Name, as in Functions binding expressions."""
    if len(value) > 2 and value.startswith("%") and value.endswith("%"):
        resolved = settings(value[1:-1])
        if resolved is None:
            raise ValueError(f"binding refers to app setting {value[1:-1]!r}, which is not set")
        return resolved
    return value


def trigger_path(info: FunctionInfo, settings: Callable[[str], str | None]) -> str:
    """The entity path a Service Bus trigger function receives from."""
    b = info.trigger_binding
    if b.get("queueName"):
        return resolve_setting(b["queueName"], settings)
    if b.get("topicName") and b.get("subscriptionName"):
        return subscription_path(resolve_setting(b["topicName"], settings),
                                 resolve_setting(b["subscriptionName"], settings))
    raise ValueError(f"function {info.name!r}: serviceBusTrigger needs queueName or "
                     "topicName + subscriptionName")


def to_function_message(msg: ReceivedMessage) -> ServiceBusMessage:
    """A real ``azure.functions.ServiceBusMessage`` for a locked broker message."""
    props = dict(msg.application_properties)
    metadata = {
        "MessageId": msg.message_id,
        "CorrelationId": msg.correlation_id,
        "DeliveryCount": msg.delivery_count,
        "SequenceNumber": msg.sequence_number,
        "ContentType": msg.content_type,
        "Label": msg.subject,
        "ApplicationProperties": props,
        "UserProperties": props,
    }
    return ServiceBusMessage(
        body=msg.body,
        trigger_metadata=metadata,
        application_properties=props,
        content_type=msg.content_type,
        correlation_id=msg.correlation_id,
        dead_letter_error_description=msg.dead_letter_error_description,
        dead_letter_reason=msg.dead_letter_reason,
        dead_letter_source=msg.dead_letter_source,
        delivery_count=msg.delivery_count,
        enqueued_sequence_number=msg.sequence_number,
        enqueued_time_utc=msg.enqueued_time,
        expires_at_utc=None,
        label=msg.subject,
        locked_until=msg.locked_until,
        lock_token=msg.lock_token,
        message_id=msg.message_id,
        scheduled_enqueue_time_utc=msg.scheduled_enqueue_time,
        sequence_number=msg.sequence_number,
        subject=msg.subject,
        user_properties=props,
    )


def _annotation(info: FunctionInfo, name: str) -> Any:
    fn = info.user_function
    try:
        return typing.get_type_hints(fn).get(name)
    except Exception:  # unresolvable string annotations: treat as ServiceBusMessage
        return None


class ServiceBusPump:
    """Receives from one entity path and invokes one function, until stopped."""

    def __init__(
        self,
        info: FunctionInfo,
        path: str,
        broker: Broker,
        invoker: Invoker,
        client_binding: Callable[[], str],
        max_concurrent: int = 16,
        poll_seconds: float = 1.0,
        max_batch: int = 1000,
    ) -> None:
        self.info = info
        self.path = path
        self.broker = broker
        self.invoker = invoker
        self.client_binding = client_binding
        self.max_concurrent = max_concurrent
        self.poll_seconds = poll_seconds
        self.in_flight = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        binding = info.trigger_binding
        self.trigger_name = binding.get("name", "msg")
        client = binding_of(info, "durableClient")
        self.client_name = client["name"] if client else None
        self.many = str(getattr(binding.get("cardinality"), "value",
                                binding.get("cardinality") or "one")).lower() == "many"
        hint = _annotation(info, self.trigger_name)
        if self.many:
            args = typing.get_args(hint) if hint is not None else ()
            hint = args[0] if args else None
        self.as_type: type | None = hint if hint in (str, bytes) else None
        self.batch_size = max_batch

    def wake(self) -> None:
        """Thread-safe nudge: a message may be receivable (called via call_soon_threadsafe)."""
        self._wake.set()

    async def run(self) -> None:
        log.info("Service Bus trigger %r listening on %s", self.info.name, self.path)
        while not self._stopping:
            self._wake.clear()  # before receiving, so a send during the receive is not missed
            free = self.max_concurrent - self.in_flight
            messages: list[ReceivedMessage] = []
            if free > 0:
                want = self.batch_size if self.many else free
                try:
                    messages = await asyncio.to_thread(self.broker.receive, self.path, want)
                except BrokerError:
                    log.exception("receive from %s failed", self.path)
                    await asyncio.sleep(self.poll_seconds)
            if self._stopping:  # received while stopping: give them back, not a delivery
                for msg in messages:
                    with contextlib.suppress(BrokerError):
                        await asyncio.to_thread(self.broker.release, self.path,
                                                msg.lock_token or "")
                return
            batches = [messages] if self.many and messages else [[m] for m in messages]
            for batch in batches:
                self.in_flight += 1
                task = asyncio.create_task(self._process(batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if messages and self.in_flight < self.max_concurrent:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def _process(self, batch: list[ReceivedMessage]) -> None:
        """Invoke once for a message (or a batch with ``cardinality: many``) and settle it."""
        renewals = [asyncio.create_task(self._keep_lock(msg)) for msg in batch]
        first = batch[0]
        try:
            try:
                await self.invoker.invoke(self.info, self._arguments(batch))
            except Exception as exc:
                log.exception("Function %r failed on message %s (delivery %d); abandoning",
                              self.info.name, first.message_id, first.delivery_count)
                for task in renewals:
                    task.cancel()
                for msg in batch:
                    await self._settle(msg, f"{type(exc).__name__}: {exc}")
                return
            for task in renewals:
                task.cancel()
            for msg in batch:
                await self._settle(msg, None)
        finally:
            for task in renewals:
                task.cancel()
            self.in_flight -= 1
            self._wake.set()

    async def _settle(self, msg: ReceivedMessage, error: str | None) -> None:
        """Complete on success; abandon with the error otherwise (dead-letters at the limit)."""
        try:
            if error is None:
                await asyncio.to_thread(self.broker.complete, self.path, msg.lock_token or "")
                return
            dead = await asyncio.to_thread(self.broker.abandon, self.path,
                                           msg.lock_token or "", error)
            if dead:
                log.warning("Message %s moved to %s/$DeadLetterQueue after %d deliveries",
                            msg.message_id, self.path, msg.delivery_count)
        except MessageLockLost as exc:
            log.warning("Function %r: %s", self.info.name, exc)
        except Exception:
            log.exception("Service Bus pump %r: settling message %s failed",
                          self.info.name, msg.message_id)

    def _arguments(self, batch: list[ReceivedMessage]) -> dict[str, Any]:
        def convert(msg: ReceivedMessage) -> Any:
            if self.as_type is str:
                return msg.body.decode("utf-8")
            if self.as_type is bytes:
                return msg.body
            return to_function_message(msg)

        arg = [convert(m) for m in batch] if self.many else convert(batch[0])
        kwargs: dict[str, Any] = {self.trigger_name: arg}
        if self.client_name:
            kwargs[self.client_name] = self.client_binding()
        return kwargs

    async def _keep_lock(self, msg: ReceivedMessage) -> None:
        """Renew the lock every half lock period (wall time) while the function runs, as the
        Functions host's auto lock renewal does; stops quietly when the lock is gone."""
        if msg.locked_until is None or not msg.lock_token:
            return
        period = max(1.0, (msg.locked_until - self.broker.clock.now()).total_seconds() / 2)
        while True:
            await asyncio.sleep(min(period, 30.0))
            try:
                await asyncio.to_thread(self.broker.renew_lock, self.path, msg.lock_token)
            except Exception:  # lock lost, or the broker closed at shutdown
                return

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in list(self._tasks):
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()


def service_bus_functions(functions: list[FunctionInfo]) -> list[FunctionInfo]:
    return [f for f in functions if f.trigger_type == "serviceBusTrigger"]

