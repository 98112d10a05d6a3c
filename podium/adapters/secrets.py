"""Tenant-scoped secret resolution (``@vault:name``), audit of every access, and redaction.

Why it looks like this:

* Secrets are resolved at the last moment inside activities (never stored in orchestration
  history, events or task payloads); :meth:`SecretResolver.resolve_refs` swaps ``"@vault:x"``
  strings in a payload just before it is used.
* A tenant can only reach its own secrets: a source is always asked with the tenant id, which
  picks the tenant's vault (``KEYVAULT_URL_<TENANT>``) or prefixes the name with ``<tenant>--``
  inside one shared vault. Tenant ids and secret names are validated so no name can escape into
  another tenant's prefix (tenant ids cannot contain ``--``).
* Every resolution (cache hit or miss) appends an audit record with the secret name, tenant,
  agent and trace, never the value; if the audit write fails the secret is not returned.
* Values are cached for a short TTL so a rotated secret is picked up after at most the TTL.
* Every resolved value is registered with a :class:`Redactor`, which scrubs it from strings,
  JSON-like objects, exceptions and log records (it is a ``logging.Filter``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from podium.adapters._common import utc_now_iso
from podium.adapters.ports import AdapterError, AuditLog

VAULT_PREFIX = "@vault:"
REDACTED = "***"
TENANT_PROJECT = "_tenant"
"""projectId of audit rows for secrets resolved outside a project (audit is partitioned by it)."""

# Key Vault secret names: 1-127 of [0-9a-zA-Z-]. Tenant ids: alphanumeric words joined by single
# dashes, so "<tenant>--" is an unambiguous prefix and maps 1:1 to an env-var segment.
_SECRET_NAME_RE = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_TENANT_RE = re.compile(r"^[0-9A-Za-z]+(-[0-9A-Za-z]+)*$")


class SecretError(AdapterError):
    """Base of secret errors; the message names the secret and tenant, never a value."""


class SecretNotFoundError(SecretError):
    pass


class SecretAccessError(SecretError):
    """The source failed (vault unreachable, forbidden) or the name/tenant is invalid."""


def check_tenant(tenant_id: str) -> str:
    if not isinstance(tenant_id, str) or not _TENANT_RE.match(tenant_id) or len(tenant_id) > 60:
        raise SecretAccessError(
            f"tenant id {tenant_id!r:.70} cannot own secrets: use letters, digits and single "
            "dashes (at most 60 characters)")
    return tenant_id


def check_secret_name(name: str) -> str:
    if not isinstance(name, str) or not _SECRET_NAME_RE.match(name):
        raise SecretAccessError(
            f"secret name {name!r:.70} is invalid: use 1-127 letters, digits and dashes")
    return name


def env_segment(value: str) -> str:
    """``tenant-abc`` -> ``TENANT_ABC`` (how tenant ids appear in environment variable names)."""
    return re.sub(r"[^0-9A-Za-z]", "_", value).upper()


class SecretSource(Protocol):
    """Where secret values come from; returns None when the tenant has no such secret."""

    def get(self, tenant_id: str, name: str) -> str | None: ...


class FileSecretSource:
    """A JSON file ``{tenantId: {name: value}}`` kept outside the repository (local stand-in).

    Re-read when its modification time changes, so editing the file is a rotation.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._mtime: float | None = None
        self._data: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        with self._lock:
            if mtime != self._mtime:
                try:
                    data = json.loads(self.path.read_text())
                except ValueError:
                    raise SecretAccessError(
                        f"PODIUM_SECRETS_FILE {self.path} is not valid JSON") from None
                if not isinstance(data, dict) or not all(isinstance(v, dict)
                                                         for v in data.values()):
                    raise SecretAccessError(
                        f"PODIUM_SECRETS_FILE {self.path} must be {{tenantId: {{name: value}}}}")
                self._data, self._mtime = data, mtime
            return self._data

    def get(self, tenant_id: str, name: str) -> str | None:
        value = self._load().get(tenant_id, {}).get(name)
        return None if value is None else str(value)


class EnvSecretSource:
    """Environment variables ``PODIUM_SECRET_<TENANT>__<NAME>`` (``-`` becomes ``_``)."""

    PREFIX = "PODIUM_SECRET_"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def get(self, tenant_id: str, name: str) -> str | None:
        return self.environ.get(f"{self.PREFIX}{env_segment(tenant_id)}__{env_segment(name)}")


class ChainSecretSource:
    """Asks each source in order; the first that knows the secret wins."""

    def __init__(self, *sources: SecretSource) -> None:
        self.sources = sources

    def get(self, tenant_id: str, name: str) -> str | None:
        for source in self.sources:
            value = source.get(tenant_id, name)
            if value is not None:
                return value
        return None


class KeyVaultSecretSource:
    """Azure Key Vault through ``SecretClient`` (managed identity via DefaultAzureCredential).

    ``tenant_vaults`` maps a tenant id to its own vault URL (names used as-is). Tenants without
    one use ``shared_vault_url`` with the secret name ``<tenant>--<name>``. A tenant with neither
    gets :class:`SecretAccessError`: there is no fallback that could cross tenants.
    """

    def __init__(self, *, tenant_vaults: Mapping[str, str] | None = None,
                 shared_vault_url: str | None = None, credential: Any = None,
                 client_factory: Callable[[str], Any] | None = None) -> None:
        self.tenant_vaults = dict(tenant_vaults or {})
        self.shared_vault_url = shared_vault_url
        self._credential = credential
        self._factory = client_factory or self._default_client
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _default_client(self, url: str) -> Any:
        from azure.keyvault.secrets import SecretClient

        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        return SecretClient(url, self._credential)

    def _client(self, url: str) -> Any:
        with self._lock:
            if url not in self._clients:
                self._clients[url] = self._factory(url)
            return self._clients[url]

    def locate(self, tenant_id: str, name: str) -> tuple[str, str]:
        """(vault URL, secret name in that vault) for the tenant's secret."""
        # keyed by tenant id, or by its env-var spelling (KEYVAULT_URL_<TENANT> settings)
        url = self.tenant_vaults.get(tenant_id) or self.tenant_vaults.get(env_segment(tenant_id))
        if url:
            return url, name
        if self.shared_vault_url:
            return self.shared_vault_url, f"{tenant_id}--{name}"
        raise SecretAccessError(f"no Key Vault configured for tenant {tenant_id!r}: set "
                                f"KEYVAULT_URL_{env_segment(tenant_id)} or KEYVAULT_URL")

    def get(self, tenant_id: str, name: str) -> str | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        url, vault_name = self.locate(tenant_id, name)
        try:
            return self._client(url).get_secret(vault_name).value
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise SecretAccessError(f"Key Vault read of secret {name!r} for tenant {tenant_id!r} "
                                    f"failed: {type(exc).__name__}") from None

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


class Redactor(logging.Filter):
    """Remembers secret values and replaces them with ``***`` wherever they might leak.

    Install on log handlers (``redactor.install()``) so records from every logger are scrubbed;
    a filter on a logger would miss records propagated from child loggers.
    """

    MIN_LENGTH = 4  # shorter values would blank out ordinary text; such secrets are refused

    def __init__(self) -> None:
        super().__init__()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        if len(value) < self.MIN_LENGTH:
            return
        variants = {value, json.dumps(value)[1:-1]}  # also its JSON-escaped spelling
        with self._lock:
            if variants <= self._values:
                return
            self._values |= variants
            ordered = sorted(self._values, key=len, reverse=True)  # longest first
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern and text else text

    redact = scrub  # the interface podium.observability.add_redactor expects

    def scrub_obj(self, obj: Any) -> Any:
        """A copy of a JSON-like object with every registered value replaced."""
        if isinstance(obj, str):
            return self.scrub(obj)
        if isinstance(obj, Mapping):
            return {self.scrub(k) if isinstance(k, str) else k: self.scrub_obj(v)
                    for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.scrub_obj(v) for v in obj)
        return obj

    def scrub_exception(self, exc: BaseException) -> BaseException:
        """Scrub the exception's args in place (and its cause/context chain); returns it."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            current.args = tuple(self.scrub_obj(a) for a in current.args)
            current = current.__cause__ or current.__context__
        return exc

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            self.scrub_exception(record.exc_info[1])
            record.exc_text = None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True

    def install(self, logger: logging.Logger | None = None) -> None:
        """Add this filter to every handler of ``logger`` (default: the root logger)."""
        for handler in (logger or logging.getLogger()).handlers:
            if self not in handler.filters:
                handler.addFilter(self)


class SecretResolver:
    """Resolves a tenant's secrets with a TTL cache, an audit row per access and redaction."""

    def __init__(self, source: SecretSource, *, audit: AuditLog | None, redactor: Redactor,
                 ttl_sec: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.audit = audit
        self.redactor = redactor
        self.ttl_sec = ttl_sec
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def resolve(self, tenant_id: str, name: str, *, trace_id: str, agent_id: str,
                project_id: str | None = None, phase: str | None = None) -> str:
        check_tenant(tenant_id)
        check_secret_name(name)
        key, now = (tenant_id, name), self._clock()
        with self._lock:
            cached = self._cache.get(key)
        hit = cached is not None and cached[1] > now
        if hit:
            value = cached[0]  # type: ignore[index]
        else:
            found = self.source.get(tenant_id, name)
            if found is None:
                self._audit(tenant_id, name, trace_id, agent_id, project_id, phase, "not-found")
                raise SecretNotFoundError(f"secret {name!r} not found for tenant {tenant_id!r}")
            value = found
            self.redactor.register(value)
            with self._lock:
                self._cache[key] = (value, now + self.ttl_sec)
        self._audit(tenant_id, name, trace_id, agent_id, project_id, phase,
                    "cache-hit" if hit else "resolved")
        return value

    def resolve_refs(self, obj: Any, tenant_id: str, *, trace_id: str, agent_id: str,
                     project_id: str | None = None, phase: str | None = None) -> Any:
        """A copy of ``obj`` with each ``"@vault:name"`` string replaced by the secret value."""
        if isinstance(obj, str):
            if obj.startswith(VAULT_PREFIX):
                return self.resolve(tenant_id, obj[len(VAULT_PREFIX):], trace_id=trace_id,
                                    agent_id=agent_id, project_id=project_id, phase=phase)
            return obj
        if isinstance(obj, Mapping):
            return {k: self.resolve_refs(v, tenant_id, trace_id=trace_id, agent_id=agent_id,
                                         project_id=project_id, phase=phase)
                    for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.resolve_refs(v, tenant_id, trace_id=trace_id,
                                               agent_id=agent_id, project_id=project_id,
                                               phase=phase) for v in obj)
        return obj

    def invalidate(self, tenant_id: str | None = None) -> None:
        """Drop cached values (all, or one tenant's) so the next resolve reads the source."""
        with self._lock:
            for key in [k for k in self._cache if tenant_id in (None, k[0])]:
                del self._cache[key]

    def _audit(self, tenant_id: str, name: str, trace_id: str, agent_id: str,
               project_id: str | None, phase: str | None, outcome: str) -> None:
        if self.audit is None:
            return
        self.audit.append({
            "id": uuid.uuid4().hex, "tenantId": tenant_id,
            "projectId": project_id or TENANT_PROJECT, "traceId": trace_id or "-",
            "type": "SecretAccessed", "actor": agent_id or "-", "agentId": agent_id,
            "action": "resolve", "phase": phase or "-", "timestamp": utc_now_iso(),
            "details": {"secretName": name, "outcome": outcome},
        })
