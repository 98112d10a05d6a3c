"""Settings validation (errors name the setting, never echo secrets) and the adapter factory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium.adapters.factory import build_adapters
from podium.settings import SETTING_NAMES, SettingsError, load_settings

SB_CONN = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=SUPERSECRETKEY="


def test_local_defaults() -> None:
    s = load_settings({})
    assert (s.env, s.store_kind, s.artifacts_kind, s.secrets_kind, s.publisher_kind) == (
        "local", "sqlite", "local", "file", "local")
    assert s.secret_cache_ttl_sec == 60 and s.create_cosmos_containers is True


def test_azure_requires_its_connections_and_names_each_setting() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"PODIUM_ENV": "azure"})
    text = str(err.value)
    for name in ("COSMOS_ENDPOINT", "SERVICEBUS_CONNECTION", "KEYVAULT_URL",
                 "ARTIFACTS_STORAGE_ACCOUNT_URL"):
        assert name in text
    ok = load_settings({
        "PODIUM_ENV": "azure", "COSMOS_ENDPOINT": "https://acct.documents.azure.com:443/",
        "SERVICEBUS_CONNECTION__fullyQualifiedNamespace": "ns.servicebus.windows.net",
        "KEYVAULT_URL": "https://kv.vault.azure.net",
        "ARTIFACTS_STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net",
    })
    assert ok.store_kind == "cosmos" and ok.create_cosmos_containers is False


def test_bad_values_are_reported_by_name_without_values() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"PODIUM_ENV": "cloud", "PODIUM_SECRET_CACHE_TTL_SEC": "0",
                       "PODIUM_STORE": "mongo"})
    text = str(err.value)
    assert "PODIUM_ENV" in text and "PODIUM_SECRET_CACHE_TTL_SEC" in text
    assert "PODIUM_STORE" in text
    with pytest.raises(SettingsError) as err:
        load_settings({"PODIUM_PUBLISHER": "servicebus",
                       "SERVICEBUS_CONNECTION": "SharedAccessKey=SUPERSECRETKEY="})
    assert "SERVICEBUS_CONNECTION" in str(err.value)
    assert "SUPERSECRETKEY" not in str(err.value)
    assert "SUPERSECRETKEY" not in repr(load_settings({"SERVICEBUS_CONNECTION": SB_CONN}))
    with pytest.raises(SettingsError, match="KEYVAULT_URL_TENANT_A"):
        load_settings({"PODIUM_SECRETS": "keyvault", "KEYVAULT_URL_TENANT_A": "http://plain"})
    with pytest.raises(SettingsError, match="COSMOS_VERIFY_TLS"):
        load_settings({"PODIUM_ENV": "azure", "COSMOS_ENDPOINT": "https://a", "PODIUM_STORE":
                       "cosmos", "COSMOS_VERIFY_TLS": "false", "PODIUM_PUBLISHER": "local",
                       "PODIUM_SECRETS": "file", "PODIUM_ARTIFACTS": "local"})


def test_secrets_file_inside_repo_is_refused() -> None:
    with pytest.raises(SettingsError, match="PODIUM_SECRETS_FILE"):
        load_settings({"PODIUM_SECRETS_FILE": str(Path(__file__).parent / "secrets.json")})


def test_setting_registry_covers_what_the_model_reads() -> None:
    from podium.settings import Settings

    aliases = {f.alias for f in Settings.model_fields.values() if f.alias}
    assert aliases == SETTING_NAMES


def test_factory_local_end_to_end(tmp_path: Path) -> None:
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"tenant-a": {"db-password": "pa55-w0rd-xyz"}}))
    settings = load_settings({"PODIUM_DATA_DIR": str(tmp_path / "data"),
                              "PODIUM_SECRETS_FILE": str(secrets_file)})
    ad = build_adapters(settings, register_log_redactor=False)
    try:
        etag = ad.graphs.save_snapshot("tenant-a", "p1", "main", {"nodes": []})
        assert ad.graphs.get_snapshot("tenant-a", "p1", "main") == ({"nodes": []}, etag)
        value = ad.secrets.resolve("tenant-a", "db-password", trace_id="tr", agent_id="dev",
                                   project_id="p1")
        assert value == "pa55-w0rd-xyz"
        # a careless caller puts the value into an audit row and an event: both are scrubbed
        ad.audit.append({"id": "x1", "tenantId": "tenant-a", "projectId": "p1",
                         "traceId": "tr", "type": "Oops", "actor": "dev", "action": "log",
                         "phase": "Security", "timestamp": "2026-01-01T00:00:00.000000Z",
                         "details": {"conn": f"Password={value};"}})
        rows, _ = ad.audit.query("tenant-a", "p1")
        assert value not in json.dumps(rows)
        assert {r["type"] for r in rows} == {"SecretAccessed", "Oops"}
        ad.publisher.publish("agent-results", {"note": value, "projectId": "p1"},
                             message_id="m1", correlation_id="tr",
                             application_properties={"tenantId": "tenant-a"})
        url = ad.artifacts.put_bytes("tenant-a", "p1", "x.txt", b"x")
        assert url.startswith("file://") and ad.artifacts.get("tenant-a", "p1", "x.txt") == b"x"
        from podium.localhost.broker import Broker

        ad.close()
        from podium.adapters.factory import host_broker_path

        broker = Broker(host_broker_path(settings))
        (msg,) = broker.receive("agent-results")
        assert value not in msg.text and "***" in msg.text
        broker.close()
    finally:
        ad.close()


def test_per_tenant_vault_settings_reach_the_key_vault_source() -> None:
    from podium.adapters.factory import _secret_source

    settings = load_settings({"PODIUM_SECRETS": "keyvault",
                              "KEYVAULT_URL_TENANT_A": "https://a.vault.azure.net",
                              "KEYVAULT_URL": "https://shared.vault.azure.net"})
    source = _secret_source(settings)
    assert source.locate("tenant-a", "x") == ("https://a.vault.azure.net", "x")
    assert source.locate("tenant-b", "x") == ("https://shared.vault.azure.net", "tenant-b--x")


def test_local_publisher_uses_the_running_hosts_broker(tmp_path: Path) -> None:
    from podium.localhost.broker import Broker, podium_topology, registry

    ad = build_adapters(load_settings({"PODIUM_DATA_DIR": str(tmp_path / "data")}),
                        register_log_redactor=False)
    host_broker = Broker(tmp_path / "host-broker.sqlite")
    host_broker.apply_topology(podium_topology())
    registry.install(host_broker)  # what the local host does at start (after adapters exist)
    try:
        ad.publisher.publish("agent-results", {"projectId": "p1"}, message_id="m1",
                             correlation_id="tr", application_properties={})
        assert [m.message_id for m in host_broker.receive("agent-results")] == ["m1"]
    finally:
        registry.uninstall(host_broker)
        host_broker.close()
        ad.close()
