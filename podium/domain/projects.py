"""Multi-project orchestration: project dependencies, cascades and upstream blocking.

A child project declares the projects it ``dependsOn`` and the upstream phase that releases it
(``triggerOnUpstreamPhase``, default DeliveryComplete). The coordinator asks:

* :meth:`ProjectDependencyGraph.children_to_cascade` when an upstream reaches a phase: which
  children may now start (every one of their upstreams has reached its trigger phase);
* :meth:`ProjectDependencyGraph.blocked_by_upstream` for one project: which upstreams still
  hold it back (not far enough, or failed: a failed shared base never cascades).

Projects that appear only as upstreams need no declaration of their own.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from pydantic import Field, field_validator, model_validator

from ._base import DomainModel
from .errors import DependencyCycleError, DomainError
from .phases import LifecyclePhase


class ProjectDependency(DomainModel):
    """The seed's project dependency record."""

    project_id: str = Field(min_length=1)
    depends_on: list[str] = Field(default_factory=list)
    trigger_on_upstream_phase: LifecyclePhase = LifecyclePhase.DELIVERY_COMPLETE

    @field_validator("depends_on")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("dependsOn lists a project twice")
        return value

    @model_validator(mode="after")
    def _not_self(self) -> ProjectDependency:
        if self.project_id in self.depends_on:
            raise ValueError(f"project {self.project_id} depends on itself")
        return self


class ProjectDependencyGraph:
    """Validated set of project dependencies (no cycles, one record per project)."""

    def __init__(self, dependencies: Iterable[ProjectDependency | Mapping[str, object]]) -> None:
        self._deps: dict[str, ProjectDependency] = {}
        for item in dependencies:
            dep = (
                item
                if isinstance(item, ProjectDependency)
                else ProjectDependency.model_validate(item)
            )
            if dep.project_id in self._deps:
                raise DomainError(f"project {dep.project_id!r} is declared twice")
            self._deps[dep.project_id] = dep
        self._children: dict[str, list[str]] = {}
        for dep in self._deps.values():
            for up in dep.depends_on:
                self._children.setdefault(up, []).append(dep.project_id)
        self._check_cycles()

    def _check_cycles(self) -> None:
        white, grey, black = 0, 1, 2
        color: dict[str, int] = {}
        for root in self._deps:
            if color.get(root, white) != white:
                continue
            stack: list[tuple[str, int]] = [(root, 0)]
            path: list[str] = []
            while stack:
                node, i = stack.pop()
                if i == 0:
                    color[node] = grey
                    path.append(node)
                ups = self._deps[node].depends_on if node in self._deps else []
                if i < len(ups):
                    stack.append((node, i + 1))
                    nxt = ups[i]
                    state = color.get(nxt, white)
                    if state == grey:
                        cycle = path[path.index(nxt) :] + [nxt]
                        cycle.reverse()  # upstream -> dependent, like ExecutionGraph cycles
                        raise DependencyCycleError(cycle)
                    if state == white:
                        stack.append((nxt, 0))
                else:
                    color[node] = black
                    path.pop()

    def dependency(self, project_id: str) -> ProjectDependency | None:
        """The declared record, or ``None`` for a project with no upstreams."""
        return self._deps.get(project_id)

    def upstreams(self, project_id: str) -> list[str]:
        """Direct upstream projects."""
        dep = self._deps.get(project_id)
        return list(dep.depends_on) if dep else []

    def children(self, project_id: str) -> list[str]:
        """Direct dependents, in declaration order."""
        return list(self._children.get(project_id, []))

    def depth(self, project_id: str) -> int:
        """Hops from ``project_id`` to its farthest root (``project_dependency_depth``)."""
        ups = self.upstreams(project_id)
        return 0 if not ups else 1 + max(self.depth(u) for u in ups)

    def blocked_by_upstream(
        self,
        project_id: str,
        phases: Mapping[str, LifecyclePhase | str],
        failed: Collection[str] = (),
    ) -> list[str]:
        """Upstreams holding ``project_id`` back: failed, unknown phase, or not yet at the
        trigger phase. Empty means the project may start."""
        dep = self._deps.get(project_id)
        if dep is None:
            return []
        trigger = dep.trigger_on_upstream_phase
        blocked = []
        for up in dep.depends_on:
            phase = phases.get(up)
            if up in failed or phase is None or LifecyclePhase.parse(phase).index < trigger.index:
                blocked.append(up)
        return blocked

    def children_to_cascade(
        self,
        upstream_id: str,
        reached_phase: LifecyclePhase | str,
        phases: Mapping[str, LifecyclePhase | str] | None = None,
        failed: Collection[str] = (),
        already_started: Collection[str] = (),
    ) -> list[str]:
        """Children of ``upstream_id`` released now that it reached ``reached_phase``.

        A child is released when ``reached_phase`` is at or past its trigger phase and none of
        its other upstreams blocks it (see :meth:`blocked_by_upstream`). Children already
        started are left out, so calling this again for a later phase cascades nothing twice.
        """
        reached = LifecyclePhase.parse(reached_phase)
        if upstream_id in failed:
            return []
        known = dict(phases or {})
        known[upstream_id] = reached
        out = []
        for child in self._children.get(upstream_id, []):
            if child in already_started:
                continue
            if not self.blocked_by_upstream(child, known, failed):
                out.append(child)
        return out
