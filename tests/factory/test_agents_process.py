"""Agents as their own process: `python -m podium.agents` on the running host's broker file
(the same binding a deployment uses with Service Bus) delivers the example project."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from podium.localhost.clock import SystemClock
from podium.runtime.dev_secrets import ensure_dev_secrets
from tests.factory.conftest import REPO, Factory, example_request


def test_agents_in_a_separate_process_deliver_the_project(podium_host, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PODIUM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PODIUM_DEV_PRINCIPAL", "user:dev;roles=Architect,Admin")
    monkeypatch.setenv("PODIUM_SECRETS_FILE", str(tmp_path / "secrets.json"))
    ensure_dev_secrets(example_request(), tmp_path / "secrets.json")
    # Wall-clock host: the agent process reads the broker file with its own (real) clock.
    host = podium_host(REPO, data_dir=data_dir, clock=SystemClock())
    env = {**os.environ, "PODIUM_DATA_DIR": str(data_dir), "PODIUM_HUB_NAME": "PodiumHub"}
    agents = subprocess.Popen(
        [sys.executable, "-m", "podium.agents", "--agents", "all", "--transport",
         "podium.runtime.agent_host:broker_transport", "--log-level", "WARNING"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        factory = Factory(host, None, data_dir)  # type: ignore[arg-type]
        started = time.monotonic()
        state = factory.run_project(example_request(projectId="contoso-shop-proc"),
                                    timeout=240)
        assert state["status"] == "Completed", state
        assert state["locked"]
        assert agents.poll() is None, "the agent process died: " + (agents.stderr.read() or "")
        assert time.monotonic() - started < 240
    finally:
        agents.terminate()
        try:
            agents.wait(timeout=20)
        except subprocess.TimeoutExpired:
            agents.kill()
