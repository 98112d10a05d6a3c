"""Podium's adapter settings: every connection and option, read from the environment.

On Azure, App Settings are environment variables; locally the host exports
``local.settings.json`` ``Values`` into the environment first, so one reader serves both.
:func:`load_settings` validates everything at start-up and raises :class:`SettingsError` listing
each bad setting by name (never by value: connection strings and keys are not echoed).

``PODIUM_ENV`` (``local`` | ``azure``) picks defaults for each adapter switch; each switch can be
overridden on its own (e.g. local host + Cosmos emulator: ``PODIUM_STORE=cosmos``).

:data:`SETTINGS` is the registry of every name read here, with its scope; the infra test checks
that each Azure-scoped name is set by ``infra/`` and ``docs/adapters.md`` documents them all.
Per-tenant vault URLs are the dynamic family ``KEYVAULT_URL_<TENANT>``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

REPO_ROOT = Path(__file__).resolve().parents[1]
KEYVAULT_TENANT_PREFIX = "KEYVAULT_URL_"


@dataclass(frozen=True)
class SettingSpec:
    name: str
    # where it is expected to be set; "optional": anywhere, with a sane default (not in Bicep)
    scope: Literal["azure", "local", "both", "optional"]
    description: str


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("PODIUM_ENV", "both", "local | azure: default for every adapter switch"),
    SettingSpec("PODIUM_DATA_DIR", "local", "directory of local state (SQLite, artifacts)"),
    SettingSpec("PODIUM_STORE", "both", "sqlite | cosmos: record stores (graphs, audit, ...)"),
    SettingSpec("PODIUM_ARTIFACTS", "both", "local | blob: artifact store"),
    SettingSpec("PODIUM_SECRETS", "both", "file | keyvault: secret source"),
    SettingSpec("PODIUM_PUBLISHER", "both", "local | servicebus: event publisher"),
    SettingSpec("PODIUM_DURABLE_STORE", "local", "sqlite | azure-storage: local host task hub"),
    SettingSpec("COSMOS_ENDPOINT", "azure", "https://<account>.documents.azure.com:443/"),
    SettingSpec("COSMOS_KEY", "local", "account key (emulator/dev); unset: managed identity"),
    SettingSpec("COSMOS_DATABASE", "azure", "database name (default podium)"),
    SettingSpec("COSMOS_VERIFY_TLS", "local", "false only for the local emulator"),
    SettingSpec("COSMOS_CREATE_CONTAINERS", "local", "create database/containers at start"),
    SettingSpec("SERVICEBUS_CONNECTION", "local", "Service Bus connection string"),
    SettingSpec("SERVICEBUS_CONNECTION__fullyQualifiedNamespace", "azure",
                "<ns>.servicebus.windows.net: identity-based connection (trigger + publisher)"),
    SettingSpec("KEYVAULT_URL", "azure", "shared vault; tenant secrets named <tenant>--<name>"),
    SettingSpec("PODIUM_SECRETS_FILE", "local", "JSON {tenantId: {name: value}} outside repo"),
    SettingSpec("PODIUM_SECRET_CACHE_TTL_SEC", "both", "secret cache TTL, 1..3600 (default 60)"),
    SettingSpec("ARTIFACTS_STORAGE_ACCOUNT_URL", "azure", "https://<acct>.blob.core.windows.net"),
    SettingSpec("ARTIFACTS_STORAGE_CONNECTION", "local", "blob connection string (Azurite)"),
    SettingSpec("AzureWebJobsStorage", "local", "fallback blob connection for artifacts"),
    # The factory's own options (docs/factory.md)
    SettingSpec("PODIUM_DEV_PRINCIPAL", "local",
                "caller when no Easy Auth header is sent: user:NAME;roles=A,B (local only)"),
    SettingSpec("PODIUM_TENANTS", "optional", "comma list of tenants served (default: any)"),
    SettingSpec("PODIUM_AGENT_CONCURRENCY_LIMIT", "optional",
                "tasks in flight per agent per tenant (default 8)"),
    SettingSpec("PODIUM_MAX_CONCURRENT_TASKS", "optional", "tasks in flight per flow (default 50)"),
    SettingSpec("PODIUM_ACK_TIMEOUT_SEC", "optional", "agent acknowledgement timeout (default 30)"),
    SettingSpec("PODIUM_TASK_TIMEOUT_SEC", "optional", "default task timeout (default 900)"),
    SettingSpec("PODIUM_WEBHOOKS", "optional",
                'JSON {"tenant": ["https://..."]}: delivery and escalation notifications'),
)
SETTING_NAMES = frozenset(s.name for s in SETTINGS)


class SettingsError(ValueError):
    """Start-up configuration errors, one line per bad setting, each naming the setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))


def _blank_to_none(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v.strip() for k, v in env.items() if k in SETTING_NAMES and v.strip()}


class Settings(BaseModel):
    """Validated adapter settings; build with :func:`load_settings`."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    env: Literal["local", "azure"] = Field("local", alias="PODIUM_ENV")
    data_dir: Path = Field(Path(".podium"), alias="PODIUM_DATA_DIR")
    store: Literal["sqlite", "cosmos"] | None = Field(None, alias="PODIUM_STORE")
    artifacts: Literal["local", "blob"] | None = Field(None, alias="PODIUM_ARTIFACTS")
    secrets: Literal["file", "keyvault"] | None = Field(None, alias="PODIUM_SECRETS")
    publisher: Literal["local", "servicebus"] | None = Field(None, alias="PODIUM_PUBLISHER")
    durable_store: Literal["sqlite", "azure-storage"] = Field("sqlite",
                                                              alias="PODIUM_DURABLE_STORE")
    cosmos_endpoint: str | None = Field(None, alias="COSMOS_ENDPOINT")
    cosmos_key: str | None = Field(None, alias="COSMOS_KEY", repr=False)
    cosmos_database: str = Field("podium", alias="COSMOS_DATABASE")
    cosmos_verify_tls: bool = Field(True, alias="COSMOS_VERIFY_TLS")
    cosmos_create_containers: bool | None = Field(None, alias="COSMOS_CREATE_CONTAINERS")
    servicebus_connection: str | None = Field(None, alias="SERVICEBUS_CONNECTION", repr=False)
    servicebus_namespace: str | None = Field(
        None, alias="SERVICEBUS_CONNECTION__fullyQualifiedNamespace")
    keyvault_url: str | None = Field(None, alias="KEYVAULT_URL")
    keyvault_tenant_urls: dict[str, str] = Field(default_factory=dict)
    secrets_file: Path | None = Field(None, alias="PODIUM_SECRETS_FILE")
    secret_cache_ttl_sec: int = Field(60, ge=1, le=3600, alias="PODIUM_SECRET_CACHE_TTL_SEC")
    artifacts_account_url: str | None = Field(None, alias="ARTIFACTS_STORAGE_ACCOUNT_URL")
    artifacts_connection: str | None = Field(None, alias="ARTIFACTS_STORAGE_CONNECTION",
                                             repr=False)
    webjobs_storage: str | None = Field(None, alias="AzureWebJobsStorage", repr=False)
    dev_principal: str | None = Field(None, alias="PODIUM_DEV_PRINCIPAL")
    tenants_csv: str | None = Field(None, alias="PODIUM_TENANTS")
    agent_concurrency_limit: int = Field(8, ge=1, le=10_000,
                                         alias="PODIUM_AGENT_CONCURRENCY_LIMIT")
    max_concurrent_tasks: int = Field(50, ge=1, le=10_000, alias="PODIUM_MAX_CONCURRENT_TASKS")
    ack_timeout_sec: int | None = Field(None, ge=1, alias="PODIUM_ACK_TIMEOUT_SEC")
    task_timeout_sec: int | None = Field(None, ge=1, alias="PODIUM_TASK_TIMEOUT_SEC")
    webhooks: dict[str, list[str]] = Field(default_factory=dict, alias="PODIUM_WEBHOOKS")

    @field_validator("webhooks", mode="before")
    @classmethod
    def _json_map(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError('must be JSON like {"tenant": ["https://..."]}') from None
        return value

    @property
    def tenants(self) -> list[str]:
        """Tenants this deployment serves (empty: any)."""
        return [t.strip() for t in (self.tenants_csv or "").split(",") if t.strip()]

    # Effective switches (explicit setting, else the PODIUM_ENV default).
    @property
    def store_kind(self) -> str:
        return self.store or ("cosmos" if self.env == "azure" else "sqlite")

    @property
    def artifacts_kind(self) -> str:
        return self.artifacts or ("blob" if self.env == "azure" else "local")

    @property
    def secrets_kind(self) -> str:
        return self.secrets or ("keyvault" if self.env == "azure" else "file")

    @property
    def publisher_kind(self) -> str:
        return self.publisher or ("servicebus" if self.env == "azure" else "local")

    @property
    def create_cosmos_containers(self) -> bool:
        if self.cosmos_create_containers is not None:
            return self.cosmos_create_containers
        return self.env == "local"

    @property
    def artifacts_blob_connection(self) -> str | None:
        return self.artifacts_connection or (None if self.artifacts_account_url
                                             else self.webjobs_storage)


def _https(value: str | None) -> bool:
    if not value:
        return False
    parsed = urlparse(value)
    return parsed.scheme == "https" and bool(parsed.netloc)


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _check(s: Settings) -> list[str]:
    problems: list[str] = []
    if s.store_kind == "cosmos":
        if not _https(s.cosmos_endpoint):
            problems.append("COSMOS_ENDPOINT: required for PODIUM_STORE=cosmos, an https:// URL")
        if not s.cosmos_verify_tls and s.env == "azure":
            problems.append("COSMOS_VERIFY_TLS: may be false only for the local emulator")
    if s.publisher_kind == "servicebus" and not (s.servicebus_connection
                                                 or s.servicebus_namespace):
        problems.append("SERVICEBUS_CONNECTION: required for PODIUM_PUBLISHER=servicebus (or "
                        "SERVICEBUS_CONNECTION__fullyQualifiedNamespace for managed identity)")
    if s.servicebus_connection and "Endpoint=" not in s.servicebus_connection:
        problems.append("SERVICEBUS_CONNECTION: not a Service Bus connection string "
                        "(expected Endpoint=sb://...)")
    if s.secrets_kind == "keyvault":
        if not (s.keyvault_url or s.keyvault_tenant_urls):
            problems.append("KEYVAULT_URL: required for PODIUM_SECRETS=keyvault (or "
                            "KEYVAULT_URL_<TENANT> per tenant)")
        if s.keyvault_url and not _https(s.keyvault_url):
            problems.append("KEYVAULT_URL: must be an https:// vault URL")
        for tenant, url in s.keyvault_tenant_urls.items():
            if not _https(url):
                problems.append(f"{KEYVAULT_TENANT_PREFIX}{tenant}: must be an https:// vault URL")
    if s.secrets_file is not None and _inside(s.secrets_file, REPO_ROOT):
        problems.append("PODIUM_SECRETS_FILE: must be outside the repository (secrets are "
                        "never committed)")
    if s.artifacts_kind == "blob":
        if not (s.artifacts_account_url or s.artifacts_blob_connection):
            problems.append("ARTIFACTS_STORAGE_ACCOUNT_URL: required for PODIUM_ARTIFACTS=blob "
                            "(or ARTIFACTS_STORAGE_CONNECTION / AzureWebJobsStorage)")
        if s.artifacts_account_url and not _https(s.artifacts_account_url) \
                and "127.0.0.1" not in s.artifacts_account_url:
            problems.append("ARTIFACTS_STORAGE_ACCOUNT_URL: must be an https:// URL")
    return problems


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings (default: ``os.environ``); raise :class:`SettingsError`."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = _blank_to_none(env)
    # Per-tenant vaults: KEYVAULT_URL_<TENANT>; the tenant segment is matched against the
    # upper-cased, '_'-for-'-' tenant id (see podium.adapters.secrets.env_segment).
    values["keyvault_tenant_urls"] = {
        k[len(KEYVAULT_TENANT_PREFIX):]: v.strip() for k, v in env.items()
        if k.startswith(KEYVAULT_TENANT_PREFIX) and v.strip()}
    try:
        settings = Settings.model_validate(values)
    except PydanticValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError(problems) from None
    problems = _check(settings)
    if problems:
        raise SettingsError(problems)
    return settings


def build_adapters(settings: Settings, **kwargs: Any) -> Any:
    """Shortcut to :func:`podium.adapters.factory.build_adapters` (the activities' entry)."""
    from podium.adapters.factory import build_adapters as build

    return build(settings, **kwargs)
