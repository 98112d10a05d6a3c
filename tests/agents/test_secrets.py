"""Secrets reach the workspace as references only, never as values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.agents.conftest import outputs, plan_project

RESOLVED = {
    "ServiceBusConnectionString": "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKey=AbC123",
    "OAuthClientSecret": "s3cr3t-value-from-vault",
    "DatabasePassword": "pa55word-resolved",
    "EnableTelemetry": True,
}


def _all_text(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


@pytest.fixture
def planned(run, workspace) -> Path:
    plan_project(run)
    for name in ("catalog", "orders", "customers"):
        outputs(run("developer-agent", "ApplyMicroserviceTemplate", serviceName=name))
    outputs(run("developer-agent", "ScaffoldIdentityService"))
    return workspace


def test_resolved_values_are_replaced_by_references(run, planned) -> None:
    result = outputs(run("devops-agent", "InjectSecrets", config=RESOLVED,
                         secrets={"RegistryPassword": "@vault:acr-password"}))
    assert result["redacted"] == ["DatabasePassword", "OAuthClientSecret",
                                  "ServiceBusConnectionString"]
    text = _all_text(planned)
    for key, value in RESOLVED.items():
        if isinstance(value, str):
            assert value not in text, key
    settings = json.loads((planned / "config/appsettings.dev.json").read_text())
    assert settings["secrets"]["ServiceBusConnectionString"] == {
        "env": "SERVICE_BUS_CONNECTION_STRING", "secretRef": "@vault:sb-dev"}
    assert settings["secrets"]["DatabasePassword"]["secretRef"] == "@vault:database-password"
    assert settings["secrets"]["RegistryPassword"]["secretRef"] == "@vault:acr-password"
    assert settings["secrets"]["IdentitySigningKey"]["secretRef"] == "@vault:identity-signing-key"
    assert settings["variables"]["EnableTelemetry"] is True
    for service in ("catalog", "orders", "customers", "identity"):
        per_service = json.loads((planned / f"services/{service}/appsettings.dev.json").read_text())
        assert all(v["secretRef"].startswith("@vault:") for v in per_service["secrets"].values())
    group = json.loads((planned / "pipelines/variable-group.json").read_text())
    assert group["variables"]["OAUTH_CLIENT_SECRET"] == {"secretRef": "@vault:auth-secret",
                                                         "isSecret": True}


def test_a_declared_secret_given_as_value_is_still_only_referenced(run, planned) -> None:
    outputs(run("devops-agent", "InjectSecrets", secrets={"ApiKeyPlain": "plain-value-123"}))
    assert "plain-value-123" not in _all_text(planned)


def test_registry_credentials_must_be_a_reference(run, planned) -> None:
    outputs(run("devops-agent", "ApplyPipelineYamlTemplate"))
    leaked = run("devops-agent", "ConfigureDockerBuild", registryCredentials="user:pass")
    assert leaked["payload"]["errorCode"] == "SecretInjectionBlocked"
    assert "user:pass" not in _all_text(planned)
    ok = outputs(run("devops-agent", "ConfigureDockerBuild", task_id="again",
                     registryCredentials="@vault:acr-credentials"))
    docker = json.loads((planned / "pipelines/orders/docker.json").read_text())
    assert docker["registryAuth"] == "@vault:acr-credentials"
    assert ok["images"]["orders"] == "contosoacr.azurecr.io/orders:1.0.0"


def test_generated_code_holds_no_key_material(planned) -> None:
    identity = planned / "services/identity"
    clients = json.loads((identity / "app/clients.json").read_text())
    assert all(set(c) == {"clientId", "roles", "secretEnv", "secretRef"} for c in clients)
    assert all(c["secretRef"].startswith("@vault:") for c in clients)
    auth = (planned / "services/orders/app/auth.py").read_text()
    assert 'os.environ.get(SIGNING_KEY_ENV, "")' in auth


def test_structured_project_configuration_is_accepted(run, planned) -> None:
    config = {"env": "staging",
              "secrets": {"ServiceBusConnectionString": "@vault:sb-staging",
                          "OAuthClientSecret": "resolved-oauth-value"},
              "variables": {"EnvironmentName": "Staging"}}
    result = outputs(run("devops-agent", "InjectSecrets", config=config))
    assert result["env"] == "staging" and result["redacted"] == ["OAuthClientSecret"]
    settings = json.loads((planned / "config/appsettings.staging.json").read_text())
    assert settings["secrets"]["ServiceBusConnectionString"]["secretRef"] == "@vault:sb-staging"
    assert settings["secrets"]["OAuthClientSecret"]["secretRef"] == "@vault:auth-secret"
    assert settings["variables"]["EnvironmentName"] == "Staging"
    assert "secrets" not in settings["secrets"] and "variables" not in settings["variables"]
    assert "resolved-oauth-value" not in _all_text(planned)
