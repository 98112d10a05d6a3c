"""Secret resolution: isolation between tenants, audit without values, TTL/rotation, redaction,
and the real ``SecretClient`` path against a local HTTPS Key Vault server."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.adapters.secrets import (
    ChainSecretSource,
    EnvSecretSource,
    FileSecretSource,
    KeyVaultSecretSource,
    Redactor,
    SecretAccessError,
    SecretNotFoundError,
    SecretResolver,
)
from podium.adapters.stores import RecordStores, sqlite_stores
from tests.adapters.kv_server import KeyVaultServer, StaticTokenCredential

A_VALUE = "sb-conn-for-tenant-a-7f3e9"
B_VALUE = "sb-conn-for-tenant-b-1c2d8"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[RecordStores]:
    s = sqlite_stores(tmp_path / "db")
    yield s
    s.close()


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "outside-repo" / "secrets.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"tenant-a": {"sb-dev": A_VALUE},
                                "tenant-b": {"sb-dev": B_VALUE, "only-b": "b-only-value"}}))
    return path


def resolver(source, stores: RecordStores, clock: Clock | None = None,  # type: ignore[no-untyped-def]
             ttl: float = 60) -> SecretResolver:
    return SecretResolver(source, audit=stores.audit, redactor=Redactor(), ttl_sec=ttl,
                          clock=clock or Clock())


def audit_rows(stores: RecordStores, tenant: str, project: str = "p1") -> list[dict]:
    return stores.audit.query(tenant, project, limit=1000)[0]


def test_file_source_resolves_per_tenant_and_audits_without_value(
        secrets_file: Path, stores: RecordStores) -> None:
    r = resolver(FileSecretSource(secrets_file), stores)
    kw = {"trace_id": "tr-1", "agent_id": "devops-agent", "project_id": "p1"}
    assert r.resolve("tenant-a", "sb-dev", **kw) == A_VALUE
    assert r.resolve("tenant-b", "sb-dev", **kw) == B_VALUE
    with pytest.raises(SecretNotFoundError) as err:
        r.resolve("tenant-a", "only-b", **kw)  # tenant A cannot see tenant B's secret
    assert "b-only-value" not in str(err.value)
    rows = audit_rows(stores, "tenant-a")
    assert [(x["details"]["secretName"], x["details"]["outcome"]) for x in rows] == [
        ("sb-dev", "resolved"), ("only-b", "not-found")]
    assert rows[0]["agentId"] == "devops-agent" and rows[0]["traceId"] == "tr-1"
    assert rows[0]["type"] == "SecretAccessed"
    dumped = json.dumps(rows + audit_rows(stores, "tenant-b"))
    assert A_VALUE not in dumped and B_VALUE not in dumped


def test_tenant_and_name_validation_prevents_prefix_escape(stores: RecordStores) -> None:
    source = KeyVaultSecretSource(shared_vault_url="https://shared.vault.azure.net")
    assert source.locate("tenant-a", "x") == ("https://shared.vault.azure.net", "tenant-a--x")
    assert source.locate("tenant-a", "tenant-b--x")[1] == "tenant-a--tenant-b--x"
    r = resolver(source, stores)
    for tenant, name in (("tenant--b", "x"), ("../b", "x"), ("a", "x/../y"), ("a", "x?y"),
                         ("", "x"), ("a", "")):
        with pytest.raises(SecretAccessError):
            r.resolve(tenant, name, trace_id="t", agent_id="a")
    with pytest.raises(SecretAccessError, match="KEYVAULT_URL_TENANT_C"):
        KeyVaultSecretSource(tenant_vaults={"tenant-a": "https://a"}).locate("tenant-c", "x")


def test_cache_ttl_and_rotation(secrets_file: Path, stores: RecordStores) -> None:
    clock = Clock()
    r = resolver(FileSecretSource(secrets_file), stores, clock, ttl=30)
    kw = {"trace_id": "tr", "agent_id": "qa-agent", "project_id": "p1"}
    assert r.resolve("tenant-a", "sb-dev", **kw) == A_VALUE
    data = json.loads(secrets_file.read_text())
    data["tenant-a"]["sb-dev"] = "rotated-value-123"
    secrets_file.write_text(json.dumps(data))
    clock.now += 29
    assert r.resolve("tenant-a", "sb-dev", **kw) == A_VALUE  # cached within the TTL
    clock.now += 2
    assert r.resolve("tenant-a", "sb-dev", **kw) == "rotated-value-123"
    outcomes = [x["details"]["outcome"] for x in audit_rows(stores, "tenant-a")]
    assert outcomes == ["resolved", "cache-hit", "resolved"]  # every access audited


def test_env_source_and_chain(tmp_path: Path, stores: RecordStores) -> None:
    env = {"PODIUM_SECRET_TENANT_A__API_KEY": "env-api-key-1", "PODIUM_SECRET_TENANT_B__X": "bx"}
    source = ChainSecretSource(FileSecretSource(tmp_path / "absent.json"), EnvSecretSource(env))
    r = resolver(source, stores)
    assert r.resolve("tenant-a", "api-key", trace_id="t", agent_id="a") == "env-api-key-1"
    with pytest.raises(SecretNotFoundError):
        r.resolve("tenant-a", "x", trace_id="t", agent_id="a")
    # tenant "tenant" must not reach tenant-b's X through any name spelling
    for name in ("b--x", "b-x", "-b--x", "B--X"):
        with pytest.raises(SecretNotFoundError):
            r.resolve("tenant", name, trace_id="t", agent_id="a")


def test_resolve_refs_and_redaction_everywhere(secrets_file: Path, stores: RecordStores) -> None:
    r = resolver(FileSecretSource(secrets_file), stores)
    payload = {"tenantId": "tenant-a", "secrets": {"ServiceBus": "@vault:sb-dev",
                                                   "list": ["@vault:sb-dev", "plain", 3]}}
    out = r.resolve_refs(payload, "tenant-a", trace_id="t", agent_id="devops-agent")
    assert out["secrets"] == {"ServiceBus": A_VALUE, "list": [A_VALUE, "plain", 3]}
    assert payload["secrets"]["ServiceBus"] == "@vault:sb-dev"  # input left untouched

    red = r.redactor
    assert red.scrub(f"conn={A_VALUE};x") == "conn=***;x"
    assert red.scrub_obj(out)["secrets"] == {"ServiceBus": "***", "list": ["***", "plain", 3]}
    exc = red.scrub_exception(RuntimeError(f"connect failed with {A_VALUE}"))
    assert A_VALUE not in str(exc)

    stream = io.StringIO()
    logger = logging.getLogger("podium.test.redaction")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        red.install(logger)
        logger.warning("using %s now", A_VALUE)
        try:
            raise ValueError(f"bad {A_VALUE}")
        except ValueError:
            logger.exception("failed")
        logging.getLogger("podium.test.redaction").error(json.dumps({"v": A_VALUE}))
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert A_VALUE not in text
    assert text.count("***") >= 3


def test_audit_failure_withholds_the_secret(secrets_file: Path) -> None:
    class BrokenAudit:
        def append(self, record: dict) -> None:
            raise OSError("audit store down")

        def query(self, *a, **k):  # type: ignore[no-untyped-def]
            return [], None

    r = SecretResolver(FileSecretSource(secrets_file), audit=BrokenAudit(), redactor=Redactor())
    with pytest.raises(OSError):
        r.resolve("tenant-a", "sb-dev", trace_id="t", agent_id="a")


# --- the real SecretClient against a local HTTPS Key Vault ----------------------------------

@pytest.fixture
def vaults(tmp_path: Path) -> Iterator[tuple[KeyVaultServer, KeyVaultServer]]:
    a_dir, shared_dir = tmp_path / "a", tmp_path / "shared"
    a_dir.mkdir()
    shared_dir.mkdir()
    a, shared = KeyVaultServer(a_dir), KeyVaultServer(shared_dir)
    yield a, shared
    a.close()
    shared.close()


def kv_source(a: KeyVaultServer, shared: KeyVaultServer) -> KeyVaultSecretSource:
    from azure.keyvault.secrets import SecretClient

    certs = {a.url: str(a.cert_path), shared.url: str(shared.cert_path)}
    return KeyVaultSecretSource(
        tenant_vaults={"tenant-a": a.url}, shared_vault_url=shared.url,
        client_factory=lambda url: SecretClient(
            url, StaticTokenCredential(), verify_challenge_resource=False,
            connection_verify=certs[url]))


def test_key_vault_per_tenant_vault_and_shared_prefix(vaults, stores: RecordStores) -> None:  # type: ignore[no-untyped-def]
    a, shared = vaults
    a.secrets["sb-dev"] = A_VALUE
    shared.secrets["tenant-b--sb-dev"] = B_VALUE
    shared.secrets["sb-dev"] = "unprefixed-must-never-be-served"
    source = kv_source(a, shared)
    r = resolver(source, stores)
    kw = {"trace_id": "tr", "agent_id": "devops-agent", "project_id": "p1"}
    assert r.resolve("tenant-a", "sb-dev", **kw) == A_VALUE
    assert r.resolve("tenant-b", "sb-dev", **kw) == B_VALUE
    with pytest.raises(SecretNotFoundError):
        r.resolve("tenant-c", "sb-dev", **kw)  # looks up tenant-c--sb-dev only
    with pytest.raises(SecretNotFoundError):
        r.resolve("tenant-c", "tenant-b--sb-dev", **kw)  # cannot reach into b's prefix
    assert ("GET", "/secrets/sb-dev") not in shared.requests
    assert [p for _, p in a.requests] == ["/secrets/sb-dev"]
    assert {p for _, p in shared.requests} == {
        "/secrets/tenant-b--sb-dev", "/secrets/tenant-c--sb-dev",
        "/secrets/tenant-c--tenant-b--sb-dev"}
    source.close()


def test_key_vault_rotation_is_picked_up_after_ttl(vaults, stores: RecordStores) -> None:  # type: ignore[no-untyped-def]
    from azure.keyvault.secrets import SecretClient

    a, shared = vaults
    a.secrets["api-key"] = "first-version-value"
    clock = Clock()
    source = kv_source(a, shared)
    r = resolver(source, stores, clock, ttl=10)
    kw = {"trace_id": "tr", "agent_id": "a"}
    assert r.resolve("tenant-a", "api-key", **kw) == "first-version-value"
    admin = SecretClient(a.url, StaticTokenCredential(), verify_challenge_resource=False,
                         connection_verify=str(a.cert_path))
    admin.set_secret("api-key", "second-version-value")  # rotation through the REST API
    assert r.resolve("tenant-a", "api-key", **kw) == "first-version-value"
    clock.now += 11
    assert r.resolve("tenant-a", "api-key", **kw) == "second-version-value"
    assert len([1 for m, _ in a.requests if m == "GET"]) == 2
    admin.close()
    source.close()
