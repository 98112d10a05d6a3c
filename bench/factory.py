"""Benchmark of the software factory end to end, under the local host (no cloud).

1. The example project (examples/contoso-shop.json) with the real built-in agents (they render
   services and run their tests with pytest): wall time from ProjectCreated to delivery.
2. Orchestration overhead as the project grows: 3, 30 and 100 planned microservices, with the
   planning agents real (they decide how many services there are) and every other agent a no-op
   that answers at once. What remains is the factory's own time (routing, graph runs, entity
   calls, persistence, events, approvals); per task it should stay flat as the project grows.

3. One flow run of a synthetic ExecutionGraph of 10, 100 and 1,000 tasks (layers of 10 tasks,
   each depending on the whole previous layer), no-op agents: the generic flow runner's cost
   per task as the graph grows (sub-orchestration per task, continue-as-new every 100
   completions, so history per execution stays bounded).

Usage: python bench/factory.py [--sizes 3 30 100] [--graph-sizes 10 100 1000] [--skip-example]
Prints one line per run; figures vary with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from podium.agents.examples import synthetic_request  # noqa: E402
from podium.agents.registry import builtin_workers  # noqa: E402
from podium.agents.worker import AgentWorker  # noqa: E402
from podium.localhost.host import LocalHost  # noqa: E402
from podium.runtime.agent_host import AgentHost  # noqa: E402
from podium.runtime.dev_secrets import ensure_dev_secrets  # noqa: E402

REAL_AGENTS = {"vision-architect-agent", "enterprise-architect-agent", "planner-agent",
               "basic-planner-agent"}


def noop_workers() -> dict[str, AgentWorker]:
    """Real planners; every other agent answers instantly with empty outputs."""
    workers = builtin_workers()
    out: dict[str, AgentWorker] = {}
    for agent_id, worker in workers.items():
        if agent_id in REAL_AGENTS:
            out[agent_id] = worker
            continue
        fast = AgentWorker(agent_id)
        for task_type in worker.task_types:
            fast.add_handler(task_type, lambda task, ctx: {"noop": True})
        out[agent_id] = fast
    return out


def run_project(request: dict[str, Any], workers: dict[str, AgentWorker],
                timeout: float = 1800) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="podium-bench-")) / "data"
    os.environ["PODIUM_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("PODIUM_DEV_PRINCIPAL", "user:bench;roles=Architect,Admin")
    os.environ["PODIUM_SECRETS_FILE"] = str(data_dir.parent / "secrets.json")
    ensure_dev_secrets(request, data_dir.parent / "secrets.json")
    host = LocalHost(REPO, port=None, data_dir=data_dir, poll_seconds=0.1).start()
    agents = AgentHost(host.broker, workers, concurrency=8).start()
    try:
        started = time.perf_counter()
        created = host.request("POST", "/api/projects", json=request)
        if created.status_code != 202:
            raise SystemExit(f"project refused: {created.text}")
        pid = created.json()["projectId"]
        deadline = started + timeout
        while time.perf_counter() < deadline:
            response = host.request("GET", f"/api/projects/{pid}")
            state = response.json() if response.status_code == 200 else None
            if state and (state["locked"] or state["status"] == "Failed"):
                break
            for task in (state or {}).get("humanTasks", []):
                host.request("POST", f"/api/projects/{pid}/human-tasks/{task['taskId']}",
                             json={"response": "Approve"})
            time.sleep(0.05)
        else:
            raise SystemExit(f"{pid}: not delivered in {timeout} s")
        elapsed = time.perf_counter() - started
        return {"status": state["status"], "seconds": elapsed,
                "tasks": state["progress"]["totalTasks"],
                "flows": len(state["graphs"])}
    finally:
        agents.stop()
        host.stop()


def synthetic_flow(n_tasks: int, width: int = 10):
    """A flow definition: layers of ``width`` NoopWork tasks, each on the previous layer."""
    from podium.domain.flows import FlowDefinition

    tasks = []
    for i in range(n_tasks):
        layer = i // width
        deps = [f"t{j}" for j in range((layer - 1) * width, layer * width)] if layer else []
        tasks.append({"taskId": f"t{i}", "type": "NoopWork", "agentId": "developer-agent",
                      "dependsOn": deps})
    return FlowDefinition.model_validate({"name": f"bench-graph-{n_tasks}", "phase": "Planning",
                                          "tasks": tasks})


def run_graph(n_tasks: int) -> dict[str, Any]:
    """Run one flow of ``n_tasks`` through flow_runner directly (no project request)."""
    from podium.domain.flows import default_catalog

    flow = synthetic_flow(n_tasks)
    default_catalog().flows[flow.name] = flow
    data_dir = Path(tempfile.mkdtemp(prefix="podium-bench-graph-")) / "data"
    os.environ["PODIUM_DATA_DIR"] = str(data_dir)
    os.environ["PODIUM_MAX_CONCURRENT_TASKS"] = "10"
    host = LocalHost(REPO, port=None, data_dir=data_dir, poll_seconds=0.1).start()
    worker = AgentWorker("developer-agent")
    worker.add_handler("NoopWork", lambda task, ctx: {"noop": True})
    agents = AgentHost(host.broker, {"developer-agent": worker}, concurrency=8).start()
    try:
        started = time.perf_counter()
        instance = f"bench-{n_tasks}:{flow.name}"
        host.start_orchestration("flow_runner", {
            "flow": flow.name, "tenantId": "bench", "projectId": f"bench-{n_tasks}",
            "traceId": "0" * 31 + "1", "params": {}}, instance)
        while True:
            status = host.status(instance)
            if status is not None and status.runtime_status.is_terminal:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        return {"status": status.runtime_status.value, "seconds": elapsed,
                "output": status.output}
    finally:
        agents.stop()
        host.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[3, 30, 100])
    parser.add_argument("--graph-sizes", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--skip-example", action="store_true")
    args = parser.parse_args()
    if not args.skip_example:
        request = json.loads((REPO / "examples" / "contoso-shop.json").read_text())
        r = run_project(request, builtin_workers())
        print(f"example contoso-shop (real agents): {r['status']} in {r['seconds']:.1f} s, "
              f"{r['flows']} flows, {r['tasks']} tasks", flush=True)
    for n in args.sizes:
        r = run_project(synthetic_request(n, project_id=f"bench-{n}"), noop_workers())
        per_task = r["seconds"] / max(r["tasks"], 1) * 1000
        print(f"{n:>4} microservices (no-op agents): {r['status']} in {r['seconds']:.2f} s, "
              f"{r['flows']} flows, {r['tasks']} tasks, overhead {per_task:.1f} ms/task",
              flush=True)
    for n in args.graph_sizes:
        r = run_graph(n)
        print(f"{n:>5}-task graph, one flow (no-op agents): {r['status']} in "
              f"{r['seconds']:.2f} s, {r['seconds'] / n * 1000:.1f} ms/task", flush=True)


if __name__ == "__main__":
    main()
