"""The generic graph runner: one Durable orchestrator walks any flow's ExecutionGraph.

Input (from the event router): ``{flow, tenantId, projectId, traceId, params, key}``; after a
continue-as-new also ``graph`` (the snapshot) and ``phase``. It dispatches every Ready task up to
the scheduling limits (agent tasks as ``agent_task`` sub-orchestrations, checkpoints as
``human_task``), asks the project coordinator whether each may run in the current phase, reacts
to each completion as it arrives, escalates failed required tasks to a person
(ManualInterventionRequired: Retry / Skip / Abort), and reports the flow's end to the
coordinator, which may advance the lifecycle phase.

History stays bounded: each task runs in its own sub-orchestration, and after
``COMPLETIONS_PER_EXECUTION`` completions the runner stops dispatching, drains what is in
flight and continues as new with the graph snapshot, so a 1,000-task graph costs per task what a
10-task one does.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators import bp
from orchestrators._util import coordinator, envelope, event_data, now_iso
from podium.coordination import flow_run
from podium.coordination.ids import task_instance_id
from podium.domain import ExecutionGraph, SchedulingLimits, select_dispatchable

COMPLETIONS_PER_EXECUTION = 50


@bp.orchestration_trigger(context_name="context", orchestration="flow_runner")
def flow_runner(context: df.DurableOrchestrationContext):
    run: dict[str, Any] = dict(context.get_input() or {})
    coord = coordinator(run["projectId"])
    if "graph" not in run:
        built = yield context.call_activity("build_execution_graph", _build_input(context, run))
        run.update(
            graph=built["graph"],
            phase=built["phase"],
            limits=built.get("limits") or {},
            defaults=built.get("defaults") or {},
        )
        yield context.call_entity(coord, "init", _init_input(context, run))
        started = yield context.call_entity(
            coord,
            "flow_started",
            {
                "instanceId": context.instance_id,
                "flow": run["flow"],
                "phase": run["phase"],
                "key": run.get("key", ""),
                "at": now_iso(context),
            },
        )
        if started.get("advanced") or started.get("error"):
            # The first flow moves a new project out of Initialization (or was refused).
            yield context.call_activity(
                "apply_coordinator_decision",
                {
                    **_identity(context, run),
                    "decision": started,
                    "events": [],
                    "at": now_iso(context),
                },
            )
            if started.get("error"):
                return {"status": "Refused", "reason": started["error"]}
    graph = ExecutionGraph.from_dict(run["graph"], check_phases=False)
    limits = SchedulingLimits.model_validate(run.get("limits") or {})
    pending: dict[str, Any] = {}  # taskId -> Durable task
    escalations: set[str] = set(run.get("escalations", []))
    postponed: set[str] = set()
    completions, abort_reason = 0, None
    recorder = _Recorder(run, len(graph))

    while abort_reason is None:
        draining = completions >= COMPLETIONS_PER_EXECUTION
        if not draining:
            ready = [t for t in graph.next_executable_tasks() if t.task_id not in postponed]
            agents = [t for t in ready if not t.is_human]
            chosen = select_dispatchable(
                agents, graph.in_flight_by_agent(), _agent_in_flight(graph, pending), limits
            ) + [t for t in ready if t.is_human]
            if chosen:
                gate = yield context.call_entity(
                    coord,
                    "check_tasks",
                    {
                        "instanceId": context.instance_id,
                        "flow": run["flow"],
                        "phase": run["phase"],
                        "taskTypes": [t.type for t in chosen],
                        "at": now_iso(context),
                    },
                )
                if gate.get("error"):
                    abort_reason = f"the coordinator refused: {gate['error']}"
                    break
                started: list[dict[str, Any]] = []
                blocked = [d for d in gate["decisions"] if d["kind"] != "allowed"]
                for task, decision in zip(chosen, gate["decisions"], strict=True):
                    if decision["kind"] == "allowed":
                        pending[task.task_id] = _dispatch(context, run, graph, task, started)
                    elif decision["kind"] == "postponed":
                        postponed.add(task.task_id)
                    else:
                        abort_reason = f"task {task.task_id} rejected: {decision.get('reason')}"
                if started or blocked:
                    yield context.call_activity(
                        "record_transitions",
                        recorder.job(context, graph, started, [], blocked),
                    )
                if abort_reason:
                    break
        if not pending:
            if graph.is_finished() or draining:
                break
            if postponed:
                # Woken by the router when the coordinator advances the phase.
                yield context.wait_for_external_event("LifecyclePhaseAdvanced")
                postponed.clear()
                continue
            abort_reason = "the graph is blocked: no task can run"
            break
        done = yield context.task_any(list(pending.values()))
        task_id = next(tid for tid, t in pending.items() if t is done)
        del pending[task_id]
        step = _apply(graph, task_id, event_data(done.result), escalations, now_iso(context))
        completions += 1
        yield context.call_activity(
            "record_transitions",
            recorder.job(
                context, graph, step.transitions, _task_events(context, run, graph, task_id, step)
            ),
        )
        context.set_custom_status(_status(run, graph))
        if step.escalate:
            escalations.add(task_id)
            pending[task_id] = _escalate(context, run, graph, task_id, step.escalate)
        abort_reason = step.abort_reason

    if abort_reason is None and not graph.is_finished():
        if recorder.pending:  # the snapshot must hold everything before the new execution
            yield context.call_activity(
                "record_transitions", recorder.job(context, graph, [], [], force=True)
            )
        run.update(graph=graph.to_dict(), escalations=sorted(escalations))
        context.continue_as_new(run)
        return {"continuedAsNew": True}
    return (yield from _finish(context, run, graph, abort_reason))


def _finish(context, run: dict[str, Any], graph: ExecutionGraph, abort_reason: str | None):
    """Report the end of the flow: events, coordinator decision, phase advance, delivery."""
    status = "Failed" if abort_reason else "Completed"
    result = yield context.call_activity(
        "complete_flow",
        {
            **_identity(context, run),
            "status": status,
            "reason": abort_reason,
            "outcome": graph.outcome(),
            "graph": graph.to_dict(),
            "at": now_iso(context),
        },
    )
    decision = yield context.call_entity(
        coordinator(run["projectId"]),
        "flow_finished",
        {
            "instanceId": context.instance_id,
            "flow": run["flow"],
            "status": status,
            "artifacts": result.get("artifacts", []),
            "expect": result.get("expect"),
            "manual": bool(run.get("manualBy")),
            "at": now_iso(context),
        },
    )
    if decision.get("failed"):
        # Children waiting for this project can never be cascaded now: tell their
        # coordinators (status BlockedByUpstream), so Studio shows why they do not start.
        for child in decision.get("children") or []:
            context.signal_entity(
                coordinator(child),
                "upstream_failed",
                {"upstreamId": run["projectId"], "at": now_iso(context)},
            )
    yield context.call_activity(
        "apply_coordinator_decision",
        {
            **_identity(context, run),
            "decision": decision,
            "events": result.get("events", []),
            "at": now_iso(context),
        },
    )
    context.set_custom_status(_status(run, graph, status))
    return {
        "status": status,
        "reason": abort_reason,
        "progress": graph.progress(),
        "decision": decision,
    }


def _apply(
    graph: ExecutionGraph, task_id: str, outcome: dict[str, Any], escalations: set[str], at: str
) -> flow_run.Step:
    if task_id in escalations:
        escalations.discard(task_id)
        return flow_run.apply_escalation_answer(graph, task_id, outcome, at)
    if graph.task(task_id).is_human:
        return flow_run.apply_human_outcome(graph, task_id, outcome, at)
    return flow_run.apply_agent_outcome(graph, task_id, outcome, at)


def _dispatch(
    context, run: dict[str, Any], graph: ExecutionGraph, task, started: list[dict[str, Any]]
) -> Any:
    started.append(graph.mark_in_progress(task.task_id, at=now_iso(context)).to_dict())
    instance = task_instance_id(context.instance_id, f"{task.task_id}#{task.attempts}")
    base = {
        **_identity(context, run),
        "phase": run["phase"],
        "taskInstanceId": instance,
        "task": task.to_dict(),
        "defaults": run.get("defaults", {}),
        "upstream": {d: graph.task(d).outputs or {} for d in task.depends_on},
    }
    name = "human_task" if task.is_human else "agent_task"
    return context.call_sub_orchestrator(name, base, instance)


def _escalate(
    context, run: dict[str, Any], graph: ExecutionGraph, task_id: str, spec: dict[str, Any]
) -> Any:
    task = graph.task(task_id)
    instance = task_instance_id(context.instance_id, f"{task_id}#{task.attempts}:escalation")
    payload = {
        **_identity(context, run),
        "phase": run["phase"],
        "taskInstanceId": instance,
        "task": {"taskId": task_id, "type": task.type, "human": spec},
        "defaults": run.get("defaults", {}),
    }
    return context.call_sub_orchestrator("human_task", payload, instance)


def _agent_in_flight(graph: ExecutionGraph, pending: dict[str, Any]) -> int:
    return sum(1 for tid in pending if not graph.task(tid).is_human)


def _identity(context, run: dict[str, Any]) -> dict[str, Any]:
    return {
        "flow": run["flow"],
        "flowInstanceId": context.instance_id,
        "tenantId": run["tenantId"],
        "projectId": run["projectId"],
        "traceId": run["traceId"],
        "key": run.get("key", ""),
    }


def _build_input(context, run: dict[str, Any]) -> dict[str, Any]:
    return {
        **_identity(context, run),
        "params": run.get("params") or {},
        "templates": run.get("templates") or [],
        "at": now_iso(context),
    }


def _init_input(context, run: dict[str, Any]) -> dict[str, Any]:
    return {
        "projectId": run["projectId"],
        "tenantId": run["tenantId"],
        "traceId": run["traceId"],
        "name": run.get("projectName", run["projectId"]),
        "at": now_iso(context),
    }


class _Recorder:
    """Builds ``record_transitions`` inputs and decides when the stored snapshot is rewritten.

    Every transition is audited at once, but the graph snapshot (O(graph) to rewrite) is only
    checkpointed every ``max(1, size // 100)`` transitions, so recording costs O(1) per task
    amortized whatever the graph's size; small graphs are checkpointed at every transition.
    Transitions carry a sequence number (kept in the run input across continue-as-new) so a
    retried activity applies each one exactly once. Replay-safe: all of it is derived from
    the orchestration's own state.
    """

    def __init__(self, run: dict[str, Any], size: int) -> None:
        self.run = run
        self.every = max(1, size // 100)
        self.pending: list[dict[str, Any]] = []

    def job(
        self,
        context,
        graph: ExecutionGraph,
        transitions: list[dict[str, Any]],
        events: list[dict[str, Any]],
        blocked: list[dict[str, Any]] | None = None,
        *,
        force: bool = False,
    ) -> dict[str, Any]:
        for transition in transitions:
            self.run["seq"] = self.run.get("seq", 0) + 1
            transition["seq"] = self.run["seq"]
        self.pending.extend(transitions)
        checkpoint = None
        if self.pending and (force or len(self.pending) >= self.every):
            checkpoint, self.pending = self.pending, []
        touched = {t["taskId"] for t in transitions}
        return {
            **_identity(context, self.run),
            "phase": self.run.get("phase"),
            "transitions": transitions,
            "tasks": {tid: graph.task(tid).to_dict() for tid in sorted(touched)},
            "checkpoint": checkpoint,
            "events": events,
            "blocked": blocked or [],
            "progress": graph.progress(),
            "at": now_iso(context),
        }


def _task_events(context, run, graph: ExecutionGraph, task_id: str, step) -> list[dict]:
    task = graph.task(task_id)
    if step.escalate:
        return [
            envelope(
                context,
                run,
                "ManualInterventionRequired",
                {
                    "reason": step.escalate["description"] or "task failed",
                    "taskId": task_id,
                    "flow": run["flow"],
                    "instanceId": context.instance_id,
                    "options": step.escalate["options"],
                },
                task_id,
                task.attempts,
            )
        ]
    return []


def _status(run: dict[str, Any], graph: ExecutionGraph, state: str = "Running") -> dict[str, Any]:
    return {
        "flow": run["flow"],
        "key": run.get("key", ""),
        "phase": run.get("phase"),
        "state": state,
        "outcome": graph.outcome(),
        **graph.progress(),
    }
