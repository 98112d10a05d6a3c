"""Hypothesis property tests on random DAGs (issue 3, "Must show").

* a Ready (or later) task never has an incomplete required dependency, and no Pending task
  has all its dependencies done (the ready set is exact);
* completing tasks in any valid order finishes the graph;
* replaying the event log reproduces the state;
* the JSON round trip is lossless, at any point of a run;
* ordering, progress counts and blocked tasks match brute-force definitions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium.domain import (
    ExecutionGraph,
    GraphValidationError,
    OrchestrationTask,
    SchedulingLimits,
    TaskStatus,
    TaskTransition,
    select_dispatchable,
)

S = TaskStatus
DONE = (S.COMPLETED, S.SKIPPED)
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def dags(draw: st.DrawFn, max_size: int = 25) -> ExecutionGraph:
    """Random DAG: task i may depend on any earlier task; shuffled declaration order."""
    n = draw(st.integers(min_value=1, max_value=max_size))
    deps = [
        sorted(draw(st.sets(st.integers(min_value=0, max_value=i - 1), max_size=4))) if i else []
        for i in range(n)
    ]
    order = draw(st.permutations(range(n)))
    tasks = [
        OrchestrationTask(
            f"t{i}",
            "Work",
            agent_id=draw(st.sampled_from(["qa-agent", "devops-agent"])),
            depends_on=[f"t{d}" for d in deps[i]],
            optional=draw(st.booleans()),
            priority=draw(st.integers(min_value=-2, max_value=2)),
        )
        for i in order
    ]
    return ExecutionGraph(tasks)


def check_invariants(g: ExecutionGraph) -> None:
    tasks = {t.task_id: t for t in g}
    index = {tid: i for i, tid in enumerate(tasks)}
    for t in tasks.values():
        deps_done = all(tasks[d].status in DONE for d in t.depends_on)
        if t.status is S.PENDING:
            assert not deps_done, f"{t.task_id} is Pending with all dependencies done"
        else:
            assert deps_done, f"{t.task_id} is {t.status} with an incomplete dependency"
    # ordering: priority desc, then declaration order
    expected = sorted(
        (t for t in tasks.values() if t.status is S.READY),
        key=lambda t: (-t.priority, index[t.task_id]),
    )
    assert [t.task_id for t in g.next_executable_tasks()] == [t.task_id for t in expected]
    for k in (1, 2):
        assert g.next_executable_tasks(limit=k) == g.next_executable_tasks()[:k]
    # progress counts
    p = g.progress()
    es = p["executionStatus"]
    for key, status in [("completed", S.COMPLETED), ("inProgress", S.IN_PROGRESS),
                        ("failed", S.FAILED), ("stalled", S.STALLED), ("skipped", S.SKIPPED),
                        ("pending", S.PENDING), ("ready", S.READY)]:  # fmt: skip
        assert es[key] == sum(1 for t in tasks.values() if t.status is status)
    assert es["totalTasks"] == len(tasks)
    assert set(p["activeTasks"]) == {t.task_id for t in tasks.values() if t.status is S.IN_PROGRESS}

    @cache
    def troubled_ancestor(tid: str) -> bool:
        return any(
            tasks[d].status in (S.FAILED, S.STALLED) or troubled_ancestor(d)
            for d in tasks[tid].depends_on
        )

    blocked = [tid for tid, t in tasks.items() if t.status is S.PENDING and troubled_ancestor(tid)]
    assert p["blockedTasks"] == blocked


@PROFILE
@given(graph=dags(), data=st.data())
def test_any_valid_completion_order_finishes(graph: ExecutionGraph, data: st.DataObject) -> None:
    deps = {t.task_id: t.depends_on for t in graph}

    @cache
    def chain(tid: str) -> int:
        return 1 + max((chain(d) for d in deps[tid]), default=0)

    assert graph.depth() == max(chain(tid) for tid in deps)
    order = graph.topological_order()
    position = {tid: i for i, tid in enumerate(order)}
    assert sorted(order) == sorted(deps)
    assert all(position[d] < position[tid] for tid in deps for d in deps[tid])
    completed = 0
    while not graph.is_finished():
        ready = graph.next_executable_tasks()
        assert ready, "graph stuck although nothing failed"
        task = data.draw(st.sampled_from(ready))
        graph.mark_in_progress(task.task_id, at="2025-01-01T00:00:00Z")
        graph.mark_completed(task.task_id, at="2025-01-01T00:00:01Z")
        completed += 1
        check_invariants(graph)
    assert completed == len(graph)
    assert graph.outcome() == "Completed"


@PROFILE
@given(graph=dags(), data=st.data())
def test_random_runs_keep_invariants_replay_and_round_trip(
    graph: ExecutionGraph, data: st.DataObject
) -> None:
    pristine = json.dumps(graph.to_dict())
    # Checking after every step also purges stale ready-heap entries; sometimes check only at
    # the end so bugs that need stale entries (a retry before the next peek) can show.
    lazy_checks = data.draw(st.booleans())
    log: list[TaskTransition] = []
    for step in range(data.draw(st.integers(min_value=0, max_value=60))):
        at = f"2025-01-01T00:{step // 60:02d}:{step % 60:02d}Z"
        if lazy_checks:
            ready = [t for t in graph if t.status is S.READY]
        else:
            ready = graph.next_executable_tasks()
        running = graph.in_progress_tasks()
        troubled = [t for t in graph if t.status in (S.FAILED, S.STALLED)]
        moves = []
        if ready:
            moves.append("dispatch")
        if running:
            moves += ["complete", "fail", "stall"]
        if troubled:
            moves += ["retry", "skip"]
        if not moves:
            break
        move = data.draw(st.sampled_from(moves))
        if move == "dispatch":
            log.append(graph.mark_in_progress(data.draw(st.sampled_from(ready)).task_id, at=at))
        elif move in ("complete", "fail", "stall"):
            tid = data.draw(st.sampled_from(running)).task_id
            if move == "complete":
                log.append(graph.mark_completed(tid, at=at, outputs={"step": step}))
            elif move == "fail":
                log.append(graph.mark_failed(tid, at=at, error={"code": "AgentTimeout"}))
            else:
                log.append(graph.mark_stalled(tid, at=at, reason="no ack"))
        elif move == "retry":
            log.append(graph.mark_retry(data.draw(st.sampled_from(troubled)).task_id, at=at))
        else:
            task = data.draw(st.sampled_from(troubled))
            who = None if task.optional else "user:override"
            log.append(graph.mark_skipped(task.task_id, at=at, override_by=who))
        if not lazy_checks:
            check_invariants(graph)
        # JSON round trip is lossless at every point
        clone = ExecutionGraph.from_dict(json.loads(json.dumps(graph.to_dict())))
        assert clone.to_dict() == graph.to_dict()
        assert clone.progress() == graph.progress()
    check_invariants(graph)
    # replaying the (JSON-stored) log rebuilds exactly this state
    stored = json.loads(json.dumps([t.to_dict() for t in log]))
    replayed = ExecutionGraph.from_dict(json.loads(pristine)).replay(stored)
    assert replayed.to_dict() == graph.to_dict()


@PROFILE
@given(graph=dags(max_size=15), data=st.data())
def test_added_back_edge_is_reported_as_cycle(graph: ExecutionGraph, data: st.DataObject) -> None:
    order = graph.topological_order()
    if len(order) < 2:
        return
    i = data.draw(st.integers(min_value=0, max_value=len(order) - 2))
    j = data.draw(st.integers(min_value=i + 1, max_value=len(order) - 1))
    early, late = order[i], order[j]
    nodes = graph.to_dict()["nodes"]
    # make `late` reachable from `early` (if it is not already) and `early` depend on `late`
    for node in nodes:
        if node["taskId"] == late and early not in node["dependsOn"]:
            node["dependsOn"].append(early)
        if node["taskId"] == early:
            node["dependsOn"].append(late)
        node["status"] = "Pending"
    try:
        ExecutionGraph.from_dict({"nodes": nodes})
    except GraphValidationError as err:
        (problem,) = err.problems
        cycle = problem.removeprefix("cycle: ").split(" -> ")
        deps = {n["taskId"]: set(n["dependsOn"]) for n in nodes}
        assert cycle[0] == cycle[-1] and len(cycle) >= 3
        for prev, nxt in zip(cycle, cycle[1:], strict=False):
            assert prev in deps[nxt], f"{nxt} does not depend on {prev}"
    else:
        raise AssertionError("cycle not detected")


@dataclass
class _Ready:
    name: str
    agent_id: str | None
    priority: int
    is_human: bool


@PROFILE
@given(
    tasks=st.lists(
        st.builds(
            _Ready,
            name=st.text("abcdef", min_size=1, max_size=3),
            agent_id=st.sampled_from(["qa-agent", "devops-agent", "developer-agent"]),
            priority=st.integers(min_value=-2, max_value=2),
            is_human=st.booleans(),
        ),
        max_size=20,
    ),
    caps=st.dictionaries(
        st.sampled_from(["qa-agent", "devops-agent"]), st.integers(min_value=0, max_value=3)
    ),
    in_flight=st.dictionaries(
        st.sampled_from(["qa-agent", "devops-agent", "developer-agent"]),
        st.integers(min_value=0, max_value=3),
    ),
    max_total=st.integers(min_value=1, max_value=8),
    tenant_cap=st.none() | st.integers(min_value=1, max_value=10),
    tenant_in_flight=st.integers(min_value=0, max_value=10),
    strategy=st.sampled_from(["fifo", "priority"]),
)
def test_select_dispatchable_respects_every_cap_and_is_maximal(
    tasks: list[_Ready],
    caps: dict[str, int],
    in_flight: dict[str, int],
    max_total: int,
    tenant_cap: int | None,
    tenant_in_flight: int,
    strategy: str,
) -> None:
    limits = SchedulingLimits(
        max_concurrent_tasks=max_total,
        agent_concurrency_limit=caps,
        tenant_concurrency_limit=tenant_cap,
        strategy=strategy,
    )
    total = sum(in_flight.values())
    chosen = select_dispatchable(tasks, in_flight, total, limits, tenant_in_flight=tenant_in_flight)
    ids = [id(t) for t in chosen]
    assert len(set(ids)) == len(ids)
    assert all(any(t is c for t in tasks) for c in chosen)
    humans = [t for t in tasks if t.is_human]
    assert all(any(h is c for c in chosen) for h in humans), "human tasks are never throttled"
    agents = [c for c in chosen if not c.is_human]
    assert total + len(agents) <= max(max_total, total)
    if tenant_cap is not None:
        assert tenant_in_flight + len(agents) <= max(tenant_cap, tenant_in_flight)
    per_agent = dict(in_flight)
    for c in agents:
        per_agent[c.agent_id] = per_agent.get(c.agent_id, 0) + 1
    for agent, cap in caps.items():
        assert per_agent.get(agent, 0) <= max(cap, in_flight.get(agent, 0))
    # order: priority strategy is sorted by descending priority; fifo keeps the given order
    agent_positions = [next(i for i, t in enumerate(tasks) if t is c) for c in agents]
    if strategy == "fifo":
        assert agent_positions == sorted(agent_positions)
    else:
        assert [c.priority for c in agents] == sorted((c.priority for c in agents), reverse=True)
    # maximal: every agent task left out was blocked by a cap that is now full
    full_total = total + len(agents) >= max_total
    full_tenant = tenant_cap is not None and tenant_in_flight + len(agents) >= tenant_cap
    for t in tasks:
        if t.is_human or any(t is c for c in chosen):
            continue
        agent_full = t.agent_id in caps and per_agent.get(t.agent_id, 0) >= caps[t.agent_id]
        assert full_total or full_tenant or agent_full, f"{t} could have been dispatched"
