"""Lifecycle phase gates: transition rules, the task/flow enforcement decision, the final lock.

Two questions the coordinator asks:

* "May this task (or flow) run now?" -> :func:`decide_task` answers allowed, postponed (with
  the phase to wait for) or rejected (with why), applying the seed's phase-constraint table.
* "May the project leave its phase?" -> :func:`can_advance` evaluates the
  :class:`PhaseTransitionRule` for the current phase against a :class:`PhaseState` snapshot and
  lists what is missing.

After the project is delivered (``ProjectDeliveryComplete``) it is read-only: every decision is
``rejected`` until an Admin reopens it (:func:`can_reopen`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ._base import DomainModel
from .categories import TaskCategory, categorize, phase_constraint_violation
from .errors import DomainError
from .phases import LifecyclePhase, next_phase

if TYPE_CHECKING:
    from .flows import FlowCatalog

DEFAULT_OVERRIDE_ROLES: tuple[str, ...] = ("Admin", "Studio")
DEFAULT_REOPEN_ROLES: tuple[str, ...] = ("Admin",)

# Flow-instance statuses that count as done for phase rules.
DONE_FLOW_STATUSES = frozenset({"Completed", "PartiallyCompleted"})

# Where work of each category normally belongs; used when a task type arrives without a phase.
CATEGORY_HOME_PHASE: dict[TaskCategory, LifecyclePhase] = {
    TaskCategory.PLANNING: LifecyclePhase.PLANNING,
    TaskCategory.ARCHITECTURE: LifecyclePhase.PLANNING,
    TaskCategory.TEMPLATE_GENERATION: LifecyclePhase.ASSEMBLY,
    TaskCategory.PIPELINE: LifecyclePhase.PIPELINE,
    TaskCategory.DEPLOYMENT: LifecyclePhase.DEPLOYMENT,
    TaskCategory.FINALIZATION: LifecyclePhase.DELIVERY_COMPLETE,
}


class FlowRequirement(DomainModel):
    """A flow that must have finished. ``all``: every started instance must be done (fan-out
    flows such as microservice-assembly); ``minCompleted``: at least this many done."""

    flow: str = Field(min_length=1)
    all: bool = True
    min_completed: int = Field(default=1, ge=0)


class PhaseState(DomainModel):
    """What the coordinator knows about a project, as input to :func:`can_advance`.

    ``flows`` maps flow name -> instance key -> status (``Running``, ``Completed``,
    ``PartiallyCompleted``, ``Failed``); ``completedTasks`` and ``approvals`` are free-form names
    (e.g. ``"ApproveDomainModel"``).
    """

    phase: LifecyclePhase
    flows: dict[str, dict[str, str]] = Field(default_factory=dict)
    completed_tasks: list[str] = Field(default_factory=list)
    approvals: list[str] = Field(default_factory=list)
    read_only: bool = False


class PhaseTransitionRule(DomainModel):
    """What must be true to go from ``from`` to ``to`` (the seed's PhaseTransitionRule)."""

    from_phase: LifecyclePhase = Field(alias="from")
    to: LifecyclePhase
    required_flows: list[FlowRequirement] = Field(default_factory=list)
    required_tasks: list[str] = Field(default_factory=list)
    required_approvals: list[str] = Field(default_factory=list)
    override_roles: list[str] = Field(default_factory=lambda: list(DEFAULT_OVERRIDE_ROLES))

    @field_validator("required_flows", mode="before")
    @classmethod
    def _flow_shorthand(cls, value: Any) -> Any:
        # YAML may list plain flow names.
        if isinstance(value, list):
            return [{"flow": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _adjacent(self) -> PhaseTransitionRule:
        if next_phase(self.from_phase) != self.to:
            raise ValueError(
                f"rule {self.from_phase.value} -> {self.to.value}: phases must be adjacent "
                f"(next after {self.from_phase.value} is {next_phase(self.from_phase)})"
            )
        return self

    def missing(self, state: PhaseState) -> list[str]:
        """Human-readable list of unmet conditions (empty when the rule is satisfied)."""
        out: list[str] = []
        for req in self.required_flows:
            instances = state.flows.get(req.flow, {})
            done = sorted(k for k, s in instances.items() if s in DONE_FLOW_STATUSES)
            not_done = sorted(k for k, s in instances.items() if s not in DONE_FLOW_STATUSES)
            if len(done) < req.min_completed:
                if done:
                    out.append(f"flow {req.flow}: {len(done)} of {req.min_completed} completed")
                else:
                    out.append(f"flow {req.flow}: no completed instance")
            if req.all and not_done:
                out.append(
                    f"flow {req.flow}: {len(not_done)} of {len(instances)} instances not "
                    f"completed ({', '.join(not_done)})"
                )
        done_tasks = set(state.completed_tasks)
        out.extend(f"task {t} not completed" for t in self.required_tasks if t not in done_tasks)
        approvals = set(state.approvals)
        out.extend(f"approval {a} missing" for a in self.required_approvals if a not in approvals)
        return out

    def evaluate(self, state: PhaseState) -> tuple[bool, list[str]]:
        """``(satisfied, missing)`` for ``state``."""
        missing = self.missing(state)
        return (not missing, missing)


class LifecycleRules(DomainModel):
    """All transition rules plus who may override gates and reopen a delivered project.

    Loaded from ``flows/lifecycle.yaml`` by :mod:`podium.domain.flows`.
    """

    transitions: list[PhaseTransitionRule]
    override_roles: list[str] = Field(default_factory=lambda: list(DEFAULT_OVERRIDE_ROLES))
    reopen_roles: list[str] = Field(default_factory=lambda: list(DEFAULT_REOPEN_ROLES))

    @model_validator(mode="before")
    @classmethod
    def _inherit_override_roles(cls, data: Any) -> Any:
        # A rule without its own overrideRoles uses the file's top-level list.
        if isinstance(data, Mapping) and "overrideRoles" in data:
            roles = data["overrideRoles"]
            rules = data.get("transitions")
            if isinstance(rules, list):
                data = dict(data)
                data["transitions"] = [
                    {**r, "overrideRoles": roles}
                    if isinstance(r, Mapping)
                    and "overrideRoles" not in r
                    and "override_roles" not in r
                    else r
                    for r in rules
                ]
        return data

    @model_validator(mode="after")
    def _one_rule_per_phase(self) -> LifecycleRules:
        seen: set[LifecyclePhase] = set()
        for rule in self.transitions:
            if rule.from_phase in seen:
                raise ValueError(f"two transition rules leave phase {rule.from_phase.value}")
            seen.add(rule.from_phase)
        missing = [
            p.value
            for p in LifecyclePhase
            if p is not LifecyclePhase.DELIVERY_COMPLETE and p not in seen
        ]
        if missing:
            raise ValueError(f"no transition rule leaves phase(s) {', '.join(missing)}")
        return self

    def rule_from(self, phase: LifecyclePhase | str) -> PhaseTransitionRule | None:
        """The rule leaving ``phase`` (``None`` for DeliveryComplete)."""
        p = LifecyclePhase.parse(phase)
        return next((r for r in self.transitions if r.from_phase is p), None)

    def flows_required(self) -> set[str]:
        """Every flow name any rule refers to."""
        return {req.flow for r in self.transitions for req in r.required_flows}


def can_advance(
    state: PhaseState | Mapping[str, Any],
    rules: LifecycleRules | None = None,
    *,
    override_role: str | None = None,
) -> tuple[bool, list[str]]:
    """Whether the project may move to the next phase, and what is missing.

    With an ``override_role`` allowed by the rule, the answer is ``True`` but ``missing`` still
    lists what was bypassed, so the audit entry can say so. A read-only (delivered) project and
    DeliveryComplete never advance.
    """
    st = state if isinstance(state, PhaseState) else PhaseState.model_validate(state)
    rules = rules or _default_rules()
    if st.read_only:
        return (False, ["project is delivered and read-only"])
    rule = rules.rule_from(st.phase)
    if rule is None:
        return (False, [f"{st.phase.value} is the final phase"])
    ok, missing = rule.evaluate(st)
    if not ok and override_role and override_role in rule.override_roles:
        return (True, missing)
    return (ok, missing)


def can_reopen(role: str | None, rules: LifecycleRules | None = None) -> bool:
    """Whether ``role`` may reopen a delivered (read-only) project."""
    rules = rules or _default_rules()
    return bool(role) and role in rules.reopen_roles


class PhaseDecision(DomainModel):
    """Outcome of :func:`decide_task`."""

    kind: Literal["allowed", "postponed", "rejected"]
    reason: str
    until_phase: LifecyclePhase | None = None

    @property
    def allowed(self) -> bool:
        """Shorthand for ``kind == "allowed"``."""
        return self.kind == "allowed"


def home_phase(task_types: Iterable[str]) -> LifecyclePhase | None:
    """The latest home phase of the types' categories (``None`` when uncategorized)."""
    homes = [CATEGORY_HOME_PHASE[c] for t in task_types for c in categorize(t)]
    return max(homes, key=lambda p: p.index) if homes else None


def decide_task(
    phase_now: LifecyclePhase | str,
    task_type_or_flow: str,
    *,
    task_phase: LifecyclePhase | str | None = None,
    read_only: bool = False,
    override_role: str | None = None,
    catalog: FlowCatalog | None = None,
) -> PhaseDecision:
    """Decide whether a task type or a whole flow may run while the project is in ``phase_now``.

    ``task_type_or_flow`` is a flow name known to ``catalog`` (then the flow's phase and all
    its task types count) or a task type (then ``task_phase`` is its phase, inferred from its
    categories when absent). In order:

    1. read-only (delivered) project: rejected;
    2. ``override_role`` in the override roles: allowed (manual override);
    3. work belonging to a later phase: postponed until that phase;
    4. work the current phase forbids (constraint table): rejected;
    5. during DeliveryComplete only DeliveryComplete work runs: otherwise rejected;
    6. allowed.
    """
    now = LifecyclePhase.parse(phase_now)
    if read_only:
        return PhaseDecision(
            kind="rejected",
            reason="project is delivered and read-only; an Admin must reopen it first",
        )
    flow = _lookup_flow(task_type_or_flow, catalog)
    if flow is not None:
        subject_phase: LifecyclePhase | None = flow.phase
        types: Sequence[str] = [t.type for t in flow.tasks]
        what = f"flow {flow.name}"
    else:
        subject_phase = LifecyclePhase.parse(task_phase) if task_phase else None
        types = [task_type_or_flow]
        subject_phase = subject_phase or home_phase(types)
        what = f"task type {task_type_or_flow}"
    override_roles = (
        catalog.lifecycle.override_roles if catalog is not None else list(DEFAULT_OVERRIDE_ROLES)
    )
    if override_role and override_role in override_roles:
        return PhaseDecision(kind="allowed", reason=f"manual override by role {override_role}")
    if subject_phase is not None and subject_phase.index > now.index:
        return PhaseDecision(
            kind="postponed",
            reason=f"{what} belongs to phase {subject_phase.value}; project is in {now.value}",
            until_phase=subject_phase,
        )
    violations = [v for t in types if (v := phase_constraint_violation(t, now))]
    if violations:
        return PhaseDecision(kind="rejected", reason="; ".join(dict.fromkeys(violations)))
    if now is LifecyclePhase.DELIVERY_COMPLETE and subject_phase is not now:
        return PhaseDecision(
            kind="rejected",
            reason=f"{what} cannot run during DeliveryComplete: only finalization work runs",
        )
    return PhaseDecision(kind="allowed", reason=f"{what} may run in {now.value}")


def allowed_flows(phase_now: LifecyclePhase | str, catalog: FlowCatalog | None = None) -> list[str]:
    """Flows that may run in ``phase_now`` (the seed's "allowed orchestrators" column),
    by name: the phase's own flows plus earlier ones the phase does not forbid."""
    if catalog is None:
        from .flows import default_catalog

        catalog = default_catalog()
    return [
        name
        for name in sorted(catalog.flows)
        if decide_task(phase_now, name, catalog=catalog).allowed
    ]


def _lookup_flow(name: str, catalog: FlowCatalog | None) -> Any:
    if catalog is None:
        from .flows import default_catalog

        try:
            catalog = default_catalog()
        except DomainError:
            return None
    return catalog.flows.get(name)


def _default_rules() -> LifecycleRules:
    from .flows import default_catalog

    return default_catalog().lifecycle
