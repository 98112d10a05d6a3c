"""Builds the set of record stores (graphs, audit, tasks, deliveries, events, projects).

One function per backend so the factory, the contract tests and the benchmark construct them
the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from podium.adapters.ports import (
    AuditLog,
    DeliveryStore,
    GraphStore,
    HumanTaskStore,
    ProcessedEvents,
    ProjectStore,
)


@dataclass
class RecordStores:
    graphs: GraphStore
    audit: AuditLog
    human_tasks: HumanTaskStore
    deliveries: DeliveryStore
    processed_events: ProcessedEvents
    projects: ProjectStore
    kind: str
    _close: Callable[[], None] = field(default=lambda: None, repr=False)

    def close(self) -> None:
        self._close()


def sqlite_stores(data_dir: str | Path) -> RecordStores:
    from podium.adapters import sqlite_store as s

    db = s.SqliteDatabase.in_dir(data_dir)
    return RecordStores(
        graphs=s.SqliteGraphStore(db), audit=s.SqliteAuditLog(db),
        human_tasks=s.SqliteHumanTaskStore(db), deliveries=s.SqliteDeliveryStore(db),
        processed_events=s.SqliteProcessedEvents(db), projects=s.SqliteProjectStore(db),
        kind="sqlite", _close=db.close,
    )


def cosmos_stores(
    endpoint: str,
    *,
    key: str | None = None,
    database: str,
    create_containers: bool = False,
    verify_tls: bool = True,
) -> RecordStores:
    """Cosmos stores with a key (emulator / dev) or, without a key, DefaultAzureCredential."""
    from azure.cosmos import CosmosClient

    from podium.adapters import cosmos_store as c

    if key:
        client = CosmosClient(endpoint, credential=key, connection_verify=verify_tls)
    else:
        from azure.identity import DefaultAzureCredential

        client = CosmosClient(endpoint, credential=DefaultAzureCredential(),
                              connection_verify=verify_tls)
    db = c.CosmosDatabase(client, database, create_containers=create_containers)
    return RecordStores(
        graphs=c.CosmosGraphStore(db), audit=c.CosmosAuditLog(db),
        human_tasks=c.CosmosHumanTaskStore(db), deliveries=c.CosmosDeliveryStore(db),
        processed_events=c.CosmosProcessedEvents(db), projects=c.CosmosProjectStore(db),
        kind="cosmos", _close=client.close,
    )


@dataclass
class GraphAuditStores:
    """Graph snapshots + audit only (the backends that implement just these two)."""

    graphs: GraphStore
    audit: AuditLog
    kind: str
    _close: Callable[[], None] = field(default=lambda: None, repr=False)

    def close(self) -> None:
        self._close()


def table_stores(connection_string: str, *, create_tables: bool = False,
                 table_prefix: str = "podium") -> GraphAuditStores:
    """Azure Table Storage (Azurite) graph + audit stores."""
    from azure.data.tables import TableServiceClient

    from podium.adapters.table_store import TableAuditLog, TableGraphStore

    service = TableServiceClient.from_connection_string(connection_string)
    return GraphAuditStores(
        graphs=TableGraphStore(service, table=f"{table_prefix}Graphs", create=create_tables),
        audit=TableAuditLog(service, table=f"{table_prefix}Audit", create=create_tables),
        kind="tables", _close=service.close,
    )
