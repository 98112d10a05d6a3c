"""Run the built-in agents in flow order on one request, in-process, and time every task type.

    python -m podium.agents.selftest                    # examples/contoso-shop.json
    python -m podium.agents.selftest --services 30      # synthetic_request(30)
    python -m podium.agents.selftest --keep /tmp/ws     # keep the workspace to look at

Why: a check and a benchmark of the agents alone, with no orchestration, broker or host, so
a slow or broken agent can be told apart from a slow or broken orchestration. Exits 1 when
any task does not complete.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from podium.agents.examples import example_path, synthetic_request
from podium.agents.messages import scheduled
from podium.agents.registry import builtin_workers
from podium.agents.workspace import prepare_workspace

PROJECT_TASKS = (
    ("vision-architect-agent", "GenerateVisionPlan"),
    ("enterprise-architect-agent", "GenerateDomainModel"),
    ("planner-agent", "PlanMicroservices"),
)
SERVICE_TASKS = (
    ("developer-agent", "ApplyMicroserviceTemplate"),
    ("gateway-agent", "ConfigureApiGateway"),
    ("integration-agent", "SetupServiceBusEvents"),
    ("devops-agent", "ApplyObservabilityTemplates"),
    ("qa-agent", "RunMicroserviceValidation"),
)


def run_sequence(request: dict[str, Any], root: Path) -> dict[str, Any]:
    """Plan, then assemble and validate every service; returns timings and failures."""
    workspace = prepare_workspace(root, request)
    workers = builtin_workers()
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    failures: list[dict[str, Any]] = []

    def run(agent: str, task_type: str, **inputs: Any) -> dict[str, Any] | None:
        sent: list[dict[str, Any]] = []
        envelope = scheduled(task_id=f"{task_type}-{inputs.get('serviceName', 'project')}",
                             task_type=task_type, agent_id=agent, workspace=str(workspace),
                             inputs=inputs, tenant_id=request["tenantId"],
                             project_id=request["projectId"])
        started = time.perf_counter()
        outcome = workers[agent].process(envelope, sent.append)
        seconds[task_type] += time.perf_counter() - started
        counts[task_type] += 1
        if outcome.status != "completed":
            failures.append({"taskType": task_type, **inputs,
                             "reason": outcome.error or outcome.status})
            return None
        return sent[-1]["payload"]["outputs"]

    started = time.perf_counter()
    for agent, task_type in PROJECT_TASKS:
        planned = run(agent, task_type)
    services = planned["services"] if planned else []
    tests = {"passed": 0, "failed": 0}
    for name in services:
        for agent, task_type in SERVICE_TASKS:
            outputs = run(agent, task_type, serviceName=name)
            if outputs is not None and task_type == "RunMicroserviceValidation":
                tests["passed"] += outputs["passed"]
                tests["failed"] += outputs["failed"]
    return {
        "services": len(services), "totalSec": round(time.perf_counter() - started, 3),
        "tests": tests, "failures": failures, "workspace": str(workspace),
        "byTaskType": {k: {"count": counts[k], "totalSec": round(v, 3),
                           "meanMs": round(1000 * v / counts[k], 1)}
                       for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m podium.agents.selftest",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=0,
                        help="use synthetic_request(N) instead of examples/contoso-shop.json")
    parser.add_argument("--keep", default=None, help="workspace root to keep (default: temp)")
    args = parser.parse_args(argv)
    request = (synthetic_request(args.services) if args.services
               else json.loads(example_path().read_text(encoding="utf-8")))
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="podium-selftest-"))
    try:
        report = run_sequence(request, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if not args.keep:
        report.pop("workspace")
    print(json.dumps(report, indent=2))
    return 1 if report["failures"] or not report["services"] else 0


if __name__ == "__main__":
    sys.exit(main())
