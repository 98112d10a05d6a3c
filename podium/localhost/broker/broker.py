"""The embedded Service Bus broker: queues, topics, subscriptions, peek-lock, dead-lettering.

Why our own: no Service Bus emulator installs from the registries this project may use (see
docs/local-host.md). The broker keeps Service Bus semantics that the app relies on:

* every message is committed to SQLite (WAL) before ``send`` returns, so a host crash loses
  nothing; a message locked by a crashed receiver becomes visible again when its lock expires;
* peek-lock: ``receive`` locks a message for the entity's lock duration and counts a delivery;
  ``complete`` deletes it, ``abandon`` unlocks it, ``dead_letter`` moves it to the entity's
  dead-letter queue with ``DeadLetterReason`` / ``DeadLetterErrorDescription``;
* when a message has been delivered ``max_delivery_count`` times and is abandoned (or its lock
  expires) it is dead-lettered with reason ``MaxDeliveryCountExceeded``;
* duplicate detection: a message whose MessageId was already accepted by the queue / topic
  within the window is dropped silently (``send`` returns None), as Service Bus does;
* scheduled messages stay invisible until their enqueue time (read from the host clock, so a
  virtual clock in tests moves them);
* topics copy each message to every subscription whose filter matches.

Entity paths follow Service Bus: ``queue``, ``topic/Subscriptions/sub``, plus
``/$DeadLetterQueue`` for a dead-letter queue. All methods are thread-safe.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from podium.localhost.broker.filters import (
    Predicate,
    compile_correlation_filter,
    compile_sql_filter,
    match_all,
)
from podium.localhost.broker.topology import (
    QueueSpec,
    SubscriptionSpec,
    TopicSpec,
    Topology,
)

DLQ_SUFFIX = "/$DeadLetterQueue"
MAX_DELIVERY_REASON = "MaxDeliveryCountExceeded"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sb_entities (
    path TEXT PRIMARY KEY,          -- queue name, topic name, or topic/Subscriptions/sub
    kind TEXT NOT NULL,             -- queue | topic | subscription
    topic TEXT,                     -- for subscriptions
    spec TEXT NOT NULL              -- JSON of the settings
);
CREATE TABLE IF NOT EXISTS sb_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,             -- receiving entity (queue or subscription)
    dlq INTEGER NOT NULL DEFAULT 0,
    sequence_number INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    correlation_id TEXT,
    content_type TEXT,
    subject TEXT,
    body BLOB NOT NULL,
    props TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    visible_at REAL NOT NULL,       -- scheduled enqueue time, or enqueued_at
    scheduled INTEGER NOT NULL DEFAULT 0,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until REAL,
    dl_reason TEXT,
    dl_description TEXT,
    dl_source TEXT
);
CREATE INDEX IF NOT EXISTS sb_messages_ready ON sb_messages (path, dlq, visible_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS sb_messages_lock ON sb_messages (lock_token);
CREATE TABLE IF NOT EXISTS sb_duplicates (
    path TEXT NOT NULL, message_id TEXT NOT NULL, seen_at REAL NOT NULL,
    PRIMARY KEY (path, message_id)
);
CREATE TABLE IF NOT EXISTS sb_sequences (path TEXT PRIMARY KEY, last INTEGER NOT NULL);
"""


class BrokerError(Exception):
    """Base of broker errors; messages name the entity."""


class EntityNotFound(BrokerError):
    pass


class MessageLockLost(BrokerError):
    """The lock token is unknown or its lock expired (someone else may hold the message)."""


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class ReceivedMessage:
    """A message as a receiver sees it (a locked or peeked copy)."""

    body: bytes
    message_id: str
    sequence_number: int
    entity_path: str
    correlation_id: str | None = None
    content_type: str | None = None
    subject: str | None = None
    application_properties: dict[str, Any] = field(default_factory=dict)
    delivery_count: int = 0
    enqueued_time: datetime | None = None
    scheduled_enqueue_time: datetime | None = None
    lock_token: str | None = None
    locked_until: datetime | None = None
    dead_letter_reason: str | None = None
    dead_letter_error_description: str | None = None
    dead_letter_source: str | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def subscription_path(topic: str, subscription: str) -> str:
    return f"{topic}/Subscriptions/{subscription}"


def _ts(value: datetime) -> float:
    if value.tzinfo is None:
        raise ValueError("times given to the broker must be timezone-aware (UTC)")
    return value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


_PROP_TYPES = (str, int, float, bool, type(None))


class Broker:
    """An embedded, SQLite-backed Service Bus broker (one file; may share the task hub's dir)."""

    def __init__(self, path: Path | str, clock: Any | None = None) -> None:
        self._clock = clock or _SystemClock()
        self._lock = threading.RLock()
        self._listeners: list[Callable[[str], None]] = []
        self._filters: dict[str, Predicate] = {}
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (kill -9); only an OS crash can lose the
        # last commits. That is the durability the local host promises.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._load_filters()

    @property
    def clock(self) -> Any:
        """The clock the broker reads (locks, schedules, duplicate windows)."""
        return self._clock

    # -- entities ---------------------------------------------------------------------------

    def apply_topology(self, topology: Topology) -> None:
        """Create or update every entity of the description (idempotent; never drops one)."""
        topology.validate()
        for queue in topology.queues:
            self.create_queue(queue)
        for topic in topology.topics:
            self.create_topic(topic)
            for sub in topic.subscriptions:
                self.create_subscription(topic.name, sub)

    def create_queue(self, spec: QueueSpec) -> None:
        self._put_entity(spec.name, "queue", None, {
            "max_delivery_count": spec.max_delivery_count,
            "lock_seconds": spec.lock_duration.total_seconds(),
            "dup_window_seconds": _window_seconds(spec.duplicate_detection_window),
        })

    def create_topic(self, spec: TopicSpec) -> None:
        self._put_entity(spec.name, "topic", None, {
            "dup_window_seconds": _window_seconds(spec.duplicate_detection_window),
        })

    def create_subscription(self, topic: str, spec: SubscriptionSpec) -> None:
        spec.validate(topic)
        if self._entity(topic)["kind"] != "topic":
            raise EntityNotFound(f"{topic!r} is not a topic")
        path = subscription_path(topic, spec.name)
        self._put_entity(path, "subscription", topic, {
            "max_delivery_count": spec.max_delivery_count,
            "lock_seconds": spec.lock_duration.total_seconds(),
            "sql_filter": spec.sql_filter,
            "correlation_filter": dict(spec.correlation_filter)
            if spec.correlation_filter is not None else None,
        })

    def entities(self) -> list[tuple[str, str]]:
        """``(path, kind)`` of every entity, sorted."""
        with self._lock:
            rows = self._db.execute("SELECT path, kind FROM sb_entities ORDER BY path").fetchall()
        return [(r[0], r[1]) for r in rows]

    def _put_entity(self, path: str, kind: str, topic: str | None, spec: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO sb_entities(path, kind, topic, spec) VALUES (?,?,?,?) "
                "ON CONFLICT(path) DO UPDATE SET kind=excluded.kind, topic=excluded.topic, "
                "spec=excluded.spec",
                (path, kind, topic, json.dumps(spec)),
            )
            if kind == "subscription":
                self._filters[path] = _compile(spec)

    def _load_filters(self) -> None:
        rows = self._db.execute(
            "SELECT path, spec FROM sb_entities WHERE kind='subscription'"
        ).fetchall()
        for path, spec in rows:
            self._filters[path] = _compile(json.loads(spec))

    def _entity(self, path: str) -> dict[str, Any]:
        row = self._db.execute(
            "SELECT kind, topic, spec FROM sb_entities WHERE path=?", (path,)
        ).fetchone()
        if row is None:
            raise EntityNotFound(f"no Service Bus entity {path!r} (declare it in the topology)")
        return {"kind": row[0], "topic": row[1], **json.loads(row[2])}

    # -- listeners --------------------------------------------------------------------------

    def add_listener(self, callback: Callable[[str], None]) -> None:
        """``callback(entity_path)`` after a message may have become receivable there.

        Called outside the broker lock; it must be quick and thread-safe."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[str], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _notify(self, paths: list[str]) -> None:
        for path in paths:
            for callback in list(self._listeners):
                callback(path)

    # -- sending ----------------------------------------------------------------------------

    def send(
        self,
        entity: str,
        body: bytes | str,
        message_id: str | None = None,
        correlation_id: str | None = None,
        application_properties: Mapping[str, Any] | None = None,
        scheduled_enqueue_time: datetime | None = None,
        content_type: str | None = None,
        subject: str | None = None,
    ) -> int | None:
        """Send one message to a queue or topic; returns its sequence number, or None when it
        was dropped as a duplicate MessageId inside the detection window."""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        props = dict(application_properties or {})
        for key, value in props.items():
            if not isinstance(value, _PROP_TYPES):
                raise TypeError(
                    f"application property {key!r}: {type(value).__name__} is not supported "
                    "(use str, int, float, bool or None)"
                )
        message_id = message_id or uuid.uuid4().hex
        now = self._clock.now()
        now_ts = _ts(now)
        visible = _ts(scheduled_enqueue_time) if scheduled_enqueue_time else now_ts
        with self._lock:
            info = self._entity(entity)
            if info["kind"] == "subscription":
                raise BrokerError(f"cannot send to subscription {entity!r}; send to its topic")
            window = info.get("dup_window_seconds")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if window is not None:
                    self._db.execute(
                        "DELETE FROM sb_duplicates WHERE path=? AND seen_at < ?",
                        (entity, now_ts - window),
                    )
                    seen = self._db.execute(
                        "SELECT 1 FROM sb_duplicates WHERE path=? AND message_id=?",
                        (entity, message_id),
                    ).fetchone()
                    if seen:
                        self._db.execute("COMMIT")
                        return None
                    self._db.execute(
                        "INSERT INTO sb_duplicates(path, message_id, seen_at) VALUES (?,?,?)",
                        (entity, message_id, now_ts),
                    )
                seq = self._next_sequence(entity)
                if info["kind"] == "queue":
                    targets = [entity]
                else:
                    sysp = {
                        "messageid": message_id, "correlationid": correlation_id,
                        "contenttype": content_type, "label": subject, "subject": subject,
                    }
                    targets = [
                        path for (path,) in self._db.execute(
                            "SELECT path FROM sb_entities WHERE kind='subscription' AND topic=? "
                            "ORDER BY path", (entity,)
                        ).fetchall()
                        if self._filters.get(path, match_all)(props, sysp)
                    ]
                props_json = json.dumps(props)
                for target in targets:
                    self._db.execute(
                        "INSERT INTO sb_messages(path, sequence_number, message_id, "
                        "correlation_id, content_type, subject, body, props, enqueued_at, "
                        "visible_at, scheduled) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (target, seq, message_id, correlation_id, content_type, subject, data,
                         props_json, max(now_ts, visible), visible,
                         1 if scheduled_enqueue_time else 0),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._notify(targets)
        return seq

    def _next_sequence(self, path: str) -> int:
        self._db.execute(
            "INSERT INTO sb_sequences(path, last) VALUES (?, 1) "
            "ON CONFLICT(path) DO UPDATE SET last = last + 1",
            (path,),
        )
        return int(self._db.execute(
            "SELECT last FROM sb_sequences WHERE path=?", (path,)
        ).fetchone()[0])

    def cancel_scheduled(self, entity: str, sequence_number: int) -> bool:
        """Cancel a scheduled message that is not yet visible; True if one was removed."""
        now_ts = _ts(self._clock.now())
        with self._lock:
            info = self._entity(entity)
            if info["kind"] == "queue":
                cur = self._db.execute(
                    "DELETE FROM sb_messages WHERE path=? AND sequence_number=? AND scheduled=1 "
                    "AND visible_at > ? AND dlq=0", (entity, sequence_number, now_ts))
            else:
                cur = self._db.execute(
                    "DELETE FROM sb_messages WHERE path IN (SELECT path FROM sb_entities WHERE "
                    "topic=?) AND sequence_number=? AND scheduled=1 AND visible_at > ? AND dlq=0",
                    (entity, sequence_number, now_ts))
            return cur.rowcount > 0

    # -- receiving --------------------------------------------------------------------------

    def receive(
        self, path: str, max_messages: int = 1, lock_duration: timedelta | None = None
    ) -> list[ReceivedMessage]:
        """Peek-lock up to ``max_messages`` visible messages (never blocks)."""
        base, dlq = _split(path)
        now_ts = _ts(self._clock.now())
        moved: list[str] = []
        out: list[ReceivedMessage] = []
        with self._lock:
            info = self._entity(base)
            if info["kind"] == "topic":
                raise BrokerError(f"cannot receive from topic {base!r}; use a subscription")
            lock_s = lock_duration.total_seconds() if lock_duration else info["lock_seconds"]
            max_delivery = int(info["max_delivery_count"])
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM sb_messages WHERE path=? AND dlq=? AND visible_at<=? "
                    "AND (locked_until IS NULL OR locked_until<=?) ORDER BY id LIMIT ?",
                    (base, dlq, now_ts, now_ts, max_messages * 4 + 8),
                ).fetchall()
                for row in rows:
                    if len(out) >= max_messages:
                        break
                    if not dlq and row["locked_until"] is not None \
                            and row["delivery_count"] >= max_delivery:
                        # Its last lock expired: the receiver never settled it.
                        self._move_to_dlq(row["id"], MAX_DELIVERY_REASON,
                                          f"Message could not be consumed after "
                                          f"{row['delivery_count']} delivery attempts "
                                          "(lock expired).", base)
                        moved.append(base)
                        continue
                    token = str(uuid.uuid4())
                    until = now_ts + lock_s
                    self._db.execute(
                        "UPDATE sb_messages SET lock_token=?, locked_until=?, "
                        "delivery_count=delivery_count+1 WHERE id=?",
                        (token, until, row["id"]),
                    )
                    msg = _to_message(row, path)
                    msg.lock_token, msg.locked_until = token, _dt(until)
                    msg.delivery_count = row["delivery_count"] + 1
                    out.append(msg)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return out

    def complete(self, path: str, lock_token: str) -> None:
        """Settle a locked message: it is removed for good."""
        with self._lock:
            row = self._locked_row(path, lock_token)
            self._db.execute("DELETE FROM sb_messages WHERE id=?", (row["id"],))

    def abandon(
        self, path: str, lock_token: str, error_description: str | None = None
    ) -> bool:
        """Give a locked message back. When it has used up its deliveries it goes to the
        dead-letter queue (reason MaxDeliveryCountExceeded, ``error_description`` kept).
        Returns True if the message was dead-lettered."""
        base, _ = _split(path)
        with self._lock:
            row = self._locked_row(path, lock_token)
            info = self._entity(base)
            if not row["dlq"] and row["delivery_count"] >= int(info["max_delivery_count"]):
                detail = (f"Message could not be consumed after {row['delivery_count']} "
                          "delivery attempts.")
                if error_description:
                    detail = f"{detail} Last error: {error_description}"
                self._move_to_dlq(row["id"], MAX_DELIVERY_REASON, detail, base)
                dead = True
            else:
                self._db.execute(
                    "UPDATE sb_messages SET lock_token=NULL, locked_until=NULL WHERE id=?",
                    (row["id"],),
                )
                dead = False
        if not dead:
            self._notify([path])
        return dead

    def release(self, path: str, lock_token: str) -> None:
        """Unlock a message that was received but never handed to a function (the host is
        stopping): it does not count as a delivery."""
        with self._lock:
            row = self._locked_row(path, lock_token)
            self._db.execute(
                "UPDATE sb_messages SET lock_token=NULL, locked_until=NULL, "
                "delivery_count=MAX(delivery_count-1, 0) WHERE id=?", (row["id"],))
        self._notify([path])

    def dead_letter(
        self, path: str, lock_token: str, reason: str, error_description: str | None = None
    ) -> None:
        """Move a locked message to the entity's dead-letter queue with a reason."""
        base, _ = _split(path)
        with self._lock:
            row = self._locked_row(path, lock_token)
            self._move_to_dlq(row["id"], reason, error_description, base)

    def renew_lock(self, path: str, lock_token: str) -> datetime:
        base, _ = _split(path)
        with self._lock:
            row = self._locked_row(path, lock_token)
            until = _ts(self._clock.now()) + self._entity(base)["lock_seconds"]
            self._db.execute("UPDATE sb_messages SET locked_until=? WHERE id=?", (until, row["id"]))
        return _dt(until)  # type: ignore[return-value]

    def peek(self, path: str, max_messages: int = 32) -> list[ReceivedMessage]:
        """Browse messages without locking them (scheduled ones included), oldest first."""
        base, dlq = _split(path)
        with self._lock:
            self._entity(base)
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM sb_messages WHERE path=? AND dlq=? ORDER BY id LIMIT ?",
                (base, dlq, max_messages),
            ).fetchall()
        return [_to_message(row, path) for row in rows]

    def counts(self, path: str) -> dict[str, int]:
        """``active`` (visible now), ``scheduled``, ``locked`` and ``dead_letter`` counts."""
        base, _ = _split(path)
        now_ts = _ts(self._clock.now())
        with self._lock:
            self._entity(base)
            row = self._db.execute(
                "SELECT "
                "SUM(dlq=0 AND visible_at<=? AND (locked_until IS NULL OR locked_until<=?)), "
                "SUM(dlq=0 AND visible_at>?), SUM(dlq=0 AND locked_until>?), SUM(dlq=1) "
                "FROM sb_messages WHERE path=?",
                (now_ts, now_ts, now_ts, now_ts, base),
            ).fetchone()
        return {
            "active": row[0] or 0, "scheduled": row[1] or 0,
            "locked": row[2] or 0, "dead_letter": row[3] or 0,
        }

    def next_visible_time(self) -> datetime | None:
        """When the earliest scheduled or locked message becomes receivable (for pumps)."""
        now_ts = _ts(self._clock.now())
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(MAX(visible_at, COALESCE(locked_until, 0))) FROM sb_messages "
                "WHERE dlq=0 AND (visible_at>? OR locked_until>?)", (now_ts, now_ts)
            ).fetchone()
        return _dt(row[0]) if row and row[0] is not None else None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals --------------------------------------------------------------------------

    def _locked_row(self, path: str, lock_token: str) -> sqlite3.Row:
        base, dlq = _split(path)
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM sb_messages WHERE lock_token=? AND path=? AND dlq=?",
            (lock_token, base, dlq),
        ).fetchone()
        if row is None or row["locked_until"] is None \
                or row["locked_until"] <= _ts(self._clock.now()):
            raise MessageLockLost(
                f"{path}: the lock of this message expired or is unknown; it will be redelivered"
            )
        return row

    def _move_to_dlq(self, row_id: int, reason: str, description: str | None, src: str) -> None:
        self._db.execute(
            "UPDATE sb_messages SET dlq=1, lock_token=NULL, locked_until=NULL, dl_reason=?, "
            "dl_description=?, dl_source=? WHERE id=?",
            (reason, description, src, row_id),
        )


_COLUMNS = (
    "id, path, dlq, sequence_number, message_id, correlation_id, content_type, subject, body, "
    "props, enqueued_at, visible_at, scheduled, delivery_count, lock_token, locked_until, "
    "dl_reason, dl_description, dl_source"
)


def _to_message(row: sqlite3.Row, path: str) -> ReceivedMessage:
    return ReceivedMessage(
        body=bytes(row["body"]),
        message_id=row["message_id"],
        sequence_number=row["sequence_number"],
        entity_path=path,
        correlation_id=row["correlation_id"],
        content_type=row["content_type"],
        subject=row["subject"],
        application_properties=json.loads(row["props"]),
        delivery_count=row["delivery_count"],
        enqueued_time=_dt(row["enqueued_at"]),
        scheduled_enqueue_time=_dt(row["visible_at"]) if row["scheduled"] else None,
        lock_token=None,
        locked_until=None,
        dead_letter_reason=row["dl_reason"],
        dead_letter_error_description=row["dl_description"],
        dead_letter_source=row["dl_source"],
    )


def _split(path: str) -> tuple[str, int]:
    if path.endswith(DLQ_SUFFIX):
        return path[: -len(DLQ_SUFFIX)], 1
    return path, 0


def _window_seconds(window: timedelta | None) -> float | None:
    return None if window is None else window.total_seconds()


def _compile(spec: Mapping[str, Any]) -> Predicate:
    if spec.get("sql_filter"):
        return compile_sql_filter(spec["sql_filter"])
    if spec.get("correlation_filter"):
        return compile_correlation_filter(spec["correlation_filter"])
    return match_all
