"""Fixtures of the factory tests: the real app (function_app.py) under the in-process local
host on a virtual clock, with the built-in agents on the host's embedded broker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from podium import topology
from podium.agents.registry import builtin_workers
from podium.coordination.principal import encode_principal
from podium.localhost.broker import subscription_path
from podium.localhost.broker.topology import SubscriptionSpec
from podium.runtime.agent_host import AgentHost
from podium.runtime.dev_secrets import ensure_dev_secrets

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

    def wait(self, predicate, timeout: float = 30.0, step: float = 0.05) -> Any:
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
            if ended(state):
                return state
            if approve:
                for task in state["humanTasks"]:
                    self.post(f"/api/projects/{pid}/human-tasks/{task['taskId']}",
                              {"response": "Approve"})
            return None

        return self.wait(step, timeout=timeout, step=0.1)

    # ------------------------------------------------------------------ fault-test helpers
    def create(self, request: dict[str, Any]) -> str:
        created = self.post("/api/projects", request)
        assert created.status_code == 202, created.text
        return created.json()["projectId"]

    def events(self, pid: str | None = None, type_: str | None = None) -> list[dict[str, Any]]:
        """Every event published to the orchestration-events topic since the factory started
        (read from the test's own tap subscription, which nothing consumes)."""
        out = []
        for msg in self.host.broker.peek(TAP_PATH, 100_000):
            event = json.loads(msg.text)
            if (pid is None or event.get("projectId") == pid) and (
                type_ is None or event.get("eventType") == type_
            ):
                out.append(event)
        return out

    def audit(self, pid: str, type_: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        """The project's audit rows (optionally of one type / with these details)."""
        path = f"/api/projects/{pid}/audit" + (f"?type={type_}" if type_ else "")
        response = self.get(path)
        if response.status_code == 404:
            return []  # the coordinator does not exist yet
        assert response.status_code == 200, response.text
        rows = response.json()["records"]
        return [r for r in rows if all(_field(r, k) == v for k, v in filters.items())]

    def wait_audit(self, pid: str, type_: str, count: int = 1, timeout: float = 30.0,
                   **filters: Any) -> list[dict[str, Any]]:
        """Wait until at least ``count`` audit rows of ``type_`` (matching ``filters``) exist;
        on timeout the error lists the audit types seen, which tells where the run stopped."""
        try:
            return self.wait(
                lambda: (rows := self.audit(pid, type_, **filters)) and len(rows) >= count
                and rows,
                timeout=timeout,
            )
        except AssertionError:
            seen = [(r["type"], r.get("taskId"), r["action"]) for r in self.audit(pid)]
            raise AssertionError(
                f"no {count} x {type_} {filters} in {timeout} s; audit so far: {seen[-25:]}"
            ) from None

    def node(self, pid: str, flow: str, task_id: str) -> dict[str, Any]:
        for graph in self.project(pid)["graphs"]:
            if graph["name"] == flow:
                for node in graph["nodes"]:
                    if node["taskId"] == task_id:
                        return node
        raise AssertionError(f"no node {flow}/{task_id} in project {pid}")

    def status_of(self, pid: str, flow: str, task_id: str) -> str | None:
        """A task's status, None while its flow's graph does not exist yet."""
        try:
            return self.node(pid, flow, task_id)["status"]
        except AssertionError:
            return None

    def in_progress(self, pid: str) -> list[str]:
        """Agent tasks InProgress (the clock may only be advanced past an acknowledgement
        timeout when no healthy agent task is still in flight)."""
        return sorted(
            n["taskId"]
            for g in self.project(pid)["graphs"]
            for n in g["nodes"]
            if n["status"] == "InProgress" and n.get("agentId")
        )

    def quiet(self, pid: str, expected: set[str] | None = None, timeout: float = 30.0) -> None:
        """Wait until the only agent tasks in flight are ``expected`` (the ones a test keeps
        failing or silent) and the host is idle; then advancing the clock is safe."""
        expected = expected or set()
        self.wait(lambda: set(self.in_progress(pid)) <= expected, timeout=timeout)
        # every task message taken and settled by its agent (so an acknowledgement it sends
        # is already on the results queue), then the host idle (the results queue drained)
        paths = [subscription_path(topology.AGENT_TASKS_TOPIC, a) for a in topology.AGENT_IDS]
        self.wait(
            lambda: all(
                not (c := self.host.broker.counts(p))["active"] and not c["locked"] for p in paths
            ),
            timeout=timeout,
        )
        assert self.host.wait_for_idle(timeout), "the host did not become idle"

    def drive(self, pid: str, until, expected: set[str], step_sec: float = 31.0,
              max_steps: int = 20) -> Any:
        """Advance the virtual clock ``step_sec`` at a time (firing acknowledgement timeouts
        and retry timers of the ``expected`` misbehaving tasks) until ``until()`` is truthy.
        Before each step it waits until no other agent task is in flight."""
        for _ in range(max_steps):
            self.quiet(pid, expected)
            result = until()
            if result:
                return result
            self.host.advance(timedelta(seconds=step_sec))
        seen = [(r["type"], r.get("taskId"), r["action"]) for r in self.audit(pid)]
        raise AssertionError(f"not reached after {max_steps} clock steps; audit: {seen[-25:]}")

    def approve_all(self, pid: str, until, timeout: float = 60.0, response: str = "Approve",
                    leave: tuple[str, ...] = ()):
        """Approve every human task (except the graph tasks in ``leave``) until
        ``until(state)`` is truthy; returns that state."""

        def step():
            state = self.project(pid)
            if until(state):
                return state
            for task in state["humanTasks"]:
                if task.get("graphTaskId") in leave:
                    continue
                self.post(f"/api/projects/{pid}/human-tasks/{task['taskId']}",
                          {"response": response})
            return None

        try:
            return self.wait(step, timeout=timeout, step=0.1)
        except AssertionError:
            state = self.project(pid)
            raise AssertionError(
                f"{pid} did not get there in {timeout} s: phase {state['phase']}, status "
                f"{state['status']}, in progress {self.in_progress(pid)}, pending "
                f"{[t.get('graphTaskId') for t in state['humanTasks']]}, failed "
                f"{failed_nodes(state)}"
            ) from None


def ended(state: dict[str, Any]) -> bool:
    """Delivered (locked *and* the delivery written: the coordinator locks the project before
    the delivery activity stores the summary) or Failed."""
    return bool(state["locked"] and state.get("delivery")) or state["status"] == "Failed"


def failed_nodes(state: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """(flow, task, status, error) of every failed / stalled node: the message of a failed
    delivery assertion."""
    return [
        (g["name"], n["taskId"], n["status"], n.get("error"))
        for g in state.get("graphs", [])
        for n in g["nodes"]
        if n["status"] in ("Failed", "Stalled")
    ]


def _field(row: dict[str, Any], key: str) -> Any:
    return row[key] if key in row else (row.get("details") or {}).get(key)


def small_request(project_id: str, *, tenant_id: str = "contoso", **extra: Any) -> dict[str, Any]:
    """A valid 1-microservice request (fast: one assembly, one generated test suite)."""
    from podium.agents.examples import synthetic_request

    request = synthetic_request(1, tenant_id=tenant_id, project_id=project_id)
    # the example's secret references: the fixture gives them dev values (tenant contoso)
    request["config"] = example_request()["config"]
    request.update(extra)
    return request


def example_request(**overrides: Any) -> dict[str, Any]:
    data = json.loads(EXAMPLE.read_text())
    data.update(overrides)
    return data


TAP = "test-tap"
TAP_PATH = f"{topology.ORCHESTRATION_EVENTS_TOPIC}/Subscriptions/{TAP}"


@pytest.fixture
def factory(monkeypatch, tmp_path, podium_host) -> Iterator[Factory]:
    # Fixture order matters: teardown runs in reverse, so the hosts stop (podium_host) before
    # the environment is restored (monkeypatch). The other way round, activities still running
    # at teardown read an unset PODIUM_DATA_DIR and wrote to ./.podium in the checkout.
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PODIUM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PODIUM_DEV_PRINCIPAL", "user:dev;roles=Architect,Admin")
    monkeypatch.setenv("PODIUM_SECRETS_FILE", str(tmp_path / "secrets.json"))
    ensure_dev_secrets(example_request(), tmp_path / "secrets.json")
    host = podium_host(REPO, data_dir=data_dir)
    host.broker.create_subscription(topology.ORCHESTRATION_EVENTS_TOPIC, SubscriptionSpec(TAP))
    agents = AgentHost(host.broker, builtin_workers(), concurrency=4).start()
    try:
        yield Factory(host, agents, data_dir)
    finally:
        agents.stop()
