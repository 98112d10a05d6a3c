"""The local host's task hub in Azure Storage (Azurite locally): a ``DurableStore``.

Like the Durable Functions Azure Storage provider, the hub lives in tables (instances, history,
pending work, entities) and blobs of one storage account (``AzureWebJobsStorage``, e.g.
``UseDevelopmentStorage=true``). The engine's contract is that ``apply(batch)`` is atomic, but
Table Storage transactions cover one partition only. So each batch is first written as ONE blob
to a journal container (a single PUT: it exists entirely or not at all), then applied to the
tables with idempotent operations (upserts, deletes that ignore "not found"); a cleaner thread
then deletes applied journal blobs, in order, off the commit path. On open, journal blobs left by
a crash are re-applied in order before anything else runs: a ``kill -9`` at any point leaves
either the previous state or the whole batch (see ``_clean_journal`` for why re-applying batches
that were already applied is harmless).

Reads hold the same lock as ``apply``, so a reader in this process never sees half a batch.
One process owns a hub at a time (as with the SQLite store): the owner holds a blob lease on
``<hub>-leases/owner`` (15 s, renewed every 5 s by a thread, released by ``close()``), as the
Durable Functions provider leases its partitions. A second store on the same hub waits up to
``lock_wait`` seconds (default: long enough for the lease of a killed owner to expire) and then
raises ``StoreLocked``. A store whose lease could not be renewed refuses further writes.

Layout (``<hub>`` = task hub name): tables ``<hub>Instances`` (PK ``i``, RK instance id),
``<hub>History`` (PK instance id, RK 10-digit index), ``<hub>Pending`` (PK ``messages`` /
``work`` / ``timers`` / ``entity_ops``, RK 20-digit id, ``owner`` = instance or entity id),
``<hub>Entities`` (PK ``e``, RK entity id); blob containers ``<hub>-journal`` and
``<hub>-leases``. Keys are escaped
(``%XX``) for the characters Table Storage refuses in keys. Values larger than a property holds
are split in ``body0..bodyN``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from podium.localhost.api import InstanceQuery, RuntimeStatus
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
from podium.localhost.engine.store import (
    DurableStore,
    StoreLocked,
    decode_token,
    encode_token,
    parse_ts,
    ts,
)

log = logging.getLogger("podium.adapters.durable_azure_storage")
LEASE_SECONDS = 15  # the shortest lease Azure Storage grants
RENEW_EVERY = 5.0

CHUNK = 30_000
PENDING_KINDS = ("messages", "work", "timers", "entity_ops")
_BAD_KEY_CHARS = set("/\\#?%") | {chr(c) for c in range(0x20)} | {chr(0x7F)}


def escape_key(value: str) -> str:
    """Table keys may not contain / \\ # ? or control characters; escape them (and %)."""
    return "".join(f"%{ord(c):02X}" if c in _BAD_KEY_CHARS else c for c in value)


def unescape_key(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "%":
            out.append(chr(int(value[i + 1:i + 3], 16)))
            i += 3
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _pack(text: str) -> dict[str, Any]:
    chunks = [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
    return {"chunks": len(chunks), **{f"body{i}": c for i, c in enumerate(chunks)}}


def _unpack(entity: Any) -> str:
    return "".join(entity[f"body{i}"] for i in range(int(entity["chunks"])))


def _rk(n: int, width: int = 20) -> str:
    return f"{n:0{width}d}"


# -- batch (de)serialization for the journal ---------------------------------------------------

def _instance_json(r: InstanceRecord) -> dict[str, Any]:
    return {"instance_id": r.instance_id, "name": r.name, "execution_id": r.execution_id,
            "status": r.status.value, "input": r.input, "created": ts(r.created),
            "updated": ts(r.updated), "output": r.output, "custom_status": r.custom_status,
            "parent": r.parent, "state": r.state}


def _instance_of(d: dict[str, Any]) -> InstanceRecord:
    return InstanceRecord(
        instance_id=d["instance_id"], name=d["name"], execution_id=d["execution_id"],
        status=RuntimeStatus(d["status"]), input=d["input"], created=parse_ts(d["created"]),
        updated=parse_ts(d["updated"]), output=d["output"], custom_status=d["custom_status"],
        parent=d["parent"], state=d["state"])


def _timer_json(t: TimerRecord) -> dict[str, Any]:
    return {**asdict(t), "fire_at": ts(t.fire_at)}


def _entity_json(e: EntityRecord) -> dict[str, Any]:
    return {**asdict(e), "last_modified": ts(e.last_modified) if e.last_modified else None}


def batch_to_json(b: WriteBatch) -> str:
    return json.dumps({
        "put_instances": [_instance_json(r) for r in b.put_instances.values()],
        "purge_instances": b.purge_instances, "clear_history": b.clear_history,
        "append_history": b.append_history, "add_messages": [asdict(m) for m in b.add_messages],
        "delete_messages": b.delete_messages, "delete_all_messages": b.delete_all_messages,
        "add_work": [asdict(w) for w in b.add_work], "delete_work": b.delete_work,
        "add_timers": [_timer_json(t) for t in b.add_timers], "delete_timers": b.delete_timers,
        "delete_instance_timers": b.delete_instance_timers,
        "add_entity_ops": [asdict(o) for o in b.add_entity_ops],
        "delete_entity_ops": b.delete_entity_ops,
        "put_entities": [_entity_json(e) for e in b.put_entities],
    }, separators=(",", ":"))


def batch_from_json(text: str) -> WriteBatch:
    d = json.loads(text)
    return WriteBatch(
        put_instances={r["instance_id"]: _instance_of(r) for r in d["put_instances"]},
        purge_instances=d["purge_instances"], clear_history=d["clear_history"],
        append_history=[(i, s, ev) for i, s, ev in d["append_history"]],
        add_messages=[Message(**m) for m in d["add_messages"]],
        delete_messages=[(i, n) for i, n in d["delete_messages"]],
        delete_all_messages=d["delete_all_messages"],
        add_work=[WorkItem(**w) for w in d["add_work"]], delete_work=d["delete_work"],
        add_timers=[TimerRecord(**{**t, "fire_at": parse_ts(t["fire_at"])})
                    for t in d["add_timers"]],
        delete_timers=d["delete_timers"], delete_instance_timers=d["delete_instance_timers"],
        add_entity_ops=[EntityOp(**o) for o in d["add_entity_ops"]],
        delete_entity_ops=[(e, n) for e, n in d["delete_entity_ops"]],
        put_entities=[EntityRecord(e["entity_id"], e["exists"], e["state"],
                                   parse_ts(e["last_modified"]) if e["last_modified"] else None)
                      for e in d["put_entities"]],
    )


class AzureStorageDurableStore(DurableStore):
    """Task hub in Azure Storage tables + a blob journal; see the module docstring."""

    def __init__(self, connection_string: str, hub: str = "PodiumHub",
                 lock_wait: float | None = None) -> None:
        from azure.data.tables import TableServiceClient
        from azure.storage.blob import BlobServiceClient

        if not hub.isalnum() or not hub[0].isalpha():
            raise ValueError(f"task hub name {hub!r} must be alphanumeric, starting with a letter")
        self.hub = hub
        self._lock = threading.RLock()
        self._lease: Any = None
        self._pidx: dict[str, dict[int, str]] | None = None  # see _pending_index
        self._applied: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._cleaner: threading.Thread | None = None
        self._closing = threading.Event()
        self._lease_lost = False
        self._stop_renewing = threading.Event()
        self._renewer: threading.Thread | None = None
        self._tables_service = TableServiceClient.from_connection_string(connection_string)
        # the blob SDK's default retry waits 15 s, then 18 s, then 42 s: far too long for a
        # local host to report that its storage is unreachable
        self._blobs_service = BlobServiceClient.from_connection_string(
            connection_string, retry_total=3, initial_backoff=1, increment_base=2)
        try:
            self._t: dict[str, Any] = {}
            for name in ("Instances", "History", "Pending", "Entities"):  # fails fast if down
                with contextlib.suppress(ResourceExistsError):
                    self._tables_service.create_table(f"{hub}{name}")
                self._t[name] = self._tables_service.get_table_client(f"{hub}{name}")
            self._acquire_ownership(LEASE_SECONDS + 3 if lock_wait is None else lock_wait)
            self._journal = self._blobs_service.get_container_client(f"{hub.lower()}-journal")
            with contextlib.suppress(ResourceExistsError):
                self._journal.create_container()
            self._seq = itertools.count()
            self._last_ns = 0
            self.recovered = self._replay_journal()
            self._cleaner = threading.Thread(target=self._clean_journal, daemon=True,
                                             name=f"journal-{hub}")
            self._cleaner.start()
        except BaseException:
            self.close()
            raise

    # -- ownership: one process per task hub ------------------------------------------------------
    def _acquire_ownership(self, wait: float) -> None:
        """Lease ``<hub>-leases/owner``; wait up to ``wait`` s for another owner's lease (a
        killed process's lease expires within LEASE_SECONDS), then raise StoreLocked."""
        leases = self._blobs_service.get_container_client(f"{self.hub.lower()}-leases")
        with contextlib.suppress(ResourceExistsError):
            leases.create_container()
        blob = leases.get_blob_client("owner")
        with contextlib.suppress(ResourceExistsError):
            blob.upload_blob(b"", overwrite=False)
        deadline = time.monotonic() + wait
        waited = False
        while True:
            try:
                self._lease = blob.acquire_lease(lease_duration=LEASE_SECONDS)
                break
            except HttpResponseError as exc:
                if exc.status_code != 409:  # 409 LeaseAlreadyPresent: someone else owns it
                    raise
            if time.monotonic() >= deadline:
                raise StoreLocked(
                    f"another host process is using the task hub {self.hub!r} in Azure Storage "
                    f"(it holds the lease on {leases.container_name}/owner)")
            if not waited:
                log.info("task hub %s is leased by another process; waiting up to %.0f s for "
                         "the lease to be released or to expire", self.hub, wait)
                waited = True
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        self._renewer = threading.Thread(target=self._renew, name=f"lease-{self.hub}",
                                         daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        """Renew every RENEW_EVERY s. A refusal (409/412: broken, taken, expired) loses the
        lease at once; other failures (a slow or restarting storage) are retried until the lease
        would have expired."""
        renewed = time.monotonic()
        while not self._stop_renewing.wait(RENEW_EVERY):
            try:
                self._lease.renew()
                renewed = time.monotonic()
                continue
            except Exception as exc:  # noqa: BLE001 - decide below whether we still own it
                if self._stop_renewing.is_set():
                    return
                refused = isinstance(exc, HttpResponseError) and exc.status_code in (409, 412)
                if not refused and time.monotonic() - renewed < LEASE_SECONDS - 2:
                    log.warning("renewing the lease of task hub %s failed (%s); retrying",
                                self.hub, type(exc).__name__)
                    continue
                self._lease_lost = True
                log.error("lost the lease of task hub %s (%s): this store refuses writes; "
                          "restart the host", self.hub, type(exc).__name__)
                return

    # -- journal ------------------------------------------------------------------------------
    def _replay_journal(self) -> int:
        """Re-apply batches a crash left in the journal; returns how many."""
        names = sorted(b.name for b in self._journal.list_blobs())
        for name in names:
            batch = batch_from_json(self._journal.download_blob(name).readall().decode())
            self._write(batch)
            self._journal.delete_blob(name)
        return len(names)

    def apply(self, batch: WriteBatch) -> None:
        if batch.is_empty():
            return
        if self._lease_lost:
            raise StoreLocked(f"the lease of task hub {self.hub!r} was lost; another host "
                              "process may own it now")
        with self._lock:
            self._last_ns = max(time.time_ns(), self._last_ns + 1)  # names sort in apply order
            name = f"{self._last_ns:020d}-{os.getpid()}-{next(self._seq):08d}.json"
            self._journal.upload_blob(name, batch_to_json(batch).encode(), overwrite=True)
            self._write(batch)
            self._applied.put(name)  # deleted by the journal cleaner, in order

    def _clean_journal(self) -> None:
        """Delete applied journal blobs off the commit path, strictly in apply order, so the
        blobs a crash leaves are always the LAST batches applied. Replaying such a suffix in
        order onto the tables (which already hold it) gives the same tables: every operation
        is an upsert of a value, or a delete of keys an id bound or a whole partition selects,
        so each key ends as the last replayed operation that touched it left it."""
        while True:
            name = self._applied.get()
            if name is None:
                return
            while True:
                try:
                    self._journal.delete_blob(name)
                    break
                except ResourceNotFoundError:
                    break
                except Exception as exc:  # noqa: BLE001 - keep the order: retry this one
                    if self._closing.is_set():
                        return
                    log.warning("deleting journal blob %s failed (%s); retrying", name,
                                type(exc).__name__)
                    time.sleep(1)

    # -- idempotent table operations ------------------------------------------------------------
    def _upsert_many(self, table: str, entities: list[dict[str, Any]]) -> None:
        """Upserts grouped in single-partition transactions of up to 100 entities."""
        from azure.data.tables import UpdateMode

        by_pk: dict[str, list[dict[str, Any]]] = {}
        for e in entities:
            by_pk.setdefault(e["PartitionKey"], []).append(e)
        client = self._t[table]
        for group in by_pk.values():
            for i in range(0, len(group), 100):
                chunk = group[i:i + 100]
                if len(chunk) == 1:
                    client.upsert_entity(chunk[0], mode=UpdateMode.REPLACE)
                else:
                    client.submit_transaction(
                        [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in chunk])
        if table == "Pending" and self._pidx is not None:
            for e in entities:
                self._pidx[e["PartitionKey"]][int(e["RowKey"])] = e["owner"]

    def _delete_keys(self, table: str, keys: Iterable[tuple[str, str]]) -> None:
        """Deletes that ignore "not found", grouped in single-partition transactions of up to
        100 (a transaction fails whole if one row is missing: that chunk is then retried one
        by one)."""
        keys = list(keys)
        client = self._t[table]
        by_pk: dict[str, list[str]] = {}
        for pk, rk in keys:
            by_pk.setdefault(pk, []).append(rk)
        for pk, rks in by_pk.items():
            for i in range(0, len(rks), 100):
                chunk = rks[i:i + 100]
                if len(chunk) > 1:
                    try:
                        client.submit_transaction(
                            [("delete", {"PartitionKey": pk, "RowKey": rk}) for rk in chunk])
                        continue
                    except (HttpResponseError, ResourceNotFoundError):
                        pass  # a row was already gone (a replayed batch): one by one
                for rk in chunk:
                    with contextlib.suppress(ResourceNotFoundError):
                        client.delete_entity(pk, rk)
        if table == "Pending" and self._pidx is not None:
            for pk, rk in keys:
                self._pidx[pk].pop(int(rk), None)

    def _keys(self, table: str, flt: str, params: dict[str, Any]) -> list[tuple[str, str]]:
        return [(e["PartitionKey"], e["RowKey"]) for e in self._t[table].query_entities(
            flt, parameters=params, select=["PartitionKey", "RowKey"])]

    def _pending_index(self) -> dict[str, dict[int, str]]:
        """Pending row ids by kind, with their owner (instance or entity id), kept in memory
        so deleting an owner's rows needs no query. Built from one scan on first use; exact
        because this process is the hub's only writer (it holds the lease)."""
        if self._pidx is None:
            index: dict[str, dict[int, str]] = {kind: {} for kind in PENDING_KINDS}
            for e in self._t["Pending"].list_entities(
                    select=["PartitionKey", "RowKey", "owner"]):
                index.setdefault(e["PartitionKey"], {})[int(e["RowKey"])] = e["owner"]
            self._pidx = index
        return self._pidx

    def _delete_pending_of(self, kind: str, owner: str, max_id: int | None = None) -> None:
        rows = self._pending_index()[kind]
        ids = sorted(i for i, o in rows.items()
                     if o == owner and (max_id is None or i <= max_id))
        self._delete_keys("Pending", [(kind, _rk(i)) for i in ids])

    def _clear_history(self, instance_id: str) -> None:
        keys = self._keys("History", "PartitionKey eq @pk", {"pk": escape_key(instance_id)})
        for i in range(0, len(keys), 100):
            chunk = keys[i:i + 100]
            try:
                self._t["History"].submit_transaction(
                    [("delete", {"PartitionKey": pk, "RowKey": rk}) for pk, rk in chunk])
            except (HttpResponseError, ResourceNotFoundError):
                self._delete_keys("History", chunk)  # a row vanished meanwhile: one by one

    def _pending(self, kind: str, id_: int, owner: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"PartitionKey": kind, "RowKey": _rk(id_), "owner": owner,
                **_pack(json.dumps(body, separators=(",", ":")))}

    def _write(self, b: WriteBatch) -> None:
        """Apply a batch; every step is idempotent so a replay after a crash is safe."""
        for iid in b.purge_instances:
            self._delete_keys("Instances", [("i", escape_key(iid))])
            self._clear_history(iid)
            for kind in ("messages", "timers", "work"):
                self._delete_pending_of(kind, iid)
        for iid in b.clear_history:
            self._clear_history(iid)
        for iid in b.delete_all_messages:
            self._delete_pending_of("messages", iid)
        for iid in b.delete_instance_timers:
            self._delete_pending_of("timers", iid)
        self._upsert_many("Instances", [
            {"PartitionKey": "i", "RowKey": escape_key(r.instance_id), "status": r.status.value,
             "created": ts(r.created), **_pack(json.dumps(_instance_json(r)))}
            for r in b.put_instances.values()])
        self._upsert_many("History", [
            {"PartitionKey": escape_key(iid), "RowKey": _rk(start + n, 10), **_pack(event)}
            for iid, start, events in b.append_history for n, event in enumerate(events)])
        for iid, max_id in b.delete_messages:
            self._delete_pending_of("messages", iid, max_id)
        self._upsert_many("Pending", [self._pending("messages", m.id, m.instance_id, asdict(m))
                                      for m in b.add_messages])
        self._delete_keys("Pending", [("work", _rk(i)) for i in b.delete_work])
        self._upsert_many("Pending", [self._pending("work", w.id, w.instance_id, asdict(w))
                                      for w in b.add_work])
        self._delete_keys("Pending", [("timers", _rk(i)) for i in b.delete_timers])
        self._upsert_many("Pending", [self._pending("timers", t.id, t.instance_id,
                                                    _timer_json(t)) for t in b.add_timers])
        for entity_id, max_id in b.delete_entity_ops:
            self._delete_pending_of("entity_ops", entity_id, max_id)
        self._upsert_many("Pending", [self._pending("entity_ops", o.id, o.entity_id, asdict(o))
                                      for o in b.add_entity_ops])
        self._upsert_many("Entities", [
            {"PartitionKey": "e", "RowKey": escape_key(e.entity_id),
             **_pack(json.dumps(_entity_json(e)))} for e in b.put_entities])

    # -- reads --------------------------------------------------------------------------------
    def _pending_of(self, kind: str) -> list[dict[str, Any]]:
        rows = self._t["Pending"].query_entities("PartitionKey eq @pk", parameters={"pk": kind})
        return [json.loads(_unpack(e)) for e in rows]

    def load_pending(self) -> PendingWork:
        with self._lock:
            terminal = {s.value for s in RuntimeStatus if s.is_terminal}
            instances = [_instance_of(json.loads(_unpack(e)))
                         for e in self._t["Instances"].query_entities(
                             "PartitionKey eq @pk", parameters={"pk": "i"})
                         if e["status"] not in terminal]
            messages = [Message(**m) for m in self._pending_of("messages")]
            work = [WorkItem(**w) for w in self._pending_of("work")]
            timers = [TimerRecord(**{**t, "fire_at": parse_ts(t["fire_at"])})
                      for t in self._pending_of("timers")]
            ops = [EntityOp(**o) for o in self._pending_of("entity_ops")]
            max_id = max((x.id for x in (*messages, *work, *timers, *ops)), default=0)
            return PendingWork(instances, messages, work, timers, ops, max_id)

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        with self._lock:
            try:
                e = self._t["Instances"].get_entity("i", escape_key(instance_id))
            except ResourceNotFoundError:
                return None
            return _instance_of(json.loads(_unpack(e)))

    def get_history(self, instance_id: str) -> list[str]:
        with self._lock:
            rows = self._t["History"].query_entities(
                "PartitionKey eq @pk", parameters={"pk": escape_key(instance_id)})
            return [_unpack(e) for e in sorted(rows, key=lambda e: e["RowKey"])]

    def _matching(self, query: InstanceQuery) -> list[dict[str, Any]]:
        flt, params = "PartitionKey eq @pk", {"pk": "i"}
        if query.runtime_status:
            statuses = [RuntimeStatus(s).value for s in query.runtime_status]
            # the SDK substitutes @names in space-separated words: keep spaces around parentheses
            alts = " or ".join(f"status eq @s{i}" for i in range(len(statuses)))
            flt += f" and ( {alts} )"
            params.update({f"s{i}": s for i, s in enumerate(statuses)})
        if query.created_from:
            flt += " and created ge @cf"
            params["cf"] = ts(query.created_from)
        if query.created_to:
            flt += " and created le @ct"
            params["ct"] = ts(query.created_to)
        rows = [json.loads(_unpack(e)) for e in self._t["Instances"].query_entities(
            flt, parameters=params)]
        prefix = query.instance_id_prefix
        if prefix:
            rows = [r for r in rows if r["instance_id"].startswith(prefix)]
        return sorted(rows, key=lambda r: (r["created"], r["instance_id"]))

    def query_instances(self, query: InstanceQuery) -> tuple[list[InstanceRecord], str | None]:
        with self._lock:
            rows = self._matching(query)
        if query.continuation_token:
            after = decode_token(query.continuation_token)
            rows = [r for r in rows if (r["created"], r["instance_id"]) > after]
        size = max(1, int(query.page_size))
        token = None
        if len(rows) > size:
            rows = rows[:size]
            token = encode_token(rows[-1]["created"], rows[-1]["instance_id"])
        return [_instance_of(r) for r in rows], token

    def instance_ids(self, query: InstanceQuery) -> list[str]:
        """Every instance id matching the filters (no paging), for bulk purge."""
        with self._lock:
            return [r["instance_id"] for r in self._matching(query)]

    def get_entity(self, entity_id: str) -> EntityRecord | None:
        with self._lock:
            try:
                e = json.loads(_unpack(self._t["Entities"].get_entity("e", escape_key(entity_id))))
            except ResourceNotFoundError:
                return None
        return EntityRecord(e["entity_id"], bool(e["exists"]), e["state"],
                            parse_ts(e["last_modified"]) if e["last_modified"] else None)

    def count(self, table: str) -> int:
        """Rows in one table (diagnostics and tests), same names as the SQLite store."""
        with self._lock:
            if table in PENDING_KINDS:
                return len(self._keys("Pending", "PartitionKey eq @pk", {"pk": table}))
            if table == "instances":
                return len(self._keys("Instances", "PartitionKey eq @pk", {"pk": "i"}))
            if table == "history":
                return sum(1 for _ in self._t["History"].list_entities(
                    select=["PartitionKey"]))
        raise ValueError(table)

    def close(self) -> None:
        if self._cleaner is not None:  # let it delete what was applied, then stop it
            self._applied.put(None)
            self._cleaner.join(timeout=30)
            self._closing.set()
            self._cleaner = None
        self._stop_renewing.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
            self._renewer = None
        with self._lock:
            if self._lease is not None:
                with contextlib.suppress(Exception):
                    self._lease.release()  # a restart need not wait for the lease to expire
                self._lease = None
            self._tables_service.close()
            self._blobs_service.close()
