"""Remembers which task attempts were processed, so a redelivered task runs once.

Why two layers: an in-memory LRU answers the common case (a broker redelivering within the
same process) for free; the optional SQLite file keeps the memory across a restart of the
agent process, which is when Service Bus redelivers most (the lock expired while the process
was down). Only finished attempts are stored, with the answer that was sent, so a redelivery
gets the same answer again and an attempt interrupted mid-way is simply run again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any


class ProcessedMemo:
    """key -> the terminal result envelope that was sent for it."""

    def __init__(self, capacity: int = 10_000, sqlite_path: str | Path | None = None) -> None:
        self._capacity = capacity
        self._lru: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if sqlite_path is not None:
            Path(sqlite_path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(sqlite_path), check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS processed_tasks ("
                " key TEXT PRIMARY KEY, result TEXT NOT NULL, at REAL NOT NULL)")

    def begin(self, key: str) -> tuple[str, dict[str, Any] | None]:
        """Claim a key: ("new", None), ("done", result) or ("in-flight", None)."""
        with self._lock:
            if key in self._in_flight:
                return "in-flight", None
            result = self._lookup(key)
            if result is not None:
                return "done", result
            self._in_flight.add(key)
            return "new", None

    def finish(self, key: str, result: dict[str, Any] | None) -> None:
        """Record the terminal answer (None: nothing was answered, forget the claim)."""
        with self._lock:
            self._in_flight.discard(key)
            if result is None:
                return
            self._remember(key, result)
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO processed_tasks (key, result, at) VALUES (?, ?, ?)",
                    (key, json.dumps(result), time.time()))

    def _lookup(self, key: str) -> dict[str, Any] | None:
        if key in self._lru:
            self._lru.move_to_end(key)
            return self._lru[key]
        if self._db is None:
            return None
        row = self._db.execute(
            "SELECT result FROM processed_tasks WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        result = json.loads(row[0])
        self._remember(key, result)
        return result

    def _remember(self, key: str, result: dict[str, Any]) -> None:
        self._lru[key] = result
        self._lru.move_to_end(key)
        while len(self._lru) > self._capacity:
            self._lru.popitem(last=False)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
