"""The Bicep in infra/ declares every name the code uses, so code and infra cannot drift.

No Bicep compiler is reachable from this environment's registries, so the files are parsed as
text: comments are stripped, single-quoted string literals collected, and the Function App's
``appSettings`` names and the agent list read from their blocks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from podium import topology
from podium.settings import SETTINGS

INFRA = Path(__file__).resolve().parents[2] / "infra"


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"(^|\s)//.*$", "", line) for line in text.splitlines())


def _bicep(name: str) -> str:
    return _strip_comments((INFRA / name).read_text())


def _literals(text: str) -> set[str]:
    return set(re.findall(r"'((?:[^'\\]|\\.)*)'", text))


ALL_BICEP = "\n".join(_bicep(str(p.relative_to(INFRA))) for p in sorted(INFRA.rglob("*.bicep")))
LITERALS = _literals(ALL_BICEP)


def _app_setting_names() -> set[str]:
    text = _bicep("modules/functionapp.bicep")
    return set(re.findall(r"\{\s*name:\s*'([^']+)'\s*,\s*value:", text))


def test_infra_files_exist_with_parameters_per_environment() -> None:
    assert (INFRA / "main.bicep").is_file()
    for env in ("dev", "staging", "prod"):
        text = (INFRA / "parameters" / f"{env}.bicepparam").read_text()
        assert "using '../main.bicep'" in text
        assert f"param environmentName = '{env}'" in text
    for match in re.findall(r"module \w+ '([^']+)'", _bicep("main.bicep")):
        assert (INFRA / match).is_file(), f"main.bicep references missing module {match}"


@pytest.mark.parametrize("name", [
    "ORCHESTRATION_EVENTS_TOPIC", "ROUTER_SUBSCRIPTION", "AGENT_TASKS_TOPIC",
    "AGENT_RESULTS_QUEUE", "COSMOS_DATABASE", "CONTAINER_EXECUTION_GRAPHS", "CONTAINER_AUDIT",
    "CONTAINER_DELIVERIES", "CONTAINER_HUMAN_TASKS", "CONTAINER_PROCESSED_EVENTS",
    "CONTAINER_PROJECTS", "ARTIFACTS_CONTAINER", "COSMOS_PARTITION_KEY", "PROP_AGENT_ID",
])
def test_topology_name_is_declared(name: str) -> None:
    value = getattr(topology, name)
    assert value in LITERALS, f"{name}={value!r} is not declared in infra/*.bicep"


def test_every_topology_string_constant_is_checked() -> None:
    """A new name in topology.py must be declared in Bicep or listed as code-only here."""
    code_only = {"SERVICEBUS_CONNECTION_SETTING", "PROP_TENANT_ID", "PROP_PROJECT_ID",
                 "PROP_EVENT_TYPE", "PROP_TRACEPARENT"}  # message properties set by the code
    for name, value in vars(topology).items():
        if name.isupper() and isinstance(value, str) and name not in code_only:
            assert value in LITERALS, f"topology.{name}={value!r} is missing from infra/"


def test_agent_subscriptions_match_agent_ids() -> None:
    main = _bicep("main.bicep")
    block = re.search(r"param agentIds array = \[(.*?)\]", main, re.S)
    assert block, "main.bicep must declare param agentIds"
    assert set(re.findall(r"'([^']+)'", block.group(1))) == set(topology.AGENT_IDS)
    sb = _bicep("modules/servicebus.bicep")
    assert "[for agent in agentIds:" in sb and "sqlExpression" in sb
    assert "requiresSession: true" not in sb
    assert "maxDeliveryCount: maxDeliveryCount" in sb and "deadLetteringOnMessageExpiration" in sb


def test_cosmos_containers_have_partition_key_and_ttl() -> None:
    cosmos = _bicep("modules/cosmos.bicep")
    assert "paths: [ partitionKeyPath ]" in cosmos
    assert re.search(r"name: '" + topology.CONTAINER_PROCESSED_EVENTS + r"', ttl: -1", cosmos)


def test_azure_settings_are_set_on_the_function_app() -> None:
    names = _app_setting_names()
    for spec in SETTINGS:
        if spec.scope in ("azure", "both"):
            assert spec.name in names, f"setting {spec.name} is not set in functionapp.bicep"
    # the Service Bus trigger bindings' connection, in its identity-based form
    assert f"{topology.SERVICEBUS_CONNECTION_SETTING}__fullyQualifiedNamespace" in names
    assert "AzureWebJobsStorage__accountName" in names
    assert any("@Microsoft.KeyVault(" in v for v in LITERALS), "expected a Key Vault reference"


def test_identity_and_roles() -> None:
    app = _bicep("modules/functionapp.bicep")
    assert "type: 'SystemAssigned'" in app and "name: 'python'" in app
    roles = _bicep("modules/roles.bicep")
    for role in ("keyVaultSecretsUser", "serviceBusDataSender", "serviceBusDataReceiver",
                 "storageQueueDataContributor", "storageTableDataContributor",
                 "cosmosDataContributor"):
        assert role in roles
    assert "enableRbacAuthorization: true" in _bicep("modules/keyvault.bicep")
