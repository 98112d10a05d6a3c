"""Activities of the flow runner: build and persist the graph, record transitions, finish a
flow, carry out the coordinator's decisions (phase advance, fan-out, cascade, delivery)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from activities import bp
from activities._runtime import adapters, audit, job_event, log, metrics, publish
from podium.adapters.ports import ConcurrencyError
from podium.coordination.ids import stable_uuid
from podium.domain import ExecutionGraph, OrchestrationTask, TaskStatus
from podium.domain.flows import default_catalog
from podium.observability import record_orchestration_episode, traced
from podium.runtime.project_view import duration_ms

METRICS_DEDUPE_TTL_SEC = 7 * 24 * 3600


def _settings_defaults() -> dict[str, Any]:
    """Tenant-wide scheduling settings (read here, never in orchestrator code)."""
    settings = adapters().settings
    out: dict[str, Any] = {"agentLimit": settings.agent_concurrency_limit}
    if settings.ack_timeout_sec:
        out["ackTimeoutSec"] = settings.ack_timeout_sec
    if settings.task_timeout_sec:
        out["timeoutSec"] = settings.task_timeout_sec
    return out


@bp.activity_trigger(input_name="job", activity="build_execution_graph")
@traced("activity build_execution_graph")
def build_execution_graph(job: dict[str, Any]) -> dict[str, Any]:
    """Build the flow's ExecutionGraph for its parameters and persist the first snapshot.
    Idempotent: a retry returns the snapshot already stored."""
    store = adapters().graphs
    flow = default_catalog().flow(job["flow"])
    existing = store.get_snapshot(job["tenantId"], job["projectId"], job["flowInstanceId"])
    if existing is not None:
        graph_dict = existing[0]["graph"]
    else:
        graph = flow.build_graph(
            job.get("params") or {},
            project_id=job["projectId"],
            tenant_id=job["tenantId"],
            graph_id=job["flowInstanceId"],
            at=job["at"],
        )
        _override_templates(graph, job.get("templates") or [])
        graph_dict = graph.to_dict()
        snapshot = _snapshot(job, graph, flow.phase.value, "Running")
        try:
            store.save_snapshot(job["tenantId"], job["projectId"], job["flowInstanceId"], snapshot)
        except ConcurrencyError:
            graph_dict = store.get_snapshot(
                job["tenantId"], job["projectId"], job["flowInstanceId"]
            )[0]["graph"]
        ids = {**job, "phase": flow.phase.value}
        publish(
            _event(
                job,
                "ExecutionGraphBuilt",
                {
                    "flow": job["flow"],
                    "instanceId": job["flowInstanceId"],
                    "totalTasks": len(graph),
                    "depth": graph.depth(),
                },
            )
        )
        audit(
            ids,
            "ExecutionGraphBuilt",
            f"built {job['flow']} with {len(graph)} tasks",
            at=job["at"],
            tasks=len(graph),
        )
        metrics().orchestration_started(job["flow"], tenant_id=job["tenantId"])
    defaults = {**_settings_defaults()}
    if flow.defaults.retry_policy:
        defaults["retryPolicy"] = flow.defaults.retry_policy.model_dump(by_alias=True, mode="json")
    limits = {"maxConcurrentTasks": adapters().settings.max_concurrent_tasks}
    return {"graph": graph_dict, "phase": flow.phase.value, "limits": limits, "defaults": defaults}


def _override_templates(graph: ExecutionGraph, templates: list[str]) -> None:
    """Studio's "Apply Template": the template-application tasks use the chosen templates."""
    if not templates:
        return
    for task in graph:
        if task.type.startswith("Apply") and task.type.endswith("Template"):
            task.templates = tuple(templates)


@bp.activity_trigger(input_name="job", activity="record_transitions")
@traced("activity record_transitions")
def record_transitions(job: dict[str, Any]) -> dict[str, Any]:
    """Audit each of the runner's transitions, publish the events that go with them, count
    the seed's metrics, and, when the runner asks (``checkpoint``), apply the accumulated
    transitions to the stored snapshot (ETag-guarded read-modify-write). Idempotent: the
    snapshot keeps the last applied sequence number, audit rows have deterministic ids, and
    metrics are counted once per transition sequence number."""
    applied = _checkpoint(job) if job.get("checkpoint") else 0
    a = adapters()
    for transition in job["transitions"]:
        task = OrchestrationTask.from_dict(job["tasks"][transition["taskId"]])
        audit(
            job,
            f"Task{transition['to']}",
            f"{task.type} → {transition['to']}",
            at=transition.get("at") or job["at"],
            key=transition.get("seq", _tkey(transition)),
            taskId=task.task_id,
            agentId=task.agent_id,
            attempts=task.attempts,
            **{k: v for k, v in transition.items() if k in ("error", "reason", "overrideBy")},
        )
        first_time = a.processed_events.remember(
            job["tenantId"],
            job["projectId"],
            f"metrics:{job['flowInstanceId']}:{transition.get('seq', _tkey(transition))}",
            METRICS_DEDUPE_TTL_SEC,
        )
        if first_time:  # an activity retry must not count twice
            _task_metrics(job, task, transition)
    for blocked in job.get("blocked", []):
        metrics().phase_blocked(job.get("phase") or "", task_type=blocked.get("taskType"))
        audit(
            job,
            f"Task{blocked['kind'].capitalize()}",
            f"{blocked.get('taskType')} {blocked['kind']}: {blocked.get('reason')}",
            at=job["at"],
            key=(blocked.get("taskType"), blocked["kind"]),
            untilPhase=blocked.get("untilPhase"),
        )
    for event in job.get("events", []):
        publish(event)
    last = max((t.get("seq", 0) for t in job["transitions"]), default=0)
    record_orchestration_episode(
        trace_id=job["traceId"],
        orchestrator="flow_runner",
        instance_id=job["flowInstanceId"],
        episode=last,
        started_at=_parse_ts(job["at"]),
        ended_at=datetime.now(UTC),
        status="Running",
        attributes={"podium.flow": job["flow"], "podium.transitions": len(job["transitions"])},
    )
    return {"recorded": len(job["transitions"]), "checkpointed": applied}


def _checkpoint(job: dict[str, Any]) -> int:
    """Apply ``job["checkpoint"]`` transitions newer than the snapshot's sequence number."""
    store = adapters().graphs
    for _ in range(10):
        found = store.get_snapshot(job["tenantId"], job["projectId"], job["flowInstanceId"])
        if found is None:
            raise LookupError(f"no graph snapshot for {job['flowInstanceId']}")
        snapshot, etag = found
        last = int(snapshot.get("seq", 0))
        new = [t for t in job["checkpoint"] if t.get("seq", 0) > last]
        if not new:
            return 0
        graph = ExecutionGraph.from_dict(snapshot["graph"], check_phases=False)
        for transition in new:
            graph.apply({k: v for k, v in transition.items() if k != "seq"})
        snapshot.update(
            graph=graph.to_dict(),
            progress=job["progress"],
            updatedAt=job["at"],
            seq=max(t.get("seq", 0) for t in new),
        )
        snapshot.pop("applied", None)
        try:
            store.save_snapshot(
                job["tenantId"], job["projectId"], job["flowInstanceId"], snapshot, etag=etag
            )
            return len(new)
        except ConcurrencyError:
            continue
    raise ConcurrencyError(f"snapshot of {job['flowInstanceId']} kept changing; will retry")


def _parse_ts(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


def _task_metrics(job: dict[str, Any], task, transition: dict[str, Any]) -> None:
    """The seed's agent, template and QA metrics, from the transitions of the graph."""
    m = metrics()
    key = f"{job['flowInstanceId']}:{task.task_id}"
    to = transition["to"]
    if task.human is not None:
        return
    if to == TaskStatus.IN_PROGRESS.value and task.agent_id:
        m.agent_task_triggered(task.agent_id, task.type)
        m.agent_task_started(key)
    elif to in (TaskStatus.COMPLETED.value, TaskStatus.FAILED.value) and task.agent_id:
        latency = duration_ms(task.started_at, task.completed_at) or 0.0
        ok = to == TaskStatus.COMPLETED.value
        m.agent_task_completed(task.agent_id, task.type, latency, ok, task_key=key)
        if ok:
            for template in task.templates:
                m.template_applied(template, orchestrator=job["flow"])
            _qa_metrics(task)
    elif to == TaskStatus.STALLED.value:
        m.stalled_task_detected(task.agent_id or "human", task.type)


def _qa_metrics(task) -> None:
    outputs = task.outputs or {}
    runs = outputs.get("services") if task.type == "RunUnitTests" else [outputs]
    for run in runs or []:
        if isinstance(run, dict) and "passed" in run:
            metrics().qa_run(
                bool(run.get("passedAll", run.get("failed", 1) == 0)),
                duration_ms=run.get("durationMs"),
                coverage_pct=run.get("coverage"),
                service=run.get("serviceName"),
            )


@bp.activity_trigger(input_name="job", activity="complete_flow")
@traced("activity complete_flow")
def complete_flow(job: dict[str, Any]) -> dict[str, Any]:
    """Persist the final snapshot, publish the flow's outcome events and work out what the
    coordinator must expect next (the microservice fan-out after planning)."""
    graph = ExecutionGraph.from_dict(job["graph"], check_phases=False)
    store = adapters().graphs
    found = store.get_snapshot(job["tenantId"], job["projectId"], job["flowInstanceId"])
    snapshot = found[0] if found else {}
    snapshot.update(
        graph=job["graph"],
        progress=graph.progress(),
        status=job["status"],
        outcome=job["outcome"],
        reason=job.get("reason"),
        updatedAt=job["at"],
    )
    store.save_snapshot(
        job["tenantId"],
        job["projectId"],
        job["flowInstanceId"],
        snapshot,
        etag=found[1] if found else None,
    )
    events: list[dict[str, Any]] = []
    expect = None
    if job["status"] == "Failed":
        publish(
            _event(
                job,
                "OrchestrationFailed",
                {
                    "flow": job["flow"],
                    "reason": job.get("reason") or "failed",
                    "instanceId": job["flowInstanceId"],
                    "failedTasks": [t.task_id for t in graph if t.status is TaskStatus.FAILED],
                },
            )
        )
    else:
        skipped = [t.task_id for t in graph if t.status is TaskStatus.SKIPPED]
        if skipped:
            publish(
                _event(
                    job,
                    "PartialOrchestrationCompleted",
                    {
                        "flow": job["flow"],
                        "skippedTasks": skipped,
                        "instanceId": job["flowInstanceId"],
                    },
                )
            )
        publish(
            _event(
                job,
                "OrchestrationCompleted",
                {
                    "flow": job["flow"],
                    "instanceId": job["flowInstanceId"],
                    "instanceKey": job.get("key") or None,
                    "outcome": job["outcome"],
                },
            )
        )
        events, expect = _fan_out(job, graph)
        events += _flow_result_events(job, graph)
    audit(
        job,
        f"Flow{job['status']}",
        f"{job['flow']} {job['status'].lower()}"
        + (f": {job['reason']}" if job.get("reason") else ""),
        at=job["at"],
        outcome=job["outcome"],
    )
    metrics().orchestration_finished(job["flow"], status=job["status"])
    artifacts = sorted(
        {a for t in graph for a in (t.outputs or {}).get("artifacts", []) if isinstance(a, str)}
    )
    return {"events": events, "expect": expect, "artifacts": artifacts}


def _fan_out(job: dict[str, Any], graph: ExecutionGraph):
    """Tasks that declare ``emits: [MicroservicePlanned]`` fan out one assembly per service."""
    services: list[dict[str, Any]] = []
    for task in graph:
        if "MicroservicePlanned" in (task.extra.get("emits") or []) and task.outputs:
            for svc in task.outputs.get("services", []):
                services.append(svc if isinstance(svc, dict) else {"name": str(svc)})
    if not services:
        return [], None
    for svc in services:
        svc.setdefault("microserviceId", f"svc-{svc['name']}")
    planned = default_catalog().plan_microservice_flows(services, project_id=job["projectId"])
    events = []
    for svc in services:
        events.append(
            _event(
                job,
                "MicroservicePlanned",
                {
                    "microserviceId": svc["microserviceId"],
                    "name": svc["name"],
                    "entityModel": svc.get("entityModel"),
                    "requiresAuth": bool(svc.get("requiresAuth")),
                    "exposedPublicly": bool(svc.get("exposedPublicly")),
                    "technologyStack": svc.get("technologyStack"),
                    "agentId": "planner-agent",
                },
                microservice_id=svc["microserviceId"],
            )
        )
    expect = {"phase": "Assembly", "flows": [f"{p.flow}:{p.instance_key}" for p in planned]}
    return events, expect


def _flow_result_events(job: dict[str, Any], graph: ExecutionGraph) -> list[dict[str, Any]]:
    """The seed's per-flow result events (MicroserviceAssemblyCompleted, ...)."""
    if job["flow"] == "microservice-assembly":
        params = graph.parameters if hasattr(graph, "parameters") else {}
        sid = (params or {}).get("microserviceId") or job.get("key") or "unknown"
        files = sorted(
            {f for t in graph for f in (t.outputs or {}).get("artifacts", []) if isinstance(f, str)}
        )[:50]
        return [
            _event(
                job,
                "MicroserviceAssemblyCompleted",
                {"microserviceId": sid, "status": "Validated", "generatedArtifacts": files},
                microservice_id=sid,
            )
        ]
    return []


@bp.activity_trigger(input_name="job", activity="apply_coordinator_decision")
@traced("activity apply_coordinator_decision")
def apply_coordinator_decision(job: dict[str, Any]) -> dict[str, Any]:
    """Publish what the coordinator decided: LifecyclePhaseAdvanced (waking postponed flows;
    the router starts the next phase's flows), the fan-out events, cascades to child projects,
    and the delivery when the project is complete."""
    decision = job.get("decision") or {}
    if decision.get("error"):
        log.error(
            "coordinator refused flow end of %s: %s", job["flowInstanceId"], decision["error"]
        )
        audit(job, "CoordinatorRefused", decision["error"], at=job["at"])
        return {"published": 0}
    published = 0
    advanced = decision.get("advanced")
    if advanced:
        publish(
            _event(
                job,
                "LifecyclePhaseAdvanced",
                {
                    "from": advanced["from"],
                    "to": advanced["to"],
                    "triggeredBy": advanced.get("triggeredBy"),
                    "wakeInstances": decision.get("wake", []),
                },
            )
        )
        audit(
            job,
            "PhaseAdvanced",
            f"{advanced['from']} → {advanced['to']}",
            phase=advanced["to"],
            at=job["at"],
            triggeredBy=advanced.get("triggeredBy"),
            # a manual override records what it bypassed (lifecycle.yaml: overrideRoles)
            **({"bypassed": decision["bypassed"]} if decision.get("bypassed") is not None else {}),
        )
        metrics().project_phase_changed(advanced["from"], advanced["to"])
        published += 1
        cascade = decision.get("cascade", decision.get("children"))
        if cascade:
            publish(
                _event(
                    job,
                    "OrchestrationCascadeTriggered",
                    {
                        "parentProjectId": job["projectId"],
                        "triggeredChildren": cascade,
                        "phase": advanced["to"],
                    },
                )
            )
            published += 1
    for event in job.get("events", []):
        publish(event)
        published += 1
    if decision.get("failed") and decision.get("children"):
        audit(
            job,
            "UpstreamFailed",
            "children blocked by upstream failure",
            at=job["at"],
            children=decision["children"],
        )
        for child in decision["children"]:  # and in each child's own trail
            record = adapters().projects.get(job["tenantId"], child) or {}
            audit(
                {**job, "projectId": child, "traceId": record.get("traceId") or job["traceId"]},
                "BlockedByUpstream",
                f"upstream {job['projectId']} failed ({job['flow']}); not started",
                at=job["at"],
                upstream=job["projectId"],
            )
    if decision.get("delivered"):
        from activities.delivery import deliver

        deliver(job, decision)
        published += 1
    return {"published": published}


def _snapshot(job: dict[str, Any], graph: ExecutionGraph, phase: str, status: str) -> dict:
    return {
        "flow": job["flow"],
        "instanceId": job["flowInstanceId"],
        "key": job.get("key", ""),
        "tenantId": job["tenantId"],
        "projectId": job["projectId"],
        "phase": phase,
        "traceId": job["traceId"],
        "status": status,
        "graph": graph.to_dict(),
        "progress": graph.progress(),
        "createdAt": job["at"],
        "updatedAt": job["at"],
        "seq": 0,
    }


def _event(
    job: dict[str, Any],
    event_type: str,
    payload: dict[str, Any],
    *,
    microservice_id: str | None = None,
) -> dict[str, Any]:
    # Same flow instance + type + key = same eventId (and MessageId, which the broker
    # de-duplicates): a cascade is keyed by its phase, because the bootstrap flow advances the
    # project twice (Initialization -> Planning, Planning -> Assembly) and cascades each time.
    key = payload.get("microserviceId") or payload.get("to") or payload.get("phase") or ""
    return job_event(
        job,
        event_type,
        payload,
        microservice_id=microservice_id,
        event_id=stable_uuid(job["flowInstanceId"], event_type, key),
    )


def _tkey(transition: dict[str, Any]) -> str:
    return f"{transition['taskId']}|{transition['to']}|{transition.get('at', '')}"
