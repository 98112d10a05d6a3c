"""Test helper: the real app (function_app.py) under Podium's local host on a random loopback
port, with the built-in agents on the host's embedded broker, and a small HTTP client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "contoso-shop.json"


class RealApp:
    def __init__(self, host: Any) -> None:
        self.host = host
        self.base = host.base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def get(self, path: str) -> Any:
        response = self.http.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def create_example(self) -> str:
        created = self.http.post("/api/projects", json=json.loads(EXAMPLE.read_text()))
        assert created.status_code == 202, created.text
        return created.json()["projectId"]

    def wait(self, predicate, timeout: float = 90.0) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(0.25)
        raise AssertionError(f"not reached in {timeout} s; last: {last!r}")

    def first_checkpoint(self, pid: str) -> dict[str, Any]:
        """The project's state once the run waits for people: every failed or human node has
        its pending human task (the project appears asynchronously: 404 means not yet)."""

        def ready() -> dict[str, Any] | None:
            response = self.http.get(f"/api/projects/{pid}")
            if response.status_code == 404:
                return None
            assert response.status_code == 200, response.text
            state = response.json()
            waiting = [
                n
                for g in state["graphs"]
                for n in g["nodes"]
                if n["status"] == "Failed" or (n.get("human") and n["status"] == "InProgress")
            ]
            tasks = state["humanTasks"]
            return state if tasks and len(tasks) >= len(waiting) else None

        return self.wait(ready)


@contextmanager
def real_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RealApp]:
    pytest.importorskip("podium.localhost.testing", reason="local host not available")
    from podium.agents.registry import builtin_workers
    from podium.localhost.testing import make_host
    from podium.runtime.agent_host import AgentHost

    data_dir = tmp_path / "data"
    monkeypatch.setenv("PODIUM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PODIUM_WORKSPACE_ROOT", str(tmp_path / "workspaces"))
    monkeypatch.setenv("PODIUM_DEV_PRINCIPAL", "user:dev;roles=Architect,Admin")
    monkeypatch.setenv("PODIUM_TENANTS", "contoso")
    host = make_host(REPO, data_dir, port=0)
    agents = AgentHost(host.broker, builtin_workers(), concurrency=2).start()
    try:
        yield RealApp(host)
    finally:
        agents.stop()
        host.stop()
