"""ExecutionGraph: validation, readiness propagation, ordering, progress, JSON, replay."""

from __future__ import annotations

import json
from typing import Any

import pytest

from podium.domain import (
    DomainError,
    ExecutionGraph,
    GraphValidationError,
    IllegalTransitionError,
    LifecyclePhase,
    OrchestrationTask,
    TaskStatus,
    UnknownTaskError,
)
from tests.domain.conftest import T0, make_graph, run

S = TaskStatus

SEED_SAMPLE = {
    "nodes": [
        {"taskId": "t1", "type": "GenerateMicroservicePlan", "dependsOn": []},
        {"taskId": "t2", "type": "ApplyTemplate", "dependsOn": ["t1"]},
        {"taskId": "t3", "type": "RunTestPlan", "dependsOn": ["t2"]},
    ]
}


def ids(tasks: list[OrchestrationTask]) -> list[str]:
    return [t.task_id for t in tasks]


# ----------------------------------------------------------------------------- validation


def test_seed_sample_shape_loads_and_first_task_is_ready() -> None:
    g = ExecutionGraph.from_dict(SEED_SAMPLE)
    assert ids(g.next_executable_tasks()) == ["t1"]
    assert g.task("t2").status is S.PENDING
    assert g.depth() == 3


def test_bare_node_list_is_accepted() -> None:
    g = ExecutionGraph.from_dict(SEED_SAMPLE["nodes"])
    assert len(g) == 3


def test_duplicate_ids_are_named() -> None:
    with pytest.raises(GraphValidationError, match="duplicate taskId 'a'"):
        ExecutionGraph([OrchestrationTask("a", "X"), OrchestrationTask("a", "Y")])


def test_unknown_dependency_is_named() -> None:
    with pytest.raises(GraphValidationError) as err:
        make_graph({"a": [], "b": ["a", "ghost"]})
    assert err.value.problems == ["task 'b' depends on unknown task 'ghost'"]


def test_cycle_is_named_in_order() -> None:
    with pytest.raises(GraphValidationError) as err:
        make_graph({"x": [], "a": ["c"], "b": ["a"], "c": ["b"]})
    (problem,) = err.value.problems
    assert problem.startswith("cycle: ")
    cycle = problem.removeprefix("cycle: ").split(" -> ")
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    # each step is a real edge: the next task depends on the previous one
    graph_deps = {"a": ["c"], "b": ["a"], "c": ["b"]}
    for prev, nxt in zip(cycle, cycle[1:], strict=False):
        assert prev in graph_deps[nxt]


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(GraphValidationError, match="cycle: a -> a"):
        make_graph({"a": ["a"]})


def test_repeated_dependency_is_reported() -> None:
    with pytest.raises(GraphValidationError, match="lists dependency 'a' twice"):
        make_graph({"a": [], "b": ["a", "a"]})


def test_task_type_not_allowed_in_phase() -> None:
    tasks = [OrchestrationTask("t", "ApplyMicroserviceTemplate", agent_id="developer-agent")]
    with pytest.raises(GraphValidationError, match="'t': type not allowed in phase Planning"):
        ExecutionGraph(tasks, phase="PlanningPhase")
    # the same task in Assembly is fine; a task-level phase overrides the graph's
    ExecutionGraph(
        [OrchestrationTask("t", "ApplyMicroserviceTemplate", agent_id="developer-agent")],
        phase="Assembly",
    )
    with pytest.raises(GraphValidationError, match="Deployment"):
        ExecutionGraph(
            [OrchestrationTask("p", "PlanMicroservices", phase=LifecyclePhase.DEPLOYMENT)],
            phase="Planning",
        )


def test_all_problems_reported_together() -> None:
    with pytest.raises(GraphValidationError) as err:
        ExecutionGraph.from_dict(
            {
                "phase": "Planning",
                "nodes": [
                    {"taskId": "a", "type": "ApplyTemplateX"},
                    {"taskId": "a", "type": "X"},
                    {"taskId": "b", "type": "X", "dependsOn": ["zz"]},
                ],
            }
        )
    assert len(err.value.problems) == 3


def test_inconsistent_state_is_rejected() -> None:
    data = {
        "nodes": [
            {"taskId": "a", "type": "X", "status": "Failed"},
            {"taskId": "b", "type": "X", "dependsOn": ["a"], "status": "Ready"},
        ]
    }
    with pytest.raises(GraphValidationError, match="'b' is Ready but its dependency 'a' is Failed"):
        ExecutionGraph.from_dict(data)


@pytest.mark.parametrize(
    "node,message",
    [
        ({"type": "X"}, "taskId is required"),
        ({"taskId": "a"}, "type is required"),
        ({"taskId": "a", "type": "X", "dependsOn": "b"}, "dependsOn must be a list"),
        ({"taskId": "a", "type": "X", "status": "Done"}, "unknown status 'Done'"),
        ({"taskId": "a", "type": "X", "phase": "Lunch"}, "unknown lifecycle phase 'Lunch'"),
        ({"taskId": "a", "type": "X", "timeoutSec": 0}, "timeoutSec must be > 0"),
        (
            {"taskId": "a", "type": "X", "retryPolicy": {"maxAttempts": 0}},
            "retryPolicy.maxAttempts",
        ),
        ({"taskId": "a", "type": "X", "human": {"title": ""}}, "human.title"),
        ({"taskId": "a", "type": "X", "inputs": [1, 2]}, "inputs must be an object, got list"),
        ({"taskId": "a", "type": "X", "templates": "t"}, "templates must be a list, got str"),
        ({"taskId": "a", "type": "X", "priority": "high"}, "'a': invalid literal"),
        ({"taskId": "a", "type": "X", "attempts": -1}, "attempts must be >= 0"),
        ("not a node", "task must be an object"),
    ],
)
def test_bad_nodes_give_readable_errors(node: Any, message: str) -> None:
    with pytest.raises(DomainError, match=message):
        ExecutionGraph.from_dict({"nodes": [node]})


def test_from_dict_rejects_non_graphs() -> None:
    with pytest.raises(DomainError, match="'nodes' is required"):
        ExecutionGraph.from_dict({"tasks": []})
    with pytest.raises(DomainError, match="schemaVersion"):
        ExecutionGraph.from_dict({"schemaVersion": 99, "nodes": []})


# ----------------------------------------------------------------------------- walking


def test_diamond_walk(diamond: ExecutionGraph) -> None:
    assert ids(diamond.next_executable_tasks()) == ["T1"]
    diamond.mark_in_progress("T1", at=T0)
    assert diamond.next_executable_tasks() == []
    t = diamond.mark_completed("T1", at=T0)
    assert t.newly_ready == ("T2", "T3")
    run(diamond, "T2")
    assert diamond.task("T4").status is S.PENDING  # T3 not done yet
    run(diamond, "T3")
    assert ids(diamond.next_executable_tasks()) == ["T4"]
    run(diamond, "T4")
    assert diamond.is_finished() and diamond.outcome() == "Completed"


def test_priority_then_declaration_order() -> None:
    g = make_graph(
        {"a": [], "b": [], "c": [], "d": []},
        c={"priority": 5},
        d={"priority": 5},
        b={"priority": -1},
    )
    assert ids(g.next_executable_tasks()) == ["c", "d", "a", "b"]
    assert ids(g.next_executable_tasks(limit=3)) == ["c", "d", "a"]
    assert ids(g.next_executable_tasks(limit=0)) == []
    g.mark_in_progress("c", at=T0)
    assert ids(g.next_executable_tasks(limit=1)) == ["d"]
    # peeking does not consume
    assert ids(g.next_executable_tasks()) == ["d", "a", "b"]


def test_failed_required_dependency_blocks_descendants(diamond: ExecutionGraph) -> None:
    run(diamond, "T1")
    diamond.mark_in_progress("T2", at=T0)
    diamond.mark_failed("T2", at=T0, error={"code": "AgentTimeout"})
    run(diamond, "T3")
    assert diamond.task("T4").status is S.PENDING
    assert diamond.next_executable_tasks() == []
    assert diamond.outcome() == "Blocked"
    p = diamond.progress()
    assert p["blockedTasks"] == ["T4"]
    assert p["executionStatus"]["failed"] == 1
    assert diamond.task("T2").error == {"code": "AgentTimeout"}


def test_skipping_optional_task_unblocks() -> None:
    g = make_graph({"a": [], "b": ["a"]}, a={"optional": True})
    g.mark_in_progress("a", at=T0)
    g.mark_failed("a", at=T0, error="coverage tool missing")
    t = g.mark_skipped("a", at=T0, reason="optional")
    assert t.newly_ready == ("b",)
    run(g, "b")
    assert g.outcome() == "PartiallyCompleted"


def test_skipping_required_task_needs_override() -> None:
    g = make_graph({"a": [], "b": ["a"]})
    g.mark_in_progress("a", at=T0)
    g.mark_failed("a", at=T0)
    with pytest.raises(IllegalTransitionError, match="needs a manual override"):
        g.mark_skipped("a", at=T0)
    assert g.task("a").status is S.FAILED
    g.mark_skipped("a", at=T0, override_by="user:dmitry")
    assert g.task("a").skipped_by == "user:dmitry"
    assert g.task("b").status is S.READY


def test_retry_after_failure_and_stall() -> None:
    g = make_graph({"a": [], "b": ["a"]}, a={"fallback_agent": "basic-planner-agent"})
    g.mark_in_progress("a", at=T0)
    g.mark_stalled("a", at=T0, reason="no ack")
    assert g.progress()["executionStatus"]["stalled"] == 1
    assert g.progress()["blockedTasks"] == ["b"]
    g.mark_retry("a", at=T0)
    g.mark_in_progress("a", at=T0)
    g.mark_failed("a", at=T0)
    g.mark_retry("a", at=T0, agent_id="basic-planner-agent")
    g.mark_in_progress("a", at=T0)
    assert g.task("a").attempts == 3
    assert g.task("a").agent_id == "basic-planner-agent"
    g.mark_completed("a", at=T0)
    assert g.task("b").status is S.READY


def test_illegal_transitions_raise_and_change_nothing(diamond: ExecutionGraph) -> None:
    with pytest.raises(
        IllegalTransitionError, match="'T2': illegal transition Pending -> InProgress"
    ):
        diamond.mark_in_progress("T2", at=T0)
    with pytest.raises(IllegalTransitionError, match="Ready -> Completed"):
        diamond.mark_completed("T1", at=T0)
    run(diamond, "T1")
    with pytest.raises(IllegalTransitionError, match="Completed -> InProgress"):
        diamond.mark_in_progress("T1", at=T0)
    assert diamond.task("T1").status is S.COMPLETED
    assert diamond.count(S.COMPLETED) == 1


def test_unknown_task() -> None:
    g = make_graph({"a": []})
    with pytest.raises(UnknownTaskError, match="unknown task 'zz'"):
        g.mark_in_progress("zz", at=T0)


def test_naive_datetime_rejected() -> None:
    from datetime import datetime

    g = make_graph({"a": []})
    with pytest.raises(DomainError, match="no timezone"):
        g.mark_in_progress("a", at=datetime(2025, 1, 1))


def test_timestamps_come_from_caller(diamond: ExecutionGraph) -> None:
    from datetime import UTC, datetime

    diamond.mark_in_progress("T1", at=datetime(2025, 5, 5, 12, 0, tzinfo=UTC))
    diamond.mark_completed("T1", at="2025-05-05T12:05:00Z")
    t1 = diamond.task("T1")
    assert (t1.started_at, t1.completed_at) == ("2025-05-05T12:00:00Z", "2025-05-05T12:05:00Z")
    assert diamond.task("T2").ready_at == "2025-05-05T12:05:00Z"


# ----------------------------------------------------------------------------- progress, trace


def test_progress_shape(diamond: ExecutionGraph) -> None:
    run(diamond, "T1")
    diamond.mark_in_progress("T2", at=T0)
    p = diamond.progress()
    assert p == {
        "executionStatus": {
            "totalTasks": 4,
            "completed": 1,
            "inProgress": 1,
            "failed": 0,
            "stalled": 0,
            "skipped": 0,
            "pending": 1,
            "ready": 1,
        },
        "activeTasks": ["T2"],
        "blockedTasks": [],
    }
    assert sum(v for k, v in p["executionStatus"].items() if k != "totalTasks") == 4


def test_trace_execution_tree(diamond: ExecutionGraph) -> None:
    down = diamond.trace_execution_tree("T2")
    assert [n["taskId"] for n in down["nodes"]] == ["T2", "T4"]
    assert down["nodes"][1]["dependsOn"] == ["T2"]  # T3 is outside the subgraph
    up = diamond.trace_execution_tree("T4", direction="up")
    assert [n["taskId"] for n in up["nodes"]] == ["T1", "T2", "T3", "T4"]
    with pytest.raises(DomainError):
        diamond.trace_execution_tree("T4", direction="sideways")


def test_depth_and_topological_order() -> None:
    g = make_graph({"d": ["c"], "c": ["b"], "b": ["a"], "a": [], "z": []})
    assert g.depth() == 4
    order = g.topological_order()
    assert order.index("a") < order.index("b") < order.index("c") < order.index("d")
    assert ExecutionGraph([]).depth() == 0


def test_in_flight_by_agent_excludes_humans() -> None:
    from podium.domain import HumanTaskSpec

    g = ExecutionGraph(
        [
            OrchestrationTask("a", "X", agent_id="qa-agent"),
            OrchestrationTask("b", "X", agent_id="qa-agent"),
            OrchestrationTask("h", "ApproveX", human=HumanTaskSpec(title="Approve")),
        ]
    )
    for tid in ("a", "b", "h"):
        g.mark_in_progress(tid, at=T0)
    assert g.in_flight_by_agent() == {"qa-agent": 2}
    assert [t.task_id for t in g.in_progress_tasks()] == ["a", "b", "h"]


# ----------------------------------------------------------------------------- JSON & replay


def test_json_round_trip_mid_run_is_lossless() -> None:
    g = ExecutionGraph.from_dict(
        {
            "graphId": "g1",
            "flow": "demo",
            "phase": "Assembly",
            "parameters": {"serviceName": "orders"},
            "nodes": [
                {
                    "taskId": "a",
                    "type": "ApplyMicroserviceTemplate",
                    "agentId": "developer-agent",
                    "templates": ["template-microservice-cleanarch"],
                    "retryPolicy": {"maxAttempts": 2, "backoffStrategy": "fixed"},
                    "timeoutSec": 600,
                    "inputs": {"serviceName": "orders"},
                    "futureField": {"kept": True},
                },
                {"taskId": "b", "type": "X", "dependsOn": ["a"], "optional": True, "priority": 3},
                {
                    "taskId": "h",
                    "type": "ApproveThing",
                    "dependsOn": ["a"],
                    "human": {"title": "Approve", "requiredRole": "Admin"},
                },
            ],
        }
    )
    g.mark_in_progress("a", at=T0)
    g.mark_completed("a", at=T0, outputs={"files": 3}, emitted_events=["TemplateApplied"])
    g.mark_in_progress("b", at=T0)
    g.mark_failed("b", at=T0, error={"code": "TestFailed"})
    data = json.loads(json.dumps(g.to_dict()))
    g2 = ExecutionGraph.from_dict(data)
    assert g2.to_dict() == g.to_dict()
    assert g2.progress() == g.progress()
    assert g2.task("a").extra == {"futureField": {"kept": True}}
    assert g2.task("a").retry_policy.max_attempts == 2
    assert g2.task("h").human.required_role == "Admin"
    assert ids(g2.next_executable_tasks()) == ids(g.next_executable_tasks()) == ["h"]


def test_to_dict_is_compact() -> None:
    node = make_graph({"a": []}).to_dict()["nodes"][0]
    assert set(node) == {"taskId", "type", "agentId", "dependsOn", "status"}


def test_replay_rebuilds_state(diamond: ExecutionGraph) -> None:
    log = []
    log.append(diamond.mark_in_progress("T1", at="2025-05-05T12:00:00Z"))
    log.append(diamond.mark_completed("T1", at="2025-05-05T12:01:00Z", outputs={"x": 1}))
    log.append(diamond.mark_in_progress("T2", at="2025-05-05T12:02:00Z"))
    log.append(diamond.mark_failed("T2", at="2025-05-05T12:03:00Z", error="boom"))
    log.append(diamond.mark_retry("T2", at="2025-05-05T12:04:00Z"))
    stored = json.loads(json.dumps([t.to_dict() for t in log]))
    rebuilt = diamond.replay(stored)
    assert rebuilt.to_dict() == diamond.to_dict()
    assert (
        diamond.replay([]).to_dict()
        == make_graph({"T1": [], "T2": ["T1"], "T3": ["T1"], "T4": ["T2", "T3"]}).to_dict()
    )


def test_replay_of_illegal_log_raises(diamond: ExecutionGraph) -> None:
    with pytest.raises(IllegalTransitionError):
        diamond.replay([{"taskId": "T4", "to": "InProgress", "at": T0}])
    with pytest.raises(DomainError, match="invalid transition record"):
        diamond.replay([{"taskId": "T4", "to": "Exploded"}])


def test_effective_policies() -> None:
    from podium.domain import DEFAULT_RETRY_POLICY, HumanTaskSpec, RetryPolicy

    plain = OrchestrationTask("a", "X", agent_id="qa-agent")
    assert plain.effective_retry_policy(DEFAULT_RETRY_POLICY) is DEFAULT_RETRY_POLICY
    assert plain.effective_timeout_sec(900) == 900
    own = OrchestrationTask("b", "X", retry_policy=RetryPolicy(max_attempts=1), timeout_sec=60)
    assert own.effective_retry_policy(DEFAULT_RETRY_POLICY).max_attempts == 1
    assert own.effective_timeout_sec(900) == 60
    human = OrchestrationTask(
        "h", "ApproveX", human=HumanTaskSpec(title="t", response_timeout_sec=5)
    )
    assert human.effective_timeout_sec(900) == 5


def test_retried_task_is_listed_once() -> None:
    """A retry while the task's stale ready-heap entry is still present must not duplicate it."""
    g = make_graph({"a": [], "b": []})
    g.mark_in_progress("a", at=T0)
    g.mark_failed("a", at=T0)
    g.mark_retry("a", at=T0)
    assert ids(g.next_executable_tasks()) == ["a", "b"]
    assert ids(g.next_executable_tasks(limit=5)) == ["a", "b"]
    g.mark_in_progress("a", at=T0)
    g.mark_stalled("a", at=T0)
    assert ids(g.next_executable_tasks(limit=1)) == ["b"]
    g.mark_retry("a", at=T0)
    assert ids(g.next_executable_tasks(limit=5)) == ["a", "b"]


def test_snapshot_reload_can_skip_phase_rules() -> None:
    data = {"phase": "Planning", "nodes": [{"taskId": "a", "type": "ApplyMicroserviceTemplate"}]}
    with pytest.raises(GraphValidationError, match="not allowed in phase Planning"):
        ExecutionGraph.from_dict(data)
    assert len(ExecutionGraph.from_dict(data, check_phases=False)) == 1
    with pytest.raises(GraphValidationError, match="cycle"):  # structure is still checked
        ExecutionGraph.from_dict(
            {"nodes": [{"taskId": "a", "type": "X", "dependsOn": ["a"]}]}, check_phases=False
        )
