"""Multi-project dependencies: cycle check, cascades, upstream blocking."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from podium.domain import (
    DependencyCycleError,
    DomainError,
    ProjectDependency,
    ProjectDependencyGraph,
)


@pytest.fixture
def family() -> ProjectDependencyGraph:
    """platform-core <- service-auth, service-orders (at Assembly); ui <- core + orders."""
    return ProjectDependencyGraph(
        [
            {"projectId": "service-auth", "dependsOn": ["platform-core"]},
            {"projectId": "service-orders", "dependsOn": ["platform-core"],
             "triggerOnUpstreamPhase": "AssemblyPhase"},
            {"projectId": "ui-backoffice", "dependsOn": ["platform-core", "service-orders"]},
        ]
    )  # fmt: skip


def test_cascade_by_trigger_phase(family: ProjectDependencyGraph) -> None:
    assert family.children_to_cascade("platform-core", "Planning") == []
    assert family.children_to_cascade("platform-core", "Assembly") == ["service-orders"]
    assert family.children_to_cascade(
        "platform-core", "DeliveryComplete", already_started=["service-orders"]
    ) == ["service-auth"]


def test_child_with_two_upstreams_waits_for_both(family: ProjectDependencyGraph) -> None:
    assert "ui-backoffice" not in family.children_to_cascade(
        "platform-core", "DeliveryComplete", {"service-orders": "Security"}
    )
    assert family.children_to_cascade(
        "service-orders", "DeliveryComplete", {"platform-core": "DeliveryComplete"}
    ) == ["ui-backoffice"]


def test_blocked_by_upstream(family: ProjectDependencyGraph) -> None:
    phases = {"platform-core": "DeliveryComplete", "service-orders": "Planning"}
    assert family.blocked_by_upstream("ui-backoffice", phases) == ["service-orders"]
    assert family.blocked_by_upstream("ui-backoffice", {}) == ["platform-core", "service-orders"]
    assert family.blocked_by_upstream("platform-core", {}) == []
    phases = {"platform-core": "DeliveryComplete", "service-orders": "DeliveryComplete"}
    assert family.blocked_by_upstream("ui-backoffice", phases) == []
    assert family.blocked_by_upstream("ui-backoffice", phases, failed={"platform-core"}) == [
        "platform-core"
    ]


def test_failed_upstream_never_cascades(family: ProjectDependencyGraph) -> None:
    assert (
        family.children_to_cascade("platform-core", "DeliveryComplete", failed={"platform-core"})
        == []
    )


def test_structure_queries(family: ProjectDependencyGraph) -> None:
    assert family.children("platform-core") == ["service-auth", "service-orders", "ui-backoffice"]
    assert family.upstreams("ui-backoffice") == ["platform-core", "service-orders"]
    assert family.depth("ui-backoffice") == 2 and family.depth("platform-core") == 0


def test_cycle_is_named() -> None:
    with pytest.raises(DependencyCycleError) as err:
        ProjectDependencyGraph(
            [
                {"projectId": "a", "dependsOn": ["b"]},
                {"projectId": "b", "dependsOn": ["c"]},
                {"projectId": "c", "dependsOn": ["a"]},
                {"projectId": "d", "dependsOn": ["a"]},
            ]
        )
    assert err.value.cycle[0] == err.value.cycle[-1]
    assert set(err.value.cycle) == {"a", "b", "c"}
    assert "cycle in project dependencies" in str(err.value)


def test_bad_records() -> None:
    with pytest.raises(ValidationError, match="depends on itself"):
        ProjectDependency(project_id="a", depends_on=["a"])
    with pytest.raises(ValidationError, match="twice"):
        ProjectDependency(project_id="a", depends_on=["b", "b"])
    with pytest.raises(DomainError, match="declared twice"):
        ProjectDependencyGraph([{"projectId": "a"}, {"projectId": "a"}])
