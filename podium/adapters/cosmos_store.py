"""Cosmos DB (NoSQL API) implementations of the record ports.

Every container is partitioned by ``/projectId`` (a project's records are read together, and a
project is the unit of concurrency). Documents are envelopes::

    {"id": "<tenantId>:<key>", "tenantId", "projectId", "key", "body": <the record>, ...}

The tenant is part of the id because two tenants may use the same projectId (same partition);
every query filters ``c.tenantId = @tenantId`` and every point read checks it, so a tenant never
reads another tenant's document. Queries are parameterized only (no string building with
values) and put the partition key in the WHERE clause as well as in ``partition_key=``.

Concurrency: replaces use ``MatchConditions.IfNotModified`` with the document's ``_etag``; a 412
becomes :class:`ConcurrencyError`. Creates use ``create_item`` so a 409 means "someone else
created it first". Cosmos writes are atomic per document: a crash cannot half-write one.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from azure.core import MatchConditions
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from podium import topology
from podium.adapters._common import check_id, check_limit, doc_id, utc_now_iso
from podium.adapters.ports import (
    AUDIT_REQUIRED_FIELDS,
    AlreadyAnsweredError,
    ConcurrencyError,
    Json,
    NotFoundError,
    Page,
    require_fields,
)

# container name -> default TTL (None: off; -1: on, per-item "ttl" decides)
CONTAINERS: dict[str, int | None] = {
    topology.CONTAINER_EXECUTION_GRAPHS: None,
    topology.CONTAINER_AUDIT: None,
    topology.CONTAINER_DELIVERIES: None,
    topology.CONTAINER_HUMAN_TASKS: None,
    topology.CONTAINER_PROCESSED_EVENTS: -1,
    topology.CONTAINER_PROJECTS: None,
}


class CosmosDatabase:
    """Holds the client and the container proxies; creates them when asked (local/dev only).

    In Azure the containers come from ``infra/`` (Bicep) and the app's identity has data-plane
    rights only, so ``create_containers`` stays off there.
    """

    def __init__(self, client: CosmosClient, database: str = topology.COSMOS_DATABASE, *,
                 create_containers: bool = False) -> None:
        self.client = client
        if create_containers:
            db = client.create_database_if_not_exists(database)
            for name, ttl in CONTAINERS.items():
                kwargs: dict[str, Any] = {"default_ttl": ttl} if ttl is not None else {}
                db.create_container_if_not_exists(
                    name, PartitionKey(path=topology.COSMOS_PARTITION_KEY), **kwargs)
        self.db = client.get_database_client(database)

    def container(self, name: str) -> ContainerProxy:
        return self.db.get_container_client(name)


def _envelope(tenant_id: str, project_id: str, key: str, body: Json, **extra: Any) -> Json:
    return {"id": doc_id(tenant_id, key), "tenantId": tenant_id, "projectId": project_id,
            "key": key, "body": body, **extra}


class _Base:
    container_name: str

    def __init__(self, db: CosmosDatabase) -> None:
        self.c = db.container(self.container_name)

    def _read(self, tenant_id: str, project_id: str, key: str) -> Json | None:
        """Point read (1 RU) of this tenant's document, or None."""
        try:
            doc = self.c.read_item(doc_id(tenant_id, key), partition_key=project_id)
        except CosmosResourceNotFoundError:
            return None
        return doc if doc.get("tenantId") == tenant_id else None

    def _page(self, query: str, params: list[dict[str, Any]], continuation: str | None,
              limit: int, partition_key: str | None) -> tuple[list[Json], str | None]:
        kwargs: dict[str, Any] = {"parameters": params, "max_item_count": limit}
        if partition_key is None:
            kwargs["enable_cross_partition_query"] = True
        else:
            kwargs["partition_key"] = partition_key
        pager = self.c.query_items(query, **kwargs).by_page(continuation)
        try:
            items = list(next(pager))
        except StopIteration:
            return [], None
        return items, pager.continuation_token or None

    def _all(self, query: str, params: list[dict[str, Any]], partition_key: str) -> list[Json]:
        return list(self.c.query_items(query, parameters=params, partition_key=partition_key))


_WHERE = "c.tenantId = @tenantId AND c.projectId = @projectId"


def _scope(tenant_id: str, project_id: str) -> list[dict[str, Any]]:
    return [{"name": "@tenantId", "value": tenant_id}, {"name": "@projectId", "value": project_id}]


class CosmosGraphStore(_Base):
    container_name = topology.CONTAINER_EXECUTION_GRAPHS

    def save_snapshot(
        self,
        tenant_id: str,
        project_id: str,
        flow_id: str,
        snapshot: Json,
        etag: str | None = None,
    ) -> str:
        check_id(tenant_id, "tenantId")
        check_id(project_id, "projectId")
        check_id(flow_id, "flowId")
        doc = _envelope(tenant_id, project_id, flow_id, snapshot, updatedAt=utc_now_iso())
        try:
            if etag is None:
                saved = self.c.create_item(doc)
            else:
                saved = self.c.replace_item(doc["id"], doc, etag=etag,
                                            match_condition=MatchConditions.IfNotModified)
        except CosmosResourceExistsError:
            raise ConcurrencyError(f"snapshot {flow_id} of project {project_id} already exists; "
                                   "pass its etag to replace it") from None
        except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
            raise ConcurrencyError(f"snapshot {flow_id} of project {project_id} changed or is "
                                   "gone (stale etag)") from None
        return str(saved["_etag"])

    def get_snapshot(
        self, tenant_id: str, project_id: str, flow_id: str
    ) -> tuple[Json, str] | None:
        doc = self._read(tenant_id, project_id, flow_id)
        return (doc["body"], doc["_etag"]) if doc else None

    def list_snapshots(
        self, tenant_id: str, project_id: str, continuation: str | None = None, limit: int = 100
    ) -> Page:
        check_limit(limit)
        docs, token = self._page(
            f"SELECT * FROM c WHERE {_WHERE} ORDER BY c.key", _scope(tenant_id, project_id),
            continuation, limit, project_id)
        return [{"flowId": d["key"], "snapshot": d["body"], "etag": d["_etag"],
                 "updatedAt": d.get("updatedAt")} for d in docs], token


class CosmosAuditLog(_Base):
    container_name = topology.CONTAINER_AUDIT

    def append(self, record: Json) -> None:
        require_fields(record, AUDIT_REQUIRED_FIELDS, "audit record")
        check_id(record["id"], "audit id")
        doc = _envelope(record["tenantId"], record["projectId"], record["id"], record,
                        ts=record["timestamp"])
        # append-only and idempotent: a retried activity re-appends the same id
        with contextlib.suppress(CosmosResourceExistsError):
            self.c.create_item(doc)

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
        query, params = f"SELECT * FROM c WHERE {_WHERE}", _scope(tenant_id, project_id)
        for field, value in (("traceId", trace_id), ("taskId", task_id),
                             ("agentId", agent_id), ("type", type)):
            if value is not None:
                # field names are constants; the ['x'] form cannot clash with a SQL keyword
                query += f" AND c.body['{field}'] = @{field}"
                params.append({"name": f"@{field}", "value": value})
        docs, token = self._page(query + " ORDER BY c.ts", params, continuation, limit,
                                 project_id)
        return [d["body"] for d in docs], token


class CosmosHumanTaskStore(_Base):
    container_name = topology.CONTAINER_HUMAN_TASKS

    def put(self, task: Json) -> str:
        require_fields(task, ("tenantId", "projectId", "taskId"), "human task")
        check_id(task["taskId"], "taskId")
        body = {**task, "status": "pending"}
        doc = _envelope(task["tenantId"], task["projectId"], task["taskId"], body,
                        status="pending")
        for _ in range(5):
            current = self._read(task["tenantId"], task["projectId"], task["taskId"])
            try:
                if current is None:
                    return str(self.c.create_item(doc)["_etag"])
                if current["body"].get("status") != "pending":
                    # a retried put must not re-open an answered task
                    raise AlreadyAnsweredError(
                        f"human task {task['taskId']} was already answered")
                return str(self.c.replace_item(
                    doc["id"], doc, etag=current["_etag"],
                    match_condition=MatchConditions.IfNotModified)["_etag"])
            except (CosmosResourceExistsError, CosmosAccessConditionFailedError):
                continue  # raced with another writer: look again
        raise ConcurrencyError(f"human task {task['taskId']} keeps changing; put gave up")

    def get(self, tenant_id: str, project_id: str, task_id: str) -> tuple[Json, str] | None:
        doc = self._read(tenant_id, project_id, task_id)
        return (doc["body"], doc["_etag"]) if doc else None

    def list_pending(self, tenant_id: str, project_id: str) -> list[Json]:
        docs = self._all(f"SELECT * FROM c WHERE {_WHERE} AND c.status = 'pending' "
                         "ORDER BY c.key", _scope(tenant_id, project_id), project_id)
        return [d["body"] for d in docs]

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
        doc = self._read(tenant_id, project_id, task_id)
        if doc is None:
            raise NotFoundError(f"human task {task_id} not found in project {project_id}")
        if doc["body"].get("status") != "pending":
            raise AlreadyAnsweredError(f"human task {task_id} was already answered")
        if etag is not None and etag != doc["_etag"]:
            raise ConcurrencyError(f"human task {task_id} changed (stale etag)")
        body = {**doc["body"], "status": "answered", "answer": answer,
                "answeredBy": answered_by, "answeredAt": utc_now_iso()}
        new = _envelope(tenant_id, project_id, task_id, body, status="answered")
        try:
            self.c.replace_item(new["id"], new, etag=doc["_etag"],
                                match_condition=MatchConditions.IfNotModified)
        except CosmosAccessConditionFailedError:
            # Someone wrote in between: most likely a concurrent answer. Re-read to say which.
            current = self._read(tenant_id, project_id, task_id)
            if current and current["body"].get("status") != "pending":
                raise AlreadyAnsweredError(f"human task {task_id} was already answered") from None
            raise ConcurrencyError(f"human task {task_id} changed concurrently") from None
        return body


class CosmosDeliveryStore(_Base):
    container_name = topology.CONTAINER_DELIVERIES

    def put(self, summary: Json) -> None:
        require_fields(summary, ("tenantId", "projectId"), "delivery summary")
        delivery_id = check_id(summary.get("deliveryId") or summary["projectId"], "deliveryId")
        body = {**summary, "deliveryId": delivery_id}
        self.c.upsert_item(_envelope(summary["tenantId"], summary["projectId"], delivery_id, body))

    def get(self, tenant_id: str, project_id: str, delivery_id: str | None = None) -> Json | None:
        doc = self._read(tenant_id, project_id, delivery_id or project_id)
        return doc["body"] if doc else None

    def list(self, tenant_id: str, project_id: str) -> list[Json]:
        docs = self._all(f"SELECT * FROM c WHERE {_WHERE} ORDER BY c.key",
                         _scope(tenant_id, project_id), project_id)
        return [d["body"] for d in docs]


class CosmosProcessedEvents(_Base):
    """Keys are documents with a per-item ``ttl``: Cosmos deletes them after ``ttl_sec``.

    ``expiresAt`` is also stored and checked, so a key whose TTL elapsed but is not purged yet
    (or a store without TTL, like the emulator) still counts as new, as in the SQLite store.
    """

    container_name = topology.CONTAINER_PROCESSED_EVENTS

    def remember(self, tenant_id: str, project_id: str, key: str, ttl_sec: int) -> bool:
        check_id(key, "event key")
        now = time.time()
        doc = _envelope(tenant_id, project_id, key, {}, expiresAt=now + ttl_sec,
                        ttl=max(1, int(ttl_sec)))
        try:
            self.c.create_item(doc)
            return True
        except CosmosResourceExistsError:
            pass
        current = self._read(tenant_id, project_id, key)
        if current is not None and current.get("expiresAt", 0) > now:
            return False
        try:
            if current is None:  # purged between our create and read
                self.c.create_item(doc)
            else:
                self.c.replace_item(doc["id"], doc, etag=current["_etag"],
                                    match_condition=MatchConditions.IfNotModified)
        except (CosmosAccessConditionFailedError, CosmosResourceExistsError):
            return False  # another handler claimed the expired key first
        return True


class CosmosProjectStore(_Base):
    container_name = topology.CONTAINER_PROJECTS

    def put(self, project: Json) -> None:
        require_fields(project, ("tenantId", "projectId"), "project")
        check_id(project["projectId"], "projectId")
        body = {"createdAt": utc_now_iso(), **project}
        self.c.upsert_item(_envelope(body["tenantId"], body["projectId"], body["projectId"], body,
                                     createdAt=body["createdAt"], name=body.get("name")))

    def get(self, tenant_id: str, project_id: str) -> Json | None:
        doc = self._read(tenant_id, project_id, project_id)
        return doc["body"] if doc else None

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
        query = "SELECT * FROM c WHERE c.tenantId = @tenantId"
        params: list[dict[str, Any]] = [{"name": "@tenantId", "value": tenant_id}]
        if name is not None:
            query += " AND c.name = @name"
            params.append({"name": "@name", "value": name})
        if created_after is not None:
            query += " AND c.createdAt > @createdAfter"
            params.append({"name": "@createdAfter", "value": created_after})
        docs, token = self._page(query + " ORDER BY c.createdAt DESC", params, continuation,
                                 limit, None)
        return [d["body"] for d in docs], token
