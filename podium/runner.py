"""``podium run PROJECT.json``: the main job, a project through the whole factory on one machine.

Starts the local host on the app (``function_app.py``) with a fresh data directory, starts the
built-in agents on its embedded broker, submits the project through the HTTP API (as Studio
would), then shows live progress: the lifecycle phase, tasks done / total, the agents at work.
At each human checkpoint it prints what is waiting and how to answer it (the CLI command and
the HTTP call); ``--auto-approve`` answers "Approve" for a demo. It ends with the delivery
summary and copies the generated, tested services to ``--output``.

Exit codes: 0 delivered, 1 failed / timed out, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_PRINCIPAL = "user:you;roles=Architect,Admin"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", type=Path, help="project request JSON (see examples/)")
    parser.add_argument("--auto-approve", action="store_true",
                        help="answer every approval with Approve (demo mode)")
    parser.add_argument("--port", type=int, default=7071,
                        help="port of the local host (0: any free port; default 7071)")
    parser.add_argument("--app-dir", type=Path, default=None,
                        help="folder of function_app.py (default: the Podium checkout)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="task hub, stores and workspaces (default: .podium/runs/<id>-<time>)")
    parser.add_argument("--output", type=Path, default=Path("generated"),
                        help="where the generated project is copied (default: generated/)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="give up after this many seconds (default 1800)")
    parser.add_argument("--quiet", action="store_true", help="print only the final summary")


def main(args: argparse.Namespace) -> int:
    try:
        request = _load_request(args.project)
    except ValueError as exc:
        print(f"podium run: {exc}", file=sys.stderr)
        return 2
    app_dir = (args.app_dir or _default_app_dir()).resolve()
    if not (app_dir / "function_app.py").exists():
        print(f"podium run: no function_app.py in {app_dir}", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    data_dir = (args.data_dir or app_dir / ".podium" / "runs"
                / f"{request.get('projectId', 'project')}-{stamp}").resolve()
    os.environ["PODIUM_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("PODIUM_DEV_PRINCIPAL", DEFAULT_PRINCIPAL)
    from podium.runtime.dev_secrets import ensure_dev_secrets

    secrets_file, added = ensure_dev_secrets(request)
    if added and not args.quiet:
        print(f"Development secrets for {', '.join(added)} were generated in {secrets_file}")
    run = Run(app_dir, data_dir, args)
    try:
        return run.execute(request)
    except KeyboardInterrupt:
        print("\ninterrupted; the run's state is kept in", data_dir, file=sys.stderr)
        return 130
    finally:
        run.close()


def _default_app_dir() -> Path:
    here = Path(__file__).resolve().parents[1]
    return here if (here / "function_app.py").exists() else Path.cwd()


def _load_request(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object (a project request)")
    return data


class Run:
    """One run: host + agents + the progress loop."""

    def __init__(self, app_dir: Path, data_dir: Path, args: argparse.Namespace) -> None:
        self.app_dir, self.data_dir, self.args = app_dir, data_dir, args
        self.host: Any = None
        self.agents: Any = None
        self.answered: set[str] = set()
        self.announced: set[str] = set()
        self.last_line = ""

    def say(self, text: str) -> None:
        if not self.args.quiet:
            print(text, flush=True)

    def start(self) -> None:
        from podium.agents.registry import builtin_workers
        from podium.localhost.host import LocalHost
        from podium.runtime.agent_host import AgentHost

        self._log = _json_log(self.data_dir)
        port = None if self.args.port < 0 else self.args.port
        self.host = LocalHost(self.app_dir, port=port, data_dir=self.data_dir,
                              poll_seconds=0.2).start()
        self.agents = AgentHost(self.host.broker, builtin_workers(), concurrency=4).start()
        self.say(f"Podium local host on {self.host.base_url}  (data: {self.data_dir})")
        self.say(f"Studio: {self.host.base_url}/api/studio   JSON logs: {self._log}")

    def close(self) -> None:
        if self.agents is not None:
            self.agents.stop()
        if self.host is not None:
            self.host.stop()

    def execute(self, request: dict[str, Any]) -> int:
        self.start()
        created = self.host.request("POST", "/api/projects", json=request)
        if created.status_code != 202:
            print(f"podium run: project refused ({created.status_code}): {created.text}",
                  file=sys.stderr)
            return 2
        project_id = created.json()["projectId"]
        self.say(f"Project {project_id} created (traceId {created.json()['traceId']})")
        self.say(f"Follow it in Studio: {self.host.base_url}/api/studio#/projects/{project_id}")
        started = time.monotonic()
        while time.monotonic() - started < self.args.timeout:
            state = self._state(project_id)
            if state is not None:
                self._progress(state)
                self._human_tasks(project_id, state)
                if state["locked"]:
                    return self._delivered(state, time.monotonic() - started)
                if state["status"] == "Failed":
                    return self._failed(project_id, state)
            time.sleep(0.25)
        print(f"podium run: not delivered after {self.args.timeout:.0f} s", file=sys.stderr)
        return 1

    def _state(self, project_id: str) -> dict[str, Any] | None:
        response = self.host.request("GET", f"/api/projects/{project_id}")
        return response.json() if response.status_code == 200 else None

    def _progress(self, state: dict[str, Any]) -> None:
        p = state["progress"]
        agents = ", ".join(p["runningAgents"]) or "-"
        line = (f"[{state['phase']:<16}] tasks {p['completed']:>3}/{p['totalTasks']:<3} "
                f"running: {agents}")
        if line != self.last_line:
            self.say(line)
            self.last_line = line

    def _human_tasks(self, project_id: str, state: dict[str, Any]) -> None:
        for task in state["humanTasks"]:
            tid = task["taskId"]
            if tid in self.answered:
                continue
            auto = self.args.auto_approve and "Approve" in task["options"]
            if tid not in self.announced:
                self.announced.add(tid)
                self._announce(project_id, task, auto)
            if auto:
                response = self.host.request(
                    "POST", f"/api/projects/{project_id}/human-tasks/{tid}",
                    json={"response": "Approve", "comment": "auto-approved by podium run"})
                if response.status_code in (200, 409):
                    self.answered.add(tid)
                    self.say(f"  ✔ auto-approved {task['title']}")

    def _announce(self, project_id: str, task: dict[str, Any], auto: bool) -> None:
        tid = task["taskId"]
        options = "/".join(task["options"])
        self.say(f"\n⏸  Waiting for role {task['requiredRole']}: {task['title']} "
                 f"({options}; expires {task.get('expiresAt')})")
        if task.get("description"):
            self.say(f"   {task['description']}")
        if auto:
            return
        url = f"{self.host.base_url}/api/projects/{project_id}/human-tasks/{tid}"
        self.say(f"   answer with:  podium answer {project_id} {tid} Approve "
                 f"--url {self.host.base_url}")
        self.say(f"   or:           curl -X POST {url} -H 'Content-Type: application/json' "
                 f"-d '{{\"response\": \"Approve\"}}'")
        self.say(f"   or in Studio: {self.host.base_url}/api/studio#/projects/{project_id}\n")

    def _delivered(self, state: dict[str, Any], seconds: float) -> int:
        target = (self.args.output / state["projectId"]).resolve()
        workspace = self.data_dir / "artifacts" / state["tenantId"] / state["projectId"]
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(workspace, target)
        print(render_summary(state, seconds, target))
        return 0

    def _failed(self, project_id: str, state: dict[str, Any]) -> int:
        failed = [g for g in state["graphs"] if g["status"] == "Failed"]
        print(f"\n✘ {project_id} failed in phase {state['phase']}", file=sys.stderr)
        for g in failed:
            for node in (n for n in g["nodes"] if n["status"] == "Failed"):
                error = node.get("error") or {}
                print(f"  flow {g['flowId']}: {node['taskId']} failed: "
                      f"{error.get('message') or error.get('code') or 'no reason recorded'}",
                      file=sys.stderr)
        print(f"  audit trail: {self.host.base_url}/api/projects/{project_id}/audit",
              file=sys.stderr)
        return 1


def _json_log(data_dir: Path) -> Path:
    """Send the app's and host's log records, as JSON lines, to ``<data dir>/podium.log`` so
    the console shows only the progress (``tail -f`` the file to follow every decision)."""
    from podium.observability import configure_logging

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "podium.log"
    configure_logging(os.environ.get("PODIUM_LOG_LEVEL", "INFO"),
                      path.open("a", encoding="utf-8", buffering=1))
    return path


def render_summary(state: dict[str, Any], seconds: float, output: Path) -> str:
    """The delivery summary as text: phases, flows, tasks, retries, services, where it is."""
    summary = (state.get("delivery") or {}).get("summary") or {}
    lines = ["", f"✔ {state['name']} ({state['projectId']}) delivered in {seconds:.1f} s",
             f"  traceId {state['traceId']}", "", "  Phases:"]
    for phase in state["phaseTimeline"]:
        lines.append(f"    {phase['phase']:<17} entered {phase.get('enteredAt') or '-'}")
    lines.append("")
    lines.append(f"  Flows ({len(summary.get('flows', []))}), tasks {summary.get('totalTasks')},"
                 f" retries {summary.get('retries')}:")
    for flow in summary.get("flows", []):
        dur = flow.get("durationMs")
        lines.append(f"    {flow['flowId']:<55} {flow['status']:<10} {flow['tasks']:>3} tasks"
                     f"  {dur / 1000 if dur is not None else 0:>6.1f} s")
    services = sorted(p.name for p in (output / "services").glob("*") if p.is_dir())
    lines += ["", f"  Services: {', '.join(services) or '-'}",
              f"  Generated project: {output}",
              f"  Export: {output / 'delivery' / 'export.zip'}", ""]
    return "\n".join(lines)
