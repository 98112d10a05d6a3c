"""SQLite implementations of the record ports: the local default (one file, no server).

One database file under ``PODIUM_DATA_DIR`` holds every container as a table. WAL journaling lets
readers run while one writer writes; every write is one transaction (``BEGIN IMMEDIATE`` ...
``COMMIT``), so a process killed mid-write leaves the previous committed state and never a
half-written row. ``synchronous=NORMAL`` in WAL mode survives an application crash; only an OS
crash or power loss can drop the last transactions (never corrupt them).

Connections are per thread (the Functions worker runs activities on a thread pool).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from podium.adapters._common import (
    check_id,
    check_limit,
    decode_token,
    encode_token,
    new_etag,
    utc_now_iso,
)
from podium.adapters.ports import (
    AUDIT_REQUIRED_FIELDS,
    AlreadyAnsweredError,
    ConcurrencyError,
    Json,
    NotFoundError,
    Page,
    require_fields,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS graphs (
  tenant_id TEXT NOT NULL, project_id TEXT NOT NULL, flow_id TEXT NOT NULL,
  etag TEXT NOT NULL, body TEXT NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, project_id, flow_id));
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id TEXT NOT NULL, project_id TEXT NOT NULL, id TEXT NOT NULL,
  trace_id TEXT, task_id TEXT, agent_id TEXT, type TEXT, timestamp TEXT NOT NULL,
  body TEXT NOT NULL, UNIQUE (tenant_id, project_id, id));
CREATE INDEX IF NOT EXISTS audit_by_trace ON audit (tenant_id, project_id, trace_id, seq);
CREATE TABLE IF NOT EXISTS human_tasks (
  tenant_id TEXT NOT NULL, project_id TEXT NOT NULL, task_id TEXT NOT NULL,
  status TEXT NOT NULL, etag TEXT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (tenant_id, project_id, task_id));
CREATE TABLE IF NOT EXISTS deliveries (
  tenant_id TEXT NOT NULL, project_id TEXT NOT NULL, delivery_id TEXT NOT NULL,
  body TEXT NOT NULL, PRIMARY KEY (tenant_id, project_id, delivery_id));
CREATE TABLE IF NOT EXISTS processed_events (
  tenant_id TEXT NOT NULL, project_id TEXT NOT NULL, key TEXT NOT NULL,
  expires_at REAL NOT NULL, PRIMARY KEY (tenant_id, project_id, key));
CREATE TABLE IF NOT EXISTS projects (
  tenant_id TEXT NOT NULL, project_id TEXT NOT NULL, name TEXT, created_at TEXT NOT NULL,
  body TEXT NOT NULL, PRIMARY KEY (tenant_id, project_id));
CREATE INDEX IF NOT EXISTS projects_by_created ON projects (tenant_id, created_at, project_id);
"""


class SqliteDatabase:
    """One SQLite file shared by the store classes below; thread-safe via per-thread connections."""

    FILE_NAME = "podium-adapters.sqlite3"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.conn().executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")

    @classmethod
    def in_dir(cls, data_dir: str | Path) -> SqliteDatabase:
        return cls(Path(data_dir) / cls.FILE_NAME)

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction; rolled back on any exception."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class SqliteGraphStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def save_snapshot(
        self,
        tenant_id: str,
        project_id: str,
        flow_id: str,
        snapshot: Json,
        etag: str | None = None,
    ) -> str:
        key = (check_id(tenant_id, "tenantId"), check_id(project_id, "projectId"),
               check_id(flow_id, "flowId"))
        body, new, now = _dumps(snapshot), new_etag(), utc_now_iso()
        with self.db.write() as conn:
            if etag is None:
                try:
                    conn.execute(
                        "INSERT INTO graphs (tenant_id, project_id, flow_id, etag, body,"
                        " updated_at) VALUES (?, ?, ?, ?, ?, ?)", (*key, new, body, now))
                except sqlite3.IntegrityError:
                    raise ConcurrencyError(
                        f"snapshot {flow_id} of project {project_id} already exists; "
                        "pass its etag to replace it") from None
            else:
                cur = conn.execute(
                    "UPDATE graphs SET etag = ?, body = ?, updated_at = ? WHERE tenant_id = ? AND"
                    " project_id = ? AND flow_id = ? AND etag = ?", (new, body, now, *key, etag))
                if cur.rowcount != 1:
                    raise ConcurrencyError(
                        f"snapshot {flow_id} of project {project_id} changed or is gone "
                        "(stale etag)")
        return new

    def get_snapshot(
        self, tenant_id: str, project_id: str, flow_id: str
    ) -> tuple[Json, str] | None:
        row = self.db.conn().execute(
            "SELECT body, etag FROM graphs WHERE tenant_id = ? AND project_id = ? AND flow_id = ?",
            (tenant_id, project_id, flow_id)).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    def list_snapshots(
        self, tenant_id: str, project_id: str, continuation: str | None = None, limit: int = 100
    ) -> Page:
        check_limit(limit)
        after = decode_token(continuation) if continuation else ""
        rows = self.db.conn().execute(
            "SELECT flow_id, body, etag, updated_at FROM graphs WHERE tenant_id = ? AND"
            " project_id = ? AND flow_id > ? ORDER BY flow_id LIMIT ?",
            (tenant_id, project_id, after, limit + 1)).fetchall()
        items = [{"flowId": r[0], "snapshot": json.loads(r[1]), "etag": r[2], "updatedAt": r[3]}
                 for r in rows[:limit]]
        token = encode_token(items[-1]["flowId"]) if len(rows) > limit else None
        return items, token


class SqliteAuditLog:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def append(self, record: Json) -> None:
        require_fields(record, AUDIT_REQUIRED_FIELDS, "audit record")
        check_id(record["id"], "audit id")
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO audit (tenant_id, project_id, id, trace_id, task_id,"
                " agent_id, type, timestamp, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record["tenantId"], record["projectId"], record["id"], record["traceId"],
                 record.get("taskId"), record.get("agentId"), record["type"],
                 record["timestamp"], _dumps(record)))

    def query(
        self,
        tenant_id: str,
        project_id: str,
        *,
        trace_id: str | None = None,
        task_id: str | None = None,
        agent_id: str | None = None,
        type: str | None = None,  # noqa: A002
        continuation: str | None = None,
        limit: int = 100,
    ) -> Page:
        check_limit(limit)
        sql = "SELECT seq, body FROM audit WHERE tenant_id = ? AND project_id = ? AND seq > ?"
        args: list[Any] = [tenant_id, project_id, decode_token(continuation) if continuation else 0]
        for column, value in (("trace_id", trace_id), ("task_id", task_id),
                              ("agent_id", agent_id), ("type", type)):
            if value is not None:
                sql += f" AND {column} = ?"  # column names are constants, values are parameters
                args.append(value)
        rows = self.db.conn().execute(sql + " ORDER BY seq LIMIT ?", (*args, limit + 1)).fetchall()
        items = [json.loads(r[1]) for r in rows[:limit]]
        token = encode_token(rows[limit - 1][0]) if len(rows) > limit else None
        return items, token


class SqliteHumanTaskStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def put(self, task: Json) -> str:
        require_fields(task, ("tenantId", "projectId", "taskId"), "human task")
        check_id(task["taskId"], "taskId")
        body = {**task, "status": "pending"}
        new = new_etag()
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT status FROM human_tasks WHERE tenant_id = ? AND project_id = ? AND"
                " task_id = ?", (task["tenantId"], task["projectId"], task["taskId"])).fetchone()
            if row and row[0] != "pending":  # a retried put must not re-open an answered task
                raise AlreadyAnsweredError(f"human task {task['taskId']} was already answered")
            conn.execute(
                "INSERT OR REPLACE INTO human_tasks (tenant_id, project_id, task_id, status, etag,"
                " body) VALUES (?, ?, ?, ?, ?, ?)",
                (task["tenantId"], task["projectId"], task["taskId"], body["status"], new,
                 _dumps(body)))
        return new

    def get(self, tenant_id: str, project_id: str, task_id: str) -> tuple[Json, str] | None:
        row = self.db.conn().execute(
            "SELECT body, etag FROM human_tasks WHERE tenant_id = ? AND project_id = ? AND"
            " task_id = ?", (tenant_id, project_id, task_id)).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    def list_pending(self, tenant_id: str, project_id: str) -> list[Json]:
        rows = self.db.conn().execute(
            "SELECT body FROM human_tasks WHERE tenant_id = ? AND project_id = ? AND"
            " status = 'pending' ORDER BY task_id", (tenant_id, project_id)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def answer(
        self,
        tenant_id: str,
        project_id: str,
        task_id: str,
        answer: Json,
        *,
        answered_by: str,
        etag: str | None = None,
    ) -> Json:
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT body, etag FROM human_tasks WHERE tenant_id = ? AND project_id = ? AND"
                " task_id = ?", (tenant_id, project_id, task_id)).fetchone()
            if row is None:
                raise NotFoundError(f"human task {task_id} not found in project {project_id}")
            task = json.loads(row[0])
            if task.get("status") != "pending":
                raise AlreadyAnsweredError(f"human task {task_id} was already answered")
            if etag is not None and etag != row[1]:
                raise ConcurrencyError(f"human task {task_id} changed (stale etag)")
            task.update(status="answered", answer=answer, answeredBy=answered_by,
                        answeredAt=utc_now_iso())
            conn.execute(
                "UPDATE human_tasks SET status = 'answered', etag = ?, body = ? WHERE"
                " tenant_id = ? AND project_id = ? AND task_id = ?",
                (new_etag(), _dumps(task), tenant_id, project_id, task_id))
        return task


class SqliteDeliveryStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def put(self, summary: Json) -> None:
        require_fields(summary, ("tenantId", "projectId"), "delivery summary")
        delivery_id = check_id(summary.get("deliveryId") or summary["projectId"], "deliveryId")
        body = {**summary, "deliveryId": delivery_id}
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO deliveries (tenant_id, project_id, delivery_id, body)"
                " VALUES (?, ?, ?, ?)",
                (summary["tenantId"], summary["projectId"], delivery_id, _dumps(body)))

    def get(self, tenant_id: str, project_id: str, delivery_id: str | None = None) -> Json | None:
        row = self.db.conn().execute(
            "SELECT body FROM deliveries WHERE tenant_id = ? AND project_id = ? AND"
            " delivery_id = ?", (tenant_id, project_id, delivery_id or project_id)).fetchone()
        return json.loads(row[0]) if row else None

    def list(self, tenant_id: str, project_id: str) -> list[Json]:
        rows = self.db.conn().execute(
            "SELECT body FROM deliveries WHERE tenant_id = ? AND project_id = ?"
            " ORDER BY delivery_id", (tenant_id, project_id)).fetchall()
        return [json.loads(r[0]) for r in rows]


class SqliteProcessedEvents:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def remember(self, tenant_id: str, project_id: str, key: str, ttl_sec: int) -> bool:
        now = time.time()
        with self.db.write() as conn:
            # An expired key counts as new: same observable behaviour as Cosmos TTL expiry.
            conn.execute(
                "DELETE FROM processed_events WHERE tenant_id = ? AND project_id = ? AND key = ?"
                " AND expires_at <= ?", (tenant_id, project_id, key, now))
            cur = conn.execute(
                "INSERT OR IGNORE INTO processed_events (tenant_id, project_id, key, expires_at)"
                " VALUES (?, ?, ?, ?)", (tenant_id, project_id, key, now + ttl_sec))
            return cur.rowcount == 1

    def purge_expired(self) -> int:
        """Drop expired keys (Cosmos does this itself with TTL); returns how many."""
        with self.db.write() as conn:
            return conn.execute(
                "DELETE FROM processed_events WHERE expires_at <= ?", (time.time(),)).rowcount


class SqliteProjectStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def put(self, project: Json) -> None:
        require_fields(project, ("tenantId", "projectId"), "project")
        check_id(project["projectId"], "projectId")
        body = {"createdAt": utc_now_iso(), **project}
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO projects (tenant_id, project_id, name, created_at, body)"
                " VALUES (?, ?, ?, ?, ?)",
                (body["tenantId"], body["projectId"], body.get("name"), body["createdAt"],
                 _dumps(body)))

    def get(self, tenant_id: str, project_id: str) -> Json | None:
        row = self.db.conn().execute(
            "SELECT body FROM projects WHERE tenant_id = ? AND project_id = ?",
            (tenant_id, project_id)).fetchone()
        return json.loads(row[0]) if row else None

    def list(
        self,
        tenant_id: str,
        *,
        name: str | None = None,
        created_after: str | None = None,
        continuation: str | None = None,
        limit: int = 100,
    ) -> Page:
        check_limit(limit)
        sql = "SELECT created_at, project_id, body FROM projects WHERE tenant_id = ?"
        args: list[Any] = [tenant_id]
        if name is not None:
            sql += " AND name = ?"
            args.append(name)
        if created_after is not None:
            sql += " AND created_at > ?"
            args.append(created_after)
        if continuation:
            created, pid = decode_token(continuation)
            sql += " AND (created_at < ? OR (created_at = ? AND project_id > ?))"
            args += [created, created, pid]
        sql += " ORDER BY created_at DESC, project_id ASC LIMIT ?"
        rows = self.db.conn().execute(sql, (*args, limit + 1)).fetchall()
        items = [json.loads(r[2]) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        token = encode_token([last[0], last[1]]) if last else None
        return items, token
