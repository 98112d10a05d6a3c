"""Azure Table Storage (Azurite locally) implementations of GraphStore and AuditLog.

Why: a deployment that already has a Storage account (the Durable task hub) can keep graphs and
the audit trail there without Cosmos DB; and ``bench/stores.py`` compares it with the others.

Layout: PartitionKey = ``<tenantId>|<projectId>`` (tenant in the key: a query can only ever
see one tenant's partition). Graph snapshots: RowKey = flowId, JSON body split in ≤30,000-char
properties ``body0..bodyN`` (Table properties hold 64 KiB; an entity 1 MiB), written as ONE
entity so a write is atomic. ETags: ``update_entity(..., match_condition=IfNotModified)``.
Audit: RowKey = ``<timestamp>|<id>`` (ordered by time; re-appending a record is a no-op).
Filters are OData with parameters only.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from podium.adapters._common import (
    check_id,
    check_limit,
    decode_token,
    encode_token,
    utc_now_iso,
)
from podium.adapters.ports import (
    AUDIT_REQUIRED_FIELDS,
    ConcurrencyError,
    Json,
    Page,
    ValidationError,
    require_fields,
)

CHUNK = 30_000
MAX_CHUNKS = 30  # ~900 KB of JSON, under the 1 MiB entity limit
GRAPHS_TABLE = "podiumGraphs"
AUDIT_TABLE = "podiumAudit"


def _pk(tenant_id: str, project_id: str) -> str:
    return f"{check_id(tenant_id, 'tenantId')}|{check_id(project_id, 'projectId')}"


def _pack(value: Json) -> dict[str, Any]:
    text = json.dumps(value, separators=(",", ":"))
    chunks = [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
    if len(chunks) > MAX_CHUNKS:
        raise ValidationError(f"record is too large for Table Storage ({len(text)} chars); "
                              "keep large payloads in the artifact store")
    return {"chunks": len(chunks), **{f"body{i}": c for i, c in enumerate(chunks)}}


def _unpack(entity: Any) -> Json:
    return json.loads("".join(entity[f"body{i}"] for i in range(int(entity["chunks"]))))


def _table(service: Any, name: str, create: bool) -> Any:
    if create:
        with contextlib.suppress(ResourceExistsError):
            service.create_table(name)
    return service.get_table_client(name)


class TableGraphStore:
    def __init__(self, service: Any, *, table: str = GRAPHS_TABLE, create: bool = False) -> None:
        self.t = _table(service, table, create)

    def save_snapshot(self, tenant_id: str, project_id: str, flow_id: str, snapshot: Json,
                      etag: str | None = None) -> str:
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": _pk(tenant_id, project_id),
                  "RowKey": check_id(flow_id, "flowId"), "updatedAt": utc_now_iso(),
                  **_pack(snapshot)}
        try:
            if etag is None:
                meta = self.t.create_entity(entity)
            else:
                meta = self.t.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                            match_condition=MatchConditions.IfNotModified)
        except ResourceExistsError:
            raise ConcurrencyError(f"snapshot {flow_id} of project {project_id} already exists; "
                                   "pass its etag to replace it") from None
        except (ResourceModifiedError, ResourceNotFoundError):
            raise ConcurrencyError(f"snapshot {flow_id} of project {project_id} changed or is "
                                   "gone (stale etag)") from None
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise ConcurrencyError(f"snapshot {flow_id} changed (stale etag)") from None
            raise
        return str(meta["etag"])

    def get_snapshot(
        self, tenant_id: str, project_id: str, flow_id: str
    ) -> tuple[Json, str] | None:
        try:
            entity = self.t.get_entity(_pk(tenant_id, project_id), flow_id)
        except ResourceNotFoundError:
            return None
        return _unpack(entity), str(entity.metadata["etag"])

    def list_snapshots(self, tenant_id: str, project_id: str, continuation: str | None = None,
                       limit: int = 100) -> Page:
        check_limit(limit)
        pager = self.t.query_entities("PartitionKey eq @pk", parameters={
            "pk": _pk(tenant_id, project_id)}, results_per_page=limit).by_page(
            decode_token(continuation) if continuation else None)
        try:
            page = list(next(pager))
        except StopIteration:
            return [], None
        items = [{"flowId": e["RowKey"], "snapshot": _unpack(e),
                  "etag": str(e.metadata["etag"]), "updatedAt": e.get("updatedAt")}
                 for e in page]
        token = pager.continuation_token
        return items, encode_token(token) if token else None


class TableAuditLog:
    def __init__(self, service: Any, *, table: str = AUDIT_TABLE, create: bool = False) -> None:
        self.t = _table(service, table, create)

    def append(self, record: Json) -> None:
        require_fields(record, AUDIT_REQUIRED_FIELDS, "audit record")
        check_id(record["id"], "audit id")
        entity = {"PartitionKey": _pk(record["tenantId"], record["projectId"]),
                  "RowKey": f"{record['timestamp']}|{record['id']}",
                  "traceId": record["traceId"], "type": record["type"],
                  "taskId": record.get("taskId") or "", "agentId": record.get("agentId") or "",
                  **_pack(record)}
        with contextlib.suppress(ResourceExistsError):  # append-only and idempotent
            self.t.create_entity(entity)

    def query(self, tenant_id: str, project_id: str, *, trace_id: str | None = None,
              task_id: str | None = None, agent_id: str | None = None,
              type: str | None = None,  # noqa: A002
              continuation: str | None = None, limit: int = 100) -> Page:
        check_limit(limit)
        flt, params = "PartitionKey eq @pk", {"pk": _pk(tenant_id, project_id)}
        for field, value in (("traceId", trace_id), ("taskId", task_id),
                             ("agentId", agent_id), ("type", type)):
            if value is not None:
                flt += f" and {field} eq @{field}"
                params[field] = value
        pager = self.t.query_entities(flt, parameters=params, results_per_page=limit).by_page(
            decode_token(continuation) if continuation else None)
        try:
            page = list(next(pager))
        except StopIteration:
            return [], None
        token = pager.continuation_token
        return [_unpack(e) for e in page], encode_token(token) if token else None
