"""The small, synchronous interfaces (ports) that activities use for all I/O.

Activities depend on these Protocols only, never on a concrete store, so the same activity code
runs on Azure (Cosmos DB, Service Bus, Key Vault, Blob) and on a laptop (SQLite, the embedded
broker, a secrets file, the filesystem). Every record carries ``tenantId`` and every read or query
takes the tenant id and filters by it: a caller cannot see another tenant's data by accident.

Concurrency model: writes that can race (graph snapshots, human-task answers) use ETags. A stale
ETag raises :class:`ConcurrencyError` instead of silently overwriting (no lost update);
:func:`update_snapshot` wraps the read-modify-write retry loop for callers that want it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

Json = dict[str, Any]
Page = tuple[list[Json], str | None]
"""A page of results and the continuation token for the next page (``None`` when done)."""


class AdapterError(Exception):
    """Base of the errors the adapters raise; messages never contain secret values."""


class ConcurrencyError(AdapterError):
    """The record changed since it was read (stale ETag) or was created concurrently."""


class AlreadyAnsweredError(ConcurrencyError):
    """A human task can be answered once; this one already was."""


class NotFoundError(AdapterError, KeyError):
    """The addressed record or artifact does not exist (for this tenant)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "not found"


class ValidationError(AdapterError, ValueError):
    """A record misses a required field or an id contains characters the stores reject."""


AUDIT_REQUIRED_FIELDS = (
    "id",
    "tenantId",
    "projectId",
    "traceId",
    "type",
    "actor",
    "action",
    "phase",
    "timestamp",
)


@runtime_checkable
class GraphStore(Protocol):
    """Execution graphs and orchestration snapshots, one per (tenant, project, flow)."""

    def save_snapshot(
        self,
        tenant_id: str,
        project_id: str,
        flow_id: str,
        snapshot: Json,
        etag: str | None = None,
    ) -> str:
        """Write the snapshot and return its new ETag.

        ``etag=None`` creates: it fails with :class:`ConcurrencyError` when the snapshot exists.
        With an ETag it replaces only if nobody wrote since (else :class:`ConcurrencyError`).
        """
        ...

    def get_snapshot(
        self, tenant_id: str, project_id: str, flow_id: str
    ) -> tuple[Json, str] | None:
        """Return ``(snapshot, etag)`` or ``None``."""
        ...

    def list_snapshots(
        self, tenant_id: str, project_id: str, continuation: str | None = None, limit: int = 100
    ) -> Page:
        """Items are ``{"flowId", "snapshot", "etag", "updatedAt"}`` ordered by flow id."""
        ...


@runtime_checkable
class AuditLog(Protocol):
    """Append-only audit trail. Appending the same id twice is a no-op (activity retries)."""

    def append(self, record: Json) -> None: ...

    def query(
        self,
        tenant_id: str,
        project_id: str,
        *,
        trace_id: str | None = None,
        task_id: str | None = None,
        agent_id: str | None = None,
        type: str | None = None,  # noqa: A002 - the record field is called "type"
        continuation: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Records in append (timestamp) order, filtered by every argument given."""
        ...


@runtime_checkable
class HumanTaskStore(Protocol):
    """Human-in-the-loop tasks: ``status`` is ``pending`` until answered exactly once."""

    def put(self, task: Json) -> str:
        """Create or overwrite a task (needs tenantId, projectId, taskId); returns its ETag."""
        ...

    def get(self, tenant_id: str, project_id: str, task_id: str) -> tuple[Json, str] | None: ...

    def list_pending(self, tenant_id: str, project_id: str) -> list[Json]: ...

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
        """Record the answer and return the answered task.

        Raises :class:`AlreadyAnsweredError` if it was answered (also when two answers race:
        the loser sees the winner's answer), :class:`ConcurrencyError` for a stale ``etag`` and
        :class:`NotFoundError` for an unknown task.
        """
        ...


@runtime_checkable
class DeliveryStore(Protocol):
    """Delivery summaries (what was produced, where the artifacts are) per project."""

    def put(self, summary: Json) -> None:
        """Upsert; keyed by ``deliveryId`` (defaults to the projectId: one per project)."""
        ...

    def get(self, tenant_id: str, project_id: str, delivery_id: str | None = None) -> Json | None:
        ...

    def list(self, tenant_id: str, project_id: str) -> list[Json]: ...


@runtime_checkable
class ProcessedEvents(Protocol):
    """Idempotency keys: lets a handler run once per event even when messages are redelivered."""

    def remember(self, tenant_id: str, project_id: str, key: str, ttl_sec: int) -> bool:
        """True the first time ``key`` is seen within ``ttl_sec``; False for a duplicate."""
        ...


@runtime_checkable
class ProjectStore(Protocol):
    """Project records: tenantId, projectId, name, request, createdAt (+ anything else)."""

    def put(self, project: Json) -> None: ...

    def get(self, tenant_id: str, project_id: str) -> Json | None: ...

    def list(
        self,
        tenant_id: str,
        *,
        name: str | None = None,
        created_after: str | None = None,
        continuation: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Projects of one tenant, newest first; ``name`` is an exact match."""
        ...


@runtime_checkable
class EventPublisher(Protocol):
    """Publishes an event envelope to a topic or queue (Service Bus or the embedded broker)."""

    def publish(
        self,
        destination: str,
        envelope: Json,
        *,
        message_id: str,
        correlation_id: str,
        application_properties: Mapping[str, str],
        scheduled_enqueue_time: datetime | None = None,
    ) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class SecretResolverPort(Protocol):
    """Resolves ``@vault:name`` references for one tenant at the last moment."""

    def resolve(
        self,
        tenant_id: str,
        name: str,
        *,
        trace_id: str,
        agent_id: str,
        project_id: str | None = None,
    ) -> str: ...

    def resolve_refs(
        self,
        obj: Any,
        tenant_id: str,
        *,
        trace_id: str,
        agent_id: str,
        project_id: str | None = None,
    ) -> Any: ...


@runtime_checkable
class ArtifactStore(Protocol):
    """Delivery artifacts and large payloads, keyed tenant / project / relative path."""

    def put_bytes(
        self,
        tenant_id: str,
        project_id: str,
        path: str,
        data: bytes,
        content_type: str | None = None,
    ) -> str:
        """Store ``data`` and return its :meth:`url`."""
        ...

    def put_file(
        self, tenant_id: str, project_id: str, path: str, file_path: str,
        content_type: str | None = None,
    ) -> str: ...

    def get(self, tenant_id: str, project_id: str, path: str) -> bytes: ...

    def list(self, tenant_id: str, project_id: str, prefix: str = "") -> list[str]: ...

    def url(self, tenant_id: str, project_id: str, path: str) -> str: ...

    def zip_export(self, tenant_id: str, project_id: str,
                   exclude: Collection[str] = ()) -> bytes: ...


def update_snapshot(
    store: GraphStore,
    tenant_id: str,
    project_id: str,
    flow_id: str,
    change: Callable[[Json | None], Json],
    *,
    attempts: int = 5,
) -> tuple[Json, str]:
    """Read-modify-write a snapshot, retrying when another writer got there first.

    ``change`` receives the current snapshot (``None`` when absent) and returns the new one; it
    must be a pure function of its input because it may run several times. After ``attempts``
    conflicts the last :class:`ConcurrencyError` is raised (surfaced, never swallowed).
    """
    last: ConcurrencyError | None = None
    for _ in range(attempts):
        current = store.get_snapshot(tenant_id, project_id, flow_id)
        snapshot, etag = current if current else (None, None)
        new = change(snapshot)
        try:
            return new, store.save_snapshot(tenant_id, project_id, flow_id, new, etag=etag)
        except ConcurrencyError as exc:
            last = exc
    assert last is not None
    raise last


AUDIT_MAY_BE_EMPTY = frozenset({"phase"})
"""Audit fields that must be present but may be "" (e.g. no lifecycle phase applies)."""


def require_fields(record: Mapping[str, Any], fields: tuple[str, ...], what: str) -> None:
    """Raise :class:`ValidationError` naming the missing (or empty) fields of ``record``."""
    missing = [f for f in fields if record.get(f) is None
               or (record.get(f) == "" and f not in AUDIT_MAY_BE_EMPTY)]
    if missing:
        raise ValidationError(f"{what} is missing required field(s): {', '.join(missing)}")
