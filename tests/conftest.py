"""Root fixtures: the npm stand-ins, started once per test session and only when a test asks.

``azurite`` and ``cosmos_emulator`` start the servers from ``node_modules`` on loopback with
OS-assigned free ports (concurrent runs never collide), wait until they listen, yield their
connection info and stop them by PID at the end. When ``node_modules`` is missing the requesting
tests are skipped with the reason (``scripts/test`` runs ``npm ci`` first, so CI has them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from podium.adapters import standins

# pytest accepts pytest_plugins only in the root conftest: the local host's fixtures
# (``podium_host``) are registered here for every folder that needs them.
pytest_plugins = ["podium.localhost.testing"]


@pytest.fixture(scope="session")
def azurite() -> Iterator[standins.Azurite]:
    """A running in-memory Azurite; use ``.connection_string`` and ``.ports``."""
    reason = standins.missing_reason("azurite")
    if reason:
        pytest.skip(f"Azurite unavailable: {reason}")
    server = standins.start_azurite()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cosmos_emulator() -> Iterator[standins.CosmosEmulator]:
    """A running Cosmos DB emulator; use ``.endpoint`` and ``.key`` (TLS is self-signed)."""
    reason = standins.missing_reason("@vercel/cosmosdb-server")
    if reason:
        pytest.skip(f"Cosmos DB emulator unavailable: {reason}")
    server = standins.start_cosmos_emulator()
    try:
        yield server
    finally:
        server.stop()
