"""Transports and the run loop: in-process queues, JSON lines, and an agent process."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from podium.agents import (
    AgentHost,
    AgentWorker,
    InboundMessage,
    JsonLinesTransport,
    MemoryTransport,
    Transport,
    handle_message,
    run_workers,
    scheduled,
)
from podium.agents.examples import example_path

ROOT = Path(__file__).resolve().parents[2]


def echo_worker(agent_id: str = "echo-agent", delay: float = 0.0) -> AgentWorker:
    worker = AgentWorker(agent_id)

    @worker.handler("Echo")
    def echo(task, ctx) -> dict[str, Any]:
        time.sleep(delay)
        return {"n": task.inputs["n"]}

    return worker


def echo_task(tmp_path: Path, n: int, agent_id: str = "echo-agent") -> dict[str, Any]:
    return scheduled(task_id=f"t{n}", task_type="Echo", agent_id=agent_id,
                     workspace=str(tmp_path), inputs={"n": n})


def test_transports_satisfy_the_protocol() -> None:
    assert isinstance(MemoryTransport(), Transport)
    assert isinstance(JsonLinesTransport(io.StringIO(""), io.StringIO()), Transport)


def test_run_loop_answers_every_task_and_drains_on_stop(tmp_path) -> None:
    transport = MemoryTransport()
    workers = {"echo-agent": echo_worker(delay=0.05)}
    stop = threading.Event()
    agent_ms: list[float] = []
    loop = threading.Thread(target=run_workers, args=(workers, transport, stop),
                            kwargs={"concurrency": 3, "poll_timeout": 0.05,
                                    "on_outcome": lambda m, o: agent_ms.append(o.handler_ms)})
    loop.start()
    for n in range(10):
        transport.put_task(echo_task(tmp_path, n))
    assert transport.wait_for_results(
        lambda r: sum(m["eventType"] == "AgentTaskCompleted" for m in r) == 10, timeout=10)
    stop.set()
    loop.join(5)
    assert not loop.is_alive()
    done = sorted(m["payload"]["outputs"]["n"] for m in transport.results
                  if m["eventType"] == "AgentTaskCompleted")
    assert done == list(range(10))
    assert len(transport.completed) == 10 and transport.dead_lettered == []
    assert len(agent_ms) == 10 and all(ms >= 50 for ms in agent_ms)
    durations = [m["payload"]["durationMs"] for m in transport.results
                 if m["eventType"] == "AgentTaskCompleted"]
    assert all(d >= 50 for d in durations)


def test_stop_lets_running_tasks_finish(tmp_path) -> None:
    transport = MemoryTransport()
    stop = threading.Event()
    loop = threading.Thread(target=run_workers,
                            args=({"echo-agent": echo_worker(delay=0.5)}, transport, stop),
                            kwargs={"poll_timeout": 0.05})
    loop.start()
    transport.put_task(echo_task(tmp_path, 1))
    assert transport.wait_for_results(lambda r: len(r) == 1, timeout=5)  # acknowledged
    stop.set()
    loop.join(5)
    assert [m["eventType"] for m in transport.results] == [
        "AgentTaskAcknowledged", "AgentTaskCompleted"]


def test_messages_nobody_can_answer_are_dead_lettered(tmp_path) -> None:
    transport = MemoryTransport()
    workers = {"echo-agent": echo_worker()}
    handle_message(workers, transport, InboundMessage({"junk": True}, {"agentId": "echo-agent"}))
    handle_message(workers, transport, InboundMessage(echo_task(tmp_path, 1, "ghost-agent")))
    reasons = [reason for _, reason in transport.dead_lettered]
    assert reasons[0].startswith("InvalidTask: eventType must be")
    assert reasons[1] == "NoWorker: no agent 'ghost-agent' in this host"
    assert transport.results == []


def test_a_failing_send_leaves_the_message_unsettled(tmp_path) -> None:
    class Flaky(MemoryTransport):
        def send(self, envelope: dict[str, Any]) -> None:
            raise ConnectionError("down")

    transport = Flaky()
    message = InboundMessage(echo_task(tmp_path, 1))
    assert handle_message({"echo-agent": echo_worker()}, transport, message) is None
    assert transport.completed == [] and transport.dead_lettered == []


def test_json_lines_transport_round_trip(tmp_path) -> None:
    lines = "\n".join([json.dumps(echo_task(tmp_path, 1)), "{not json", ""]) + "\n"
    out = io.StringIO()
    transport = JsonLinesTransport(io.StringIO(lines), out)
    handled = run_workers({"echo-agent": echo_worker()}, transport, threading.Event(),
                          poll_timeout=0.05, stop_when_closed=transport.closed)
    assert handled == 2
    events = [json.loads(line)["eventType"] for line in out.getvalue().splitlines()]
    assert sorted(events) == ["AgentTaskAcknowledged", "AgentTaskCompleted", "DeadLettered"]


def _agent_process(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PODIUM_LLM_BASE_URL", None)
    return subprocess.Popen([sys.executable, "-m", "podium.agents", *args], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_agent_process_over_stdio_plans_a_project(tmp_path) -> None:
    (tmp_path / "request.json").write_text(example_path().read_text())
    process = _agent_process("--agents", "vision-architect-agent,planner-agent",
                             "--transport", "stdio")
    owner = {"tenant_id": "contoso", "project_id": "contoso-shop"}
    tasks = [scheduled(task_id="T1", task_type="GenerateVisionPlan",
                       agent_id="vision-architect-agent", workspace=str(tmp_path), **owner),
             scheduled(task_id="T3", task_type="PlanMicroservices", agent_id="planner-agent",
                       workspace=str(tmp_path), **owner)]
    stdout, stderr = process.communicate("".join(json.dumps(t) + "\n" for t in tasks),
                                         timeout=60)
    assert process.returncode == 0, stderr
    answers = [json.loads(line) for line in stdout.splitlines()]
    completed = {m["payload"]["taskId"]: m for m in answers
                 if m["eventType"] == "AgentTaskCompleted"}
    assert set(completed) == {"T1", "T3"}
    assert completed["T3"]["payload"]["outputs"]["services"] == ["catalog", "orders",
                                                                  "customers"]
    assert (tmp_path / "plan/microservices.json").is_file()


def test_agent_process_stops_gracefully_on_sigterm(tmp_path) -> None:
    process = _agent_process("--agents", "cleanup-agent", "--transport", "stdio")
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(scheduled(
        task_id="C1", task_type="CleanupWorkspace", agent_id="cleanup-agent",
        workspace=str(tmp_path))) + "\n")
    process.stdin.flush()
    first = json.loads(process.stdout.readline())
    second = json.loads(process.stdout.readline())
    assert (first["eventType"], second["eventType"]) == ("AgentTaskAcknowledged",
                                                         "AgentTaskCompleted")
    process.send_signal(signal.SIGTERM)  # stdin still open: only the signal can stop it
    try:
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        for stream in (process.stdin, process.stdout, process.stderr):
            stream.close()


def test_agent_process_refuses_unknown_agents() -> None:
    process = _agent_process("--agents", "ghost-agent")
    _, stderr = process.communicate("", timeout=30)
    assert process.returncode == 2 and "unknown agents: ghost-agent" in stderr


def test_agent_host_runs_in_the_background(tmp_path) -> None:
    transport = MemoryTransport()
    with AgentHost({"echo-agent": echo_worker()}, transport, poll_timeout=0.05):
        transport.put_task(echo_task(tmp_path, 7))
        assert transport.wait_for_results(
            lambda r: any(m["eventType"] == "AgentTaskCompleted" for m in r), timeout=5)
    assert transport.results[-1]["payload"]["outputs"] == {"n": 7}


def test_run_loop_survives_a_failing_receive(tmp_path) -> None:
    class Hiccup(MemoryTransport):
        failures = 2

        def receive(self, max_messages: int, timeout: float) -> list[InboundMessage]:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("broker restarting")
            return super().receive(max_messages, timeout)

    transport = Hiccup()
    transport.put_task(echo_task(tmp_path, 3))
    with AgentHost({"echo-agent": echo_worker()}, transport, poll_timeout=0.02):
        assert transport.wait_for_results(
            lambda r: any(m["eventType"] == "AgentTaskCompleted" for m in r), timeout=5)
    assert transport.failures == 0
