"""ExecutionGraph: the DAG of OrchestrationTasks an orchestrator walks.

Design constraints, all from running inside Durable orchestrators:

* Deterministic: ready tasks come out ordered by descending ``priority`` then declaration order,
  so a replay dispatches the same tasks in the same order.
* No clock: every ``mark_*`` takes the timestamp ``at`` from the caller.
* Cheap: a completion touches only the task's dependents (O(out-degree)); the ready set is a
  heap with lazy deletion; status counts are kept incrementally, so ``progress()`` counts are
  O(1) and only the blocked list walks the (usually tiny) failed region.
* Serializable: ``to_dict()`` / ``from_dict()`` round-trip losslessly through plain JSON in the
  seed's shape ``{"nodes": [{"taskId", "type", "dependsOn", ...}]}``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .categories import phase_constraint_violation
from .errors import DomainError, GraphValidationError, IllegalTransitionError, UnknownTaskError
from .phases import LifecyclePhase
from .status import TaskStatus, check_transition
from .task import OrchestrationTask, TaskTransition, Timestamp, format_timestamp

S = TaskStatus
GRAPH_SCHEMA_VERSION = 1


class ExecutionGraph:
    """A validated DAG of tasks plus the indexes needed to walk it cheaply.

    Build one from tasks (``ExecutionGraph(tasks, ...)``), from JSON (``from_dict``) or from a
    flow definition (``podium.domain.flows``). Construction validates and raises
    :class:`GraphValidationError` listing every problem found. The graph owns the task objects
    it is given (it updates their status): do not share them between graphs.
    """

    def __init__(
        self,
        tasks: Iterable[OrchestrationTask],
        *,
        graph_id: str | None = None,
        flow: str | None = None,
        phase: LifecyclePhase | str | None = None,
        parameters: Mapping[str, Any] | None = None,
        check_phases: bool = True,
        at: Timestamp | None = None,
    ) -> None:
        self.graph_id = graph_id
        self.flow = flow
        self.phase = LifecyclePhase.parse(phase) if phase is not None else None
        self.parameters: dict[str, Any] = dict(parameters) if parameters else {}
        self._tasks: dict[str, OrchestrationTask] = {}
        self._index: dict[str, int] = {}
        self._depth: int | None = None
        problems: list[str] = []
        for task in tasks:
            if task.task_id in self._tasks:
                problems.append(f"duplicate taskId {task.task_id!r}")
                continue
            self._index[task.task_id] = len(self._tasks)
            self._tasks[task.task_id] = task
        # Only tasks that have dependents get a list (saves 100k empty lists on big graphs);
        # read it with self._dependents.get(tid, ()).
        self._dependents: dict[str, list[str]] = {}
        for task in self._tasks.values():
            deps = task.depends_on
            if len(deps) > 1 and len(set(deps)) != len(deps):
                twice = sorted({d for d in deps if deps.count(d) > 1})
                problems.append(f"task {task.task_id!r} lists dependency {twice[0]!r} twice")
                continue
            for dep in deps:
                if dep not in self._tasks:
                    problems.append(f"task {task.task_id!r} depends on unknown task {dep!r}")
                elif dep in self._dependents:
                    self._dependents[dep].append(task.task_id)
                else:
                    self._dependents[dep] = [task.task_id]
        if not problems:  # a cycle search needs every dependency to resolve
            self._topo = self._topological_order(problems)
        if check_phases:
            problems.extend(self._phase_problems())
        if problems:
            raise GraphValidationError(problems)
        problems.extend(self._state_problems())
        if problems:
            raise GraphValidationError(problems)
        self._init_indexes(format_timestamp(at))

    # ------------------------------------------------------------------ validation

    def _phase_problems(self) -> list[str]:
        out: list[str] = []
        for task in self._tasks.values():
            phase = task.phase or self.phase
            if phase is None:
                continue
            why = phase_constraint_violation(task.type, phase)
            if why:
                out.append(
                    f"task {task.task_id!r}: type not allowed in phase {phase.value} ({why})"
                )
        return out

    def _topological_order(self, problems: list[str]) -> list[str]:
        """Kahn's algorithm in declaration order; on a cycle, name one cycle precisely."""
        indeg = {tid: len(t.depends_on) for tid, t in self._tasks.items()}
        queue = deque(tid for tid, n in indeg.items() if n == 0)
        order: list[str] = []
        dependents = self._dependents
        while queue:
            tid = queue.popleft()
            order.append(tid)
            for child in dependents.get(tid, ()):
                indeg[child] -= 1
                if indeg[child] == 0:
                    queue.append(child)
        if len(order) < len(self._tasks):
            problems.append("cycle: " + " -> ".join(self._find_cycle(indeg)))
        return order

    def _find_cycle(self, indeg: Mapping[str, int]) -> list[str]:
        # Every node left with indeg > 0 has a dependency also left: follow them until repeat.
        start = next(tid for tid in self._tasks if indeg[tid] > 0)
        path: list[str] = []
        pos: dict[str, int] = {}
        node = start
        while node not in pos:
            pos[node] = len(path)
            path.append(node)
            node = next(d for d in self._tasks[node].depends_on if indeg.get(d, 0) > 0)
        cycle = path[pos[node] :]
        cycle.reverse()  # dependency order reads naturally: a -> b means b depends on a
        return [*cycle, cycle[0]]

    def _state_problems(self) -> list[str]:
        """A non-Pending task must have every dependency Completed or Skipped."""
        out: list[str] = []
        for task in self._tasks.values():
            if task.status is S.PENDING:
                continue
            for dep in task.depends_on:
                dep_status = self._tasks[dep].status
                if not dep_status.satisfies_dependents:
                    out.append(
                        f"task {task.task_id!r} is {task.status.value} but its dependency "
                        f"{dep!r} is {dep_status.value}"
                    )
        return out

    def _init_indexes(self, at: str | None) -> None:
        self._counts: dict[TaskStatus, int] = dict.fromkeys(S, 0)
        self._unmet: dict[str, int] = {}
        # Ready set: a heap with lazy deletion. `_heaped` holds the ids that have an entry in
        # the heap (live or stale), so a task that comes back to Ready (retry) while its stale
        # entry is still there is not pushed twice.
        self._ready_heap: list[tuple[int, int, str]] = []
        self._heaped: set[str] = set()
        self._in_progress: dict[str, None] = {}
        self._troubled: dict[str, None] = {}  # Failed or Stalled
        tasks = self._tasks
        for tid, task in tasks.items():
            unmet = 0
            for dep in task.depends_on:
                if not tasks[dep].status.satisfies_dependents:
                    unmet += 1
            self._unmet[tid] = unmet
            if task.status is S.PENDING and unmet == 0:
                task.status = S.READY
                task.ready_at = at
            self._counts[task.status] += 1
            self._index_status(task)

    def _index_status(self, task: OrchestrationTask) -> None:
        status = task.status
        if status is S.READY:
            if task.task_id not in self._heaped:
                self._heaped.add(task.task_id)
                heapq.heappush(
                    self._ready_heap, (-task.priority, self._index[task.task_id], task.task_id)
                )
        elif status is S.IN_PROGRESS:
            self._in_progress[task.task_id] = None
        elif status is S.FAILED or status is S.STALLED:
            self._troubled[task.task_id] = None

    def _set_status(self, task: OrchestrationTask, target: TaskStatus) -> None:
        old = task.status
        check_transition(task.task_id, old, target)
        if old is S.IN_PROGRESS:
            del self._in_progress[task.task_id]
        elif old is S.FAILED or old is S.STALLED:
            del self._troubled[task.task_id]
        # READY entries leave the heap lazily (skipped when popped/peeked).
        self._counts[old] -= 1
        self._counts[target] += 1
        task.status = target
        self._index_status(task)

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def __iter__(self) -> Iterator[OrchestrationTask]:
        """Tasks in declaration order."""
        return iter(self._tasks.values())

    @property
    def tasks(self) -> list[OrchestrationTask]:
        """All tasks in declaration order."""
        return list(self._tasks.values())

    def task(self, task_id: str) -> OrchestrationTask:
        """The task with this id; :class:`UnknownTaskError` names it when absent."""
        try:
            return self._tasks[task_id]
        except KeyError:
            raise UnknownTaskError(f"unknown task {task_id!r}") from None

    def dependents(self, task_id: str) -> list[str]:
        """Ids of the tasks that depend directly on ``task_id``, in declaration order."""
        self.task(task_id)
        return list(self._dependents.get(task_id, ()))

    def count(self, status: TaskStatus) -> int:
        """Number of tasks in ``status`` (O(1))."""
        return self._counts[status]

    def topological_order(self) -> list[str]:
        """Task ids such that every task comes after its dependencies (stable)."""
        return list(self._topo)

    def next_executable_tasks(self, limit: int | None = None) -> list[OrchestrationTask]:
        """The Ready tasks, highest ``priority`` first, then declaration order.

        With ``limit`` only the first ``limit`` are returned, in O(limit log n).
        """
        heap = self._ready_heap
        tasks = self._tasks
        # Drop stale heads so the heap stays small and peeking is cheap.
        while heap and tasks[heap[0][2]].status is not S.READY:
            self._heaped.discard(heapq.heappop(heap)[2])
        if limit is None:
            live = [entry for entry in heap if tasks[entry[2]].status is S.READY]
            if len(live) < len(heap):
                heapq.heapify(live)
                self._ready_heap = live
                self._heaped = {entry[2] for entry in live}
            return [tasks[e[2]] for e in sorted(live)]
        if limit <= 0:
            return []
        taken: list[tuple[int, int, str]] = []
        out: list[OrchestrationTask] = []
        while heap and len(out) < limit:
            entry = heapq.heappop(heap)
            task = tasks[entry[2]]
            if task.status is S.READY:
                taken.append(entry)
                out.append(task)
            else:
                self._heaped.discard(entry[2])
        for entry in taken:
            heapq.heappush(heap, entry)
        return out

    def in_progress_tasks(self) -> list[OrchestrationTask]:
        """Tasks currently InProgress, in declaration order (the same after a JSON round trip,
        unlike start order)."""
        return [self._tasks[tid] for tid in self._active_ids()]

    def _active_ids(self) -> list[str]:
        return sorted(self._in_progress, key=self._index.__getitem__)

    def in_flight_by_agent(self) -> dict[str, int]:
        """InProgress agent tasks per agent id (human tasks excluded), for scheduling limits."""
        out: dict[str, int] = {}
        for tid in self._in_progress:
            task = self._tasks[tid]
            if task.human is None and task.agent_id:
                out[task.agent_id] = out.get(task.agent_id, 0) + 1
        return out

    def blocked_tasks(self) -> list[str]:
        """Pending tasks held back by a Failed or Stalled ancestor, in declaration order.

        Walks only the region below failed/stalled tasks, not the whole graph.
        """
        seen: set[str] = set()
        queue = deque(self._troubled)
        while queue:
            tid = queue.popleft()
            for child in self._dependents.get(tid, ()):
                if child not in seen and self._tasks[child].status is S.PENDING:
                    seen.add(child)
                    queue.append(child)
        return sorted(seen, key=self._index.__getitem__)

    def is_finished(self) -> bool:
        """True when every task is Completed or Skipped."""
        return self._counts[S.COMPLETED] + self._counts[S.SKIPPED] == len(self._tasks)

    def outcome(self) -> str:
        """``Completed`` (all done, nothing skipped), ``PartiallyCompleted`` (done, some
        Skipped), ``Running`` (something Ready or InProgress) or ``Blocked`` (nothing can move
        until a failed/stalled task is retried or skipped)."""
        if self.is_finished():
            return "PartiallyCompleted" if self._counts[S.SKIPPED] else "Completed"
        if self._counts[S.READY] or self._counts[S.IN_PROGRESS]:
            return "Running"
        return "Blocked"

    def progress(self) -> dict[str, Any]:
        """Progress summary in the seed's shape, with a few extra counters.

        ``activeTasks`` are InProgress task ids and ``blockedTasks`` Pending task ids held back
        by a failure (see :meth:`blocked_tasks`), both in declaration order.
        """
        c = self._counts
        return {
            "executionStatus": {
                "totalTasks": len(self._tasks),
                "completed": c[S.COMPLETED],
                "inProgress": c[S.IN_PROGRESS],
                "failed": c[S.FAILED],
                "stalled": c[S.STALLED],
                "skipped": c[S.SKIPPED],
                "pending": c[S.PENDING],
                "ready": c[S.READY],
            },
            "activeTasks": self._active_ids(),
            "blockedTasks": self.blocked_tasks(),
        }

    def depth(self) -> int:
        """Number of tasks on the longest dependency chain (0 for an empty graph); the
        structure never changes, so it is computed once."""
        if self._depth is not None:
            return self._depth
        level: dict[str, int] = {}
        best = 0
        for tid in self._topo:
            deps = self._tasks[tid].depends_on
            d = 1 + max((level[x] for x in deps), default=0)
            level[tid] = d
            if d > best:
                best = d
        self._depth = best
        return best

    def trace_execution_tree(self, task_id: str, direction: str = "down") -> dict[str, Any]:
        """The subgraph rooted at ``task_id`` in the graph's own JSON node shape.

        ``direction="down"`` follows dependents (what this task unblocks), ``"up"`` follows
        dependencies (why this task is waiting). ``dependsOn`` lists only edges inside the
        subgraph, so Studio can render the result with the same code as a whole graph.
        """
        self.task(task_id)
        if direction not in ("down", "up"):
            raise DomainError(f"direction must be 'down' or 'up', got {direction!r}")
        seen = {task_id}
        queue = deque([task_id])
        while queue:
            tid = queue.popleft()
            nxt = (
                self._dependents.get(tid, ())
                if direction == "down"
                else self._tasks[tid].depends_on
            )
            for other in nxt:
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
        nodes = []
        for tid in sorted(seen, key=self._index.__getitem__):
            task = self._tasks[tid]
            node = {
                "taskId": tid,
                "type": task.type,
                "status": task.status.value,
                "dependsOn": [d for d in task.depends_on if d in seen],
            }
            if task.agent_id:
                node["agentId"] = task.agent_id
            nodes.append(node)
        return {"root": task_id, "direction": direction, "nodes": nodes}

    # ------------------------------------------------------------------ transitions

    def _promote_dependents(self, task_id: str, at: str | None) -> tuple[str, ...]:
        newly: list[str] = []
        unmet = self._unmet
        tasks = self._tasks
        for child in self._dependents.get(task_id, ()):
            unmet[child] -= 1
            if unmet[child] == 0:
                task = tasks[child]
                if task.status is S.PENDING:
                    self._set_status(task, S.READY)
                    task.ready_at = at
                    newly.append(child)
        return tuple(newly)

    def mark_in_progress(
        self, task_id: str, *, at: Timestamp | None = None, agent_id: str | None = None
    ) -> TaskTransition:
        """Ready -> InProgress (dispatched). Counts an attempt; ``agent_id`` records who runs
        it (e.g. the fallback agent)."""
        task = self.task(task_id)
        when = format_timestamp(at)
        self._set_status(task, S.IN_PROGRESS)
        task.attempts += 1
        task.started_at = when
        task.completed_at = None
        data: dict[str, Any] = {}
        if agent_id is not None and agent_id != task.agent_id:
            task.agent_id = agent_id
            data["agentId"] = agent_id
        return TaskTransition(task_id, S.IN_PROGRESS, when, data)

    def mark_completed(
        self,
        task_id: str,
        *,
        at: Timestamp | None = None,
        outputs: Mapping[str, Any] | None = None,
        emitted_events: Sequence[str] = (),
    ) -> TaskTransition:
        """InProgress -> Completed; dependents whose dependencies are all done become Ready
        (listed in the returned transition's ``newly_ready``)."""
        task = self.task(task_id)
        when = format_timestamp(at)
        self._set_status(task, S.COMPLETED)
        task.completed_at = when
        task.error = None
        data: dict[str, Any] = {}
        if outputs is not None:
            task.outputs = dict(outputs)
            data["outputs"] = task.outputs
        if emitted_events:
            task.emitted_events = (*task.emitted_events, *emitted_events)
            data["emittedEvents"] = list(emitted_events)
        newly = self._promote_dependents(task_id, when)
        return TaskTransition(task_id, S.COMPLETED, when, data, newly)

    def mark_failed(
        self,
        task_id: str,
        *,
        at: Timestamp | None = None,
        error: Mapping[str, Any] | str | None = None,
    ) -> TaskTransition:
        """InProgress (or Stalled) -> Failed. Its descendants stay blocked until it is retried
        or skipped. ``error`` is e.g. ``{"code": "AgentTimeout", "message": ...}``."""
        task = self.task(task_id)
        when = format_timestamp(at)
        self._set_status(task, S.FAILED)
        task.completed_at = when
        err = {"message": error} if isinstance(error, str) else (dict(error) if error else None)
        task.error = err
        return TaskTransition(task_id, S.FAILED, when, {"error": err} if err else None)

    def mark_stalled(
        self, task_id: str, *, at: Timestamp | None = None, reason: str | None = None
    ) -> TaskTransition:
        """InProgress -> Stalled (the task or acknowledgement timeout fired)."""
        task = self.task(task_id)
        when = format_timestamp(at)
        self._set_status(task, S.STALLED)
        task.error = {"code": "TaskStalled", "message": reason or "timed out"}
        return TaskTransition(task_id, S.STALLED, when, {"reason": reason} if reason else None)

    def mark_skipped(
        self,
        task_id: str,
        *,
        at: Timestamp | None = None,
        reason: str | None = None,
        override_by: str | None = None,
    ) -> TaskTransition:
        """Failed or Stalled -> Skipped, which lets its dependents proceed.

        An optional task may be skipped by policy. A required task may be skipped only by a
        manual override: pass ``override_by`` (e.g. ``"user:dmitry"``), which is recorded.
        """
        task = self.task(task_id)
        if not task.optional and not override_by:
            raise IllegalTransitionError(
                f"task {task_id!r} is required: skipping it needs a manual override "
                "(override_by=<who>)"
            )
        when = format_timestamp(at)
        self._set_status(task, S.SKIPPED)
        task.completed_at = when
        task.skipped_by = override_by
        data: dict[str, Any] = {}
        if reason:
            data["reason"] = reason
        if override_by:
            data["overrideBy"] = override_by
        newly = self._promote_dependents(task_id, when)
        return TaskTransition(task_id, S.SKIPPED, when, data, newly)

    def mark_retry(
        self, task_id: str, *, at: Timestamp | None = None, agent_id: str | None = None
    ) -> TaskTransition:
        """Failed or Stalled -> Ready again (retry policy or a person decided to re-run it).
        ``agent_id`` switches the task to another agent, e.g. its fallback agent."""
        task = self.task(task_id)
        when = format_timestamp(at)
        self._set_status(task, S.READY)
        task.ready_at = when
        data: dict[str, Any] = {}
        if agent_id is not None and agent_id != task.agent_id:
            task.agent_id = agent_id
            data["agentId"] = agent_id
        return TaskTransition(task_id, S.READY, when, data)

    def apply(self, transition: TaskTransition | Mapping[str, Any]) -> TaskTransition:
        """Apply one event-log entry (as returned by ``mark_*`` or its ``to_dict()``)."""
        t = (
            transition
            if isinstance(transition, TaskTransition)
            else TaskTransition.from_dict(transition)
        )
        d = t.data
        if t.to is S.IN_PROGRESS:
            return self.mark_in_progress(t.task_id, at=t.at, agent_id=d.get("agentId"))
        if t.to is S.COMPLETED:
            return self.mark_completed(
                t.task_id,
                at=t.at,
                outputs=d.get("outputs"),
                emitted_events=d.get("emittedEvents") or (),
            )
        if t.to is S.FAILED:
            return self.mark_failed(t.task_id, at=t.at, error=d.get("error"))
        if t.to is S.STALLED:
            return self.mark_stalled(t.task_id, at=t.at, reason=d.get("reason"))
        if t.to is S.SKIPPED:
            return self.mark_skipped(
                t.task_id, at=t.at, reason=d.get("reason"), override_by=d.get("overrideBy")
            )
        if t.to is S.READY:
            return self.mark_retry(t.task_id, at=t.at, agent_id=d.get("agentId"))
        raise IllegalTransitionError(f"task {t.task_id!r}: cannot apply a transition to Pending")

    # ------------------------------------------------------------------ (de)serialization

    def reset(self, *, at: Timestamp | None = None) -> ExecutionGraph:
        """A fresh copy of this graph's structure with every task back at its initial state
        (run state such as status, attempts, outputs and timestamps dropped)."""
        fresh = [
            OrchestrationTask(
                t.task_id,
                t.type,
                agent_id=t.agent_id,
                depends_on=t.depends_on,
                inputs=t.inputs,
                phase=t.phase,
                retry_policy=t.retry_policy,
                timeout_sec=t.timeout_sec,
                optional=t.optional,
                fallback_agent=t.fallback_agent,
                human=t.human,
                priority=t.priority,
                templates=t.templates,
                trigger_event=t.trigger_event,
                created_at=t.created_at,
                extra=t.extra,
            )
            for t in self._tasks.values()
        ]
        return ExecutionGraph(
            fresh,
            graph_id=self.graph_id,
            flow=self.flow,
            phase=self.phase,
            parameters=self.parameters,
            check_phases=False,
            at=at,
        )

    def replay(
        self, events: Iterable[TaskTransition | Mapping[str, Any]], *, at: Timestamp | None = None
    ) -> ExecutionGraph:
        """Rebuild state from an event log: a fresh copy of this graph with ``events`` applied
        in order. ``at`` is the creation time used for the initially Ready tasks."""
        graph = self.reset(at=at)
        for event in events:
            graph.apply(event)
        return graph

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON-ready dict: ``{"schemaVersion", "graphId", "flow", "phase",
        "parameters", "nodes": [...]}`` (absent metadata left out)."""
        d: dict[str, Any] = {"schemaVersion": GRAPH_SCHEMA_VERSION}
        if self.graph_id is not None:
            d["graphId"] = self.graph_id
        if self.flow is not None:
            d["flow"] = self.flow
        if self.phase is not None:
            d["phase"] = self.phase.value
        if self.parameters:
            d["parameters"] = self.parameters
        d["nodes"] = [task.to_dict() for task in self._tasks.values()]
        return d

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        check_phases: bool = True,
    ) -> ExecutionGraph:
        """Build and validate a graph from its dict, or from a bare list of nodes (the seed's
        examples use both shapes).

        Structure and state are always validated. A runner reloading its own snapshot (e.g.
        after continue-as-new) may pass ``check_phases=False``: phase rules were checked when
        the graph was built, and a later change of the constraint table must not make an
        in-flight orchestration fail on replay.
        """
        if isinstance(data, Sequence) and not isinstance(data, str | bytes):
            data = {"nodes": list(data)}
        if not isinstance(data, Mapping):
            raise DomainError(
                f"graph must be an object or a list of nodes, got {type(data).__name__}"
            )
        nodes = data.get("nodes")
        if not isinstance(nodes, list):
            raise DomainError("graph: 'nodes' is required and must be a list")
        version = data.get("schemaVersion", GRAPH_SCHEMA_VERSION)
        if version != GRAPH_SCHEMA_VERSION:
            raise DomainError(f"graph schemaVersion {version!r} is not supported")
        tasks = [OrchestrationTask.from_dict(node) for node in nodes]
        return cls(
            tasks,
            graph_id=data.get("graphId"),
            flow=data.get("flow"),
            phase=data.get("phase"),
            parameters=data.get("parameters"),
            check_phases=check_phases,
        )

    def __repr__(self) -> str:
        return f"ExecutionGraph(flow={self.flow!r}, tasks={len(self)}, outcome={self.outcome()})"
