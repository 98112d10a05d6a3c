"""Durable stores of the local host's engine.

:class:`DurableStore` is the interface the engine needs (so an Azure Storage tables/queues store
can be added later); :class:`SqliteStore` is the default: one SQLite file per task hub, in WAL
mode. The engine commits a :class:`WriteBatch` before it starts any work that batch enables, so
after a ``kill -9`` the same file holds every instance's last committed step, every pending
message, activity, timer and entity operation.

``synchronous=NORMAL`` (the default here) survives a crash of the process, which is what the
local host needs; pass ``synchronous="FULL"`` to also survive power loss of the machine.
"""

from __future__ import annotations

import abc
import base64
import json
import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from podium.localhost.api import HostError, InstanceQuery, RuntimeStatus
from podium.localhost.engine.model import (
    EntityOp,
    EntityRecord,
    InstanceRecord,
    Message,
    PendingWork,
    TimerRecord,
    WorkItem,
    WriteBatch,
)

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def ts(value: datetime) -> str:
    """Sortable UTC text form (also the SDK's history timestamp format)."""
    return value.astimezone(UTC).strftime(TS_FORMAT)


def parse_ts(value: str) -> datetime:
    return datetime.strptime(value, TS_FORMAT).replace(tzinfo=UTC)


class DurableStore(abc.ABC):
    """Where the engine keeps everything that must survive a restart."""

    @abc.abstractmethod
    def apply(self, batch: WriteBatch) -> None:
        """Commit ``batch`` atomically (all or nothing)."""

    @abc.abstractmethod
    def load_pending(self) -> PendingWork:
        """Non-terminal instances and all queued messages, work, timers and entity operations."""

    @abc.abstractmethod
    def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    @abc.abstractmethod
    def get_history(self, instance_id: str) -> list[str]:
        """The current execution's history events as JSON texts, in order."""

    @abc.abstractmethod
    def query_instances(self, query: InstanceQuery) -> tuple[list[InstanceRecord], str | None]: ...

    @abc.abstractmethod
    def instance_ids(self, query: InstanceQuery) -> list[str]:
        """Every instance id matching the filters (no paging), for bulk purge."""

    @abc.abstractmethod
    def get_entity(self, entity_id: str) -> EntityRecord | None: ...

    @abc.abstractmethod
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY, name TEXT NOT NULL, execution_id TEXT NOT NULL,
    status TEXT NOT NULL, input TEXT, output TEXT, custom_status TEXT,
    created TEXT NOT NULL, updated TEXT NOT NULL, parent TEXT, state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_created ON instances (created, instance_id);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL, idx INTEGER NOT NULL, event TEXT NOT NULL,
    PRIMARY KEY (instance_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, instance_id TEXT NOT NULL, event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_instance ON messages (instance_id, id);
CREATE TABLE IF NOT EXISTS work (
    id INTEGER PRIMARY KEY, instance_id TEXT NOT NULL, execution_id TEXT NOT NULL,
    seq INTEGER NOT NULL, name TEXT NOT NULL, input TEXT
);
CREATE TABLE IF NOT EXISTS timers (
    id INTEGER PRIMARY KEY, instance_id TEXT NOT NULL, execution_id TEXT NOT NULL,
    fire_at TEXT NOT NULL, event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timers_instance ON timers (instance_id);
CREATE TABLE IF NOT EXISTS entity_ops (
    id INTEGER PRIMARY KEY, entity_id TEXT NOT NULL, op TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entity_ops_entity ON entity_ops (entity_id, id);
CREATE TABLE IF NOT EXISTS entities (
    entity_id TEXT PRIMARY KEY, state TEXT, exists_ INTEGER NOT NULL, last_modified TEXT
);
"""

_INSTANCE_COLUMNS = (
    "instance_id, name, execution_id, status, input, output, custom_status, created, updated, "
    "parent, state"
)


def _instance_row(rec: InstanceRecord) -> tuple[Any, ...]:
    return (
        rec.instance_id,
        rec.name,
        rec.execution_id,
        rec.status.value,
        rec.input,
        rec.output,
        rec.custom_status,
        ts(rec.created),
        ts(rec.updated),
        json.dumps(rec.parent) if rec.parent else None,
        json.dumps(rec.state, separators=(",", ":")),
    )


def _instance_of(row: tuple[Any, ...]) -> InstanceRecord:
    return InstanceRecord(
        instance_id=row[0],
        name=row[1],
        execution_id=row[2],
        status=RuntimeStatus(row[3]),
        input=row[4],
        output=row[5],
        custom_status=row[6],
        created=parse_ts(row[7]),
        updated=parse_ts(row[8]),
        parent=json.loads(row[9]) if row[9] else None,
        state=json.loads(row[10]),
    )


def encode_token(created: str, instance_id: str) -> str:
    raw = json.dumps([created, instance_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str) -> tuple[str, str]:
    try:
        created, instance_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(created), str(instance_id)
    except (ValueError, TypeError) as exc:
        raise HostError(f"invalid continuation token {token!r}") from exc


class StoreLocked(HostError):
    """Another host process already uses this store file."""

    http_status = 409


def _lock_file(path: Path) -> IO[str] | None:
    """Hold an exclusive advisory lock next to the database while the store is open: two hosts
    on one task hub would run every activity twice. The OS releases it when a process dies."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return None
    handle = open(f"{path}.lock", "a+", encoding="utf-8")  # noqa: SIM115 - held while open
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreLocked(f"another host process is using the task hub store {path}") from None
    return handle


class SqliteStore(DurableStore):
    """One SQLite file (WAL) per task hub; one connection guarded by a lock."""

    def __init__(self, path: str | Path, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file_lock = _lock_file(self.path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)

    # -- writes ---------------------------------------------------------------------------
    def apply(self, batch: WriteBatch) -> None:
        if batch.is_empty():
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                self._write(db, batch)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _write(db: sqlite3.Connection, b: WriteBatch) -> None:
        for instance_id in b.purge_instances:
            for table in ("instances", "history", "messages", "timers", "work"):
                db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))
        db.executemany("DELETE FROM history WHERE instance_id = ?", [(i,) for i in b.clear_history])
        db.executemany(
            "DELETE FROM messages WHERE instance_id = ?", [(i,) for i in b.delete_all_messages]
        )
        db.executemany(
            "DELETE FROM timers WHERE instance_id = ?", [(i,) for i in b.delete_instance_timers]
        )
        if b.put_instances:
            db.executemany(
                f"INSERT OR REPLACE INTO instances ({_INSTANCE_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [_instance_row(r) for r in b.put_instances.values()],
            )
        db.executemany(
            "INSERT OR REPLACE INTO history (instance_id, idx, event) VALUES (?,?,?)",
            [
                (instance_id, start + n, event)
                for instance_id, start, events in b.append_history
                for n, event in enumerate(events)
            ],
        )
        db.executemany("DELETE FROM messages WHERE instance_id = ? AND id <= ?", b.delete_messages)
        db.executemany(
            "INSERT INTO messages (id, instance_id, event) VALUES (?,?,?)",
            [(m.id, m.instance_id, json.dumps(m.event)) for m in b.add_messages],
        )
        db.executemany("DELETE FROM work WHERE id = ?", [(i,) for i in b.delete_work])
        db.executemany(
            "INSERT INTO work (id, instance_id, execution_id, seq, name, input) "
            "VALUES (?,?,?,?,?,?)",
            [(w.id, w.instance_id, w.execution_id, w.seq, w.name, w.input) for w in b.add_work],
        )
        db.executemany("DELETE FROM timers WHERE id = ?", [(i,) for i in b.delete_timers])
        db.executemany(
            "INSERT INTO timers (id, instance_id, execution_id, fire_at, event) VALUES (?,?,?,?,?)",
            [
                (t.id, t.instance_id, t.execution_id, ts(t.fire_at), json.dumps(t.event))
                for t in b.add_timers
            ],
        )
        db.executemany(
            "DELETE FROM entity_ops WHERE entity_id = ? AND id <= ?", b.delete_entity_ops
        )
        db.executemany(
            "INSERT INTO entity_ops (id, entity_id, op) VALUES (?,?,?)",
            [(o.id, o.entity_id, json.dumps(o.op)) for o in b.add_entity_ops],
        )
        db.executemany(
            "INSERT OR REPLACE INTO entities (entity_id, state, exists_, last_modified) "
            "VALUES (?,?,?,?)",
            [
                (
                    e.entity_id,
                    e.state,
                    int(e.exists),
                    ts(e.last_modified) if e.last_modified else None,
                )
                for e in b.put_entities
            ],
        )

    # -- reads ----------------------------------------------------------------------------
    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def load_pending(self) -> PendingWork:
        terminal = tuple(s.value for s in RuntimeStatus if s.is_terminal)
        instances = [
            _instance_of(r)
            for r in self._rows(
                f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE status NOT IN (?,?,?)", terminal
            )
        ]
        messages = [
            Message(r[0], r[1], json.loads(r[2]))
            for r in self._rows("SELECT id, instance_id, event FROM messages ORDER BY id")
        ]
        work = [
            WorkItem(*r)
            for r in self._rows(
                "SELECT id, instance_id, execution_id, seq, name, input FROM work ORDER BY id"
            )
        ]
        timers = [
            TimerRecord(r[0], r[1], r[2], parse_ts(r[3]), json.loads(r[4]))
            for r in self._rows(
                "SELECT id, instance_id, execution_id, fire_at, event FROM timers ORDER BY id"
            )
        ]
        ops = [
            EntityOp(r[0], r[1], json.loads(r[2]))
            for r in self._rows("SELECT id, entity_id, op FROM entity_ops ORDER BY id")
        ]
        max_id = 0
        for table in ("messages", "work", "timers", "entity_ops"):
            value = self._rows(f"SELECT MAX(id) FROM {table}")[0][0]
            max_id = max(max_id, value or 0)
        return PendingWork(instances, messages, work, timers, ops, max_id)

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._rows(
            f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
        )
        return _instance_of(rows[0]) if rows else None

    def get_history(self, instance_id: str) -> list[str]:
        return [
            r[0]
            for r in self._rows(
                "SELECT event FROM history WHERE instance_id = ? ORDER BY idx", (instance_id,)
            )
        ]

    def query_instances(self, query: InstanceQuery) -> tuple[list[InstanceRecord], str | None]:
        where, args = _where(query)
        if query.continuation_token:
            created, instance_id = decode_token(query.continuation_token)
            where.append("(created, instance_id) > (?, ?)")
            args += [created, instance_id]
        sql = f"SELECT {_INSTANCE_COLUMNS} FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        size = max(1, int(query.page_size))
        sql += " ORDER BY created, instance_id LIMIT ?"
        rows = self._rows(sql, [*args, size + 1])
        token = None
        if len(rows) > size:
            rows = rows[:size]
            token = encode_token(rows[-1][7], rows[-1][0])
        return [_instance_of(r) for r in rows], token

    def instance_ids(self, query: InstanceQuery) -> list[str]:
        """Every instance id matching the filters (no paging), for bulk purge."""
        where, args = _where(query)
        sql = "SELECT instance_id FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [r[0] for r in self._rows(sql, args)]

    def get_entity(self, entity_id: str) -> EntityRecord | None:
        rows = self._rows(
            "SELECT entity_id, state, exists_, last_modified FROM entities WHERE entity_id = ?",
            (entity_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return EntityRecord(r[0], bool(r[2]), r[1], parse_ts(r[3]) if r[3] else None)

    def count(self, table: str) -> int:
        """Rows in one table (diagnostics and tests)."""
        if table not in ("instances", "history", "messages", "work", "timers", "entity_ops"):
            raise ValueError(table)
        return int(self._rows(f"SELECT COUNT(*) FROM {table}")[0][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._file_lock is not None:
            self._file_lock.close()  # releases the lock
            self._file_lock = None


def _where(query: InstanceQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if query.runtime_status:
        statuses = [RuntimeStatus(s).value for s in query.runtime_status]
        where.append(f"status IN ({','.join('?' * len(statuses))})")
        args += statuses
    if query.created_from:
        where.append("created >= ?")
        args.append(ts(query.created_from))
    if query.created_to:
        where.append("created <= ?")
        args.append(ts(query.created_to))
    if query.instance_id_prefix:
        where.append("substr(instance_id, 1, ?) = ?")
        args += [len(query.instance_id_prefix), query.instance_id_prefix]
    return where, args
