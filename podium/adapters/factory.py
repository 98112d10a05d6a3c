"""``build_adapters(settings) -> Adapters``: the one place that picks implementations.

Activities call it once per worker process (cache the result, e.g. ``functools.cache``) and
use only the ports on :class:`Adapters`. The audit log and the publisher are wrapped so that
every resolved secret value is scrubbed from audit rows and event envelopes before they leave
the process (secrets never travel in events or land in the audit trail).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from podium.adapters.ports import (
    ArtifactStore,
    AuditLog,
    DeliveryStore,
    EventPublisher,
    GraphStore,
    HumanTaskStore,
    Json,
    Page,
    ProcessedEvents,
    ProjectStore,
)
from podium.adapters.secrets import Redactor, SecretResolver
from podium.settings import REPO_ROOT, Settings


class RedactingAuditLog:
    """Scrubs registered secret values from every audit record before appending it."""

    def __init__(self, inner: AuditLog, redactor: Redactor) -> None:
        self.inner, self.redactor = inner, redactor

    def append(self, record: Json) -> None:
        self.inner.append(self.redactor.scrub_obj(record))

    def query(self, tenant_id: str, project_id: str, **kwargs: Any) -> Page:
        return self.inner.query(tenant_id, project_id, **kwargs)


class RedactingEventPublisher:
    """Scrubs registered secret values from envelopes and properties before publishing."""

    def __init__(self, inner: EventPublisher, redactor: Redactor) -> None:
        self.inner, self.redactor = inner, redactor

    def publish(self, destination: str, envelope: Json, *, message_id: str, correlation_id: str,
                application_properties: Mapping[str, str],
                scheduled_enqueue_time: datetime | None = None) -> None:
        self.inner.publish(
            destination, self.redactor.scrub_obj(envelope), message_id=message_id,
            correlation_id=correlation_id,
            application_properties=self.redactor.scrub_obj(dict(application_properties)),
            scheduled_enqueue_time=scheduled_enqueue_time)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Adapters:
    """Everything an activity may touch outside the process, behind the ports."""

    graphs: GraphStore
    audit: AuditLog
    human_tasks: HumanTaskStore
    deliveries: DeliveryStore
    processed_events: ProcessedEvents
    projects: ProjectStore
    publisher: EventPublisher
    secrets: SecretResolver
    artifacts: ArtifactStore
    redactor: Redactor
    settings: Settings
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()


def _secret_source(settings: Settings) -> Any:
    from podium.adapters import secrets as s

    if settings.secrets_kind == "keyvault":
        return s.KeyVaultSecretSource(tenant_vaults=settings.keyvault_tenant_urls,
                                      shared_vault_url=settings.keyvault_url)
    sources: list[s.SecretSource] = []
    if settings.secrets_file is not None:
        sources.append(s.FileSecretSource(settings.secrets_file))
    sources.append(s.EnvSecretSource())
    return s.ChainSecretSource(*sources)


def _artifacts(settings: Settings) -> Any:
    from podium.adapters.artifacts import BlobArtifactStore, LocalArtifactStore

    if settings.artifacts_kind == "local":
        return LocalArtifactStore(Path(settings.data_dir) / "artifacts")
    return BlobArtifactStore(connection_string=settings.artifacts_blob_connection,
                             account_url=settings.artifacts_account_url,
                             create_container=settings.env == "local")


def host_broker_path(settings: Settings) -> Path:
    """The broker file the local host uses: ``<data dir>/<hubName>-servicebus.sqlite``."""
    hub = "TestHubName"  # the Durable extension's default when host.json names none
    try:
        raw = json.loads((REPO_ROOT / "host.json").read_text())
        value = raw["extensions"]["durableTask"]["hubName"]
        if isinstance(value, str) and value.isalnum():
            hub = value
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return Path(settings.data_dir) / f"{hub}-servicebus.sqlite"


def _publisher(settings: Settings, broker: Any) -> tuple[EventPublisher, Callable[[], None]]:
    from podium.adapters.servicebus import LocalBrokerEventPublisher, ServiceBusEventPublisher

    if settings.publisher_kind == "servicebus":
        pub = ServiceBusEventPublisher(connection_string=settings.servicebus_connection,
                                       fully_qualified_namespace=settings.servicebus_namespace)
        return pub, pub.close

    def open_host_broker() -> Any:
        from podium.localhost.broker import Broker, podium_topology

        own = Broker(host_broker_path(settings))
        own.apply_topology(podium_topology())
        return own

    local = LocalBrokerEventPublisher(broker, fallback=open_host_broker)
    return local, local.close


def build_adapters(settings: Settings, *, broker: Any = None,
                   redactor: Redactor | None = None,
                   register_log_redactor: bool = True) -> Adapters:
    """Build the adapters the settings select.

    ``broker``: an embedded broker to publish to; by default the running local host's broker
    (found at publish time), else the host's broker file in the data dir.
    ``register_log_redactor``: also hand the redactor to ``podium.observability`` so structured
    logs mask resolved secret values.
    """
    from podium.adapters.stores import cosmos_stores, sqlite_stores

    redactor = redactor or Redactor()
    closers: list[Callable[[], None]] = []
    if settings.store_kind == "cosmos":
        assert settings.cosmos_endpoint  # validated by load_settings
        records = cosmos_stores(settings.cosmos_endpoint, key=settings.cosmos_key,
                                database=settings.cosmos_database,
                                create_containers=settings.create_cosmos_containers,
                                verify_tls=settings.cosmos_verify_tls)
    else:
        records = sqlite_stores(settings.data_dir)
    closers.append(records.close)
    audit = RedactingAuditLog(records.audit, redactor)
    publisher, close_pub = _publisher(settings, broker)
    closers.append(close_pub)
    source = _secret_source(settings)
    if hasattr(source, "close"):
        closers.append(source.close)
    artifacts = _artifacts(settings)
    if hasattr(artifacts, "close"):
        closers.append(artifacts.close)
    if register_log_redactor:
        try:
            from podium.observability import add_redactor
        except ImportError:  # observability is optional for the adapters
            pass
        else:
            closers.append(add_redactor(redactor))
    return Adapters(
        graphs=records.graphs, audit=audit, human_tasks=records.human_tasks,
        deliveries=records.deliveries, processed_events=records.processed_events,
        projects=records.projects, publisher=RedactingEventPublisher(publisher, redactor),
        secrets=SecretResolver(source, audit=audit, redactor=redactor,
                               ttl_sec=settings.secret_cache_ttl_sec),
        artifacts=artifacts, redactor=redactor, settings=settings, _closers=closers,
    )
