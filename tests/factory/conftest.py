"""Fixtures of the factory tests: the real app (function_app.py) under the in-process local
host on a virtual clock, with the built-in agents on the host's embedded broker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podium.agents.registry import builtin_workers
from podium.coordination.principal import encode_principal
from podium.runtime.agent_host import AgentHost

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "contoso-shop.json"


@dataclass
class Factory:
    """The app under the local host plus its agents, with helpers the tests share."""

    host: Any
    agents: AgentHost
    data_dir: Path

    def post(self, path: str, body: Any = None, *, user: str | None = None,
             roles: list[str] | None = None) -> Any:
        return self.host.request("POST", path, json=body, headers=self._headers(user, roles))

    def get(self, path: str, *, user: str | None = None, roles: list[str] | None = None) -> Any:
        return self.host.request("GET", path, headers=self._headers(user, roles))

    @staticmethod
    def _headers(user: str | None, roles: list[str] | None) -> dict[str, str]:
        if user is None:
            return {}
        return {"X-MS-CLIENT-PRINCIPAL": encode_principal(user, roles or [])}

    def project(self, project_id: str) -> dict[str, Any]:
        response = self.get(f"/api/projects/{project_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, predicate, timeout: float = 120.0, step: float = 0.05) -> Any:
        """Poll ``predicate`` (agents work on their own threads, so the host alone cannot tell
        when everything is quiet) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(step)
        raise AssertionError(f"condition not met in {timeout} s; last value: {last!r}")

    def run_project(self, request: dict[str, Any], *, approve: bool = True,
                    timeout: float = 180.0) -> dict[str, Any]:
        """Create a project and drive it to delivery, approving every human task."""
        created = self.post("/api/projects", request)
        assert created.status_code == 202, created.text
        pid = created.json()["projectId"]

        def step():
            response = self.get(f"/api/projects/{pid}")
            if response.status_code == 404:
                return None  # the coordinator has not processed its init signal yet
            assert response.status_code == 200, response.text
            state = response.json()
            if state["locked"] or state["status"] == "Failed":
                return state
            if approve:
                for task in state["humanTasks"]:
                    self.post(f"/api/projects/{pid}/human-tasks/{task['taskId']}",
                              {"response": "Approve"})
            return None

        return self.wait(step, timeout=timeout, step=0.1)


def example_request(**overrides: Any) -> dict[str, Any]:
    data = json.loads(EXAMPLE.read_text())
    data.update(overrides)
    return data


@pytest.fixture
def factory(podium_host, tmp_path, monkeypatch) -> Iterator[Factory]:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PODIUM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PODIUM_DEV_PRINCIPAL", "user:dev;roles=Architect,Admin")
    host = podium_host(REPO, data_dir=data_dir)
    agents = AgentHost(host.broker, builtin_workers(), concurrency=4).start()
    try:
        yield Factory(host, agents, data_dir)
    finally:
        agents.stop()
