"""The durable engine of the local host: SQLite store, orchestration/entity dispatch, activities.

Public API: :class:`Engine` (implements ``podium.localhost.api.DurableEngine``),
:class:`EngineOptions`, :class:`DurableStore`, :class:`SqliteStore`.
"""

from podium.localhost.engine.core import Engine, EngineOptions
from podium.localhost.engine.store import DurableStore, SqliteStore

__all__ = ["DurableStore", "Engine", "EngineOptions", "SqliteStore"]
