"""Shared helpers for the domain tests."""

from __future__ import annotations

from typing import Any

import pytest

from podium.domain import ExecutionGraph, OrchestrationTask

T0 = "2025-05-05T12:00:00Z"


def make_graph(spec: dict[str, list[str]], **task_kw: dict[str, Any]) -> ExecutionGraph:
    """Graph from ``{"a": [], "b": ["a"]}``; ``task_kw={"b": {"optional": True}}`` adds fields."""
    tasks = [
        OrchestrationTask(tid, "Work", agent_id="qa-agent", depends_on=deps, **task_kw.get(tid, {}))
        for tid, deps in spec.items()
    ]
    return ExecutionGraph(tasks)


def run(graph: ExecutionGraph, task_id: str, at: str = T0) -> None:
    """Dispatch and complete one task."""
    graph.mark_in_progress(task_id, at=at)
    graph.mark_completed(task_id, at=at)


@pytest.fixture
def diamond() -> ExecutionGraph:
    """T1 -> (T2, T3) -> T4, the seed's sample DAG."""
    return make_graph({"T1": [], "T2": ["T1"], "T3": ["T1"], "T4": ["T2", "T3"]})
