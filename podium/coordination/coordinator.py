"""ProjectOrchestrationCoordinator: the per-project state a Durable Entity holds.

Pure and deterministic (timestamps come in with each operation) so the entity function stays a
thin dispatcher and every rule here is unit-tested without a host. The coordinator owns the
lifecycle phase, the flows in flight, phase gating (with the blocked-task count), phase
advancement when the phase's rule is met, manual override by an allowed role, multi-project
waiting and cascades, and the read-only lock after delivery. It never does I/O: operations
return *decisions* (advance, wake these flows, cascade these children) that the calling
orchestration carries out through activities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from podium.domain.lifecycle import LifecycleRules, PhaseState, can_advance
from podium.domain.phases import LifecyclePhase, next_phase, phase_cmp

Decision = dict[str, Any]


FINAL_FLOW = "finalization"  # DeliveryComplete's own work; its end is the delivery


class CoordinatorError(ValueError):
    """An operation the coordinator refuses (locked project, role not allowed, bad input)."""


@dataclass
class FlowRecord:
    instance_id: str
    flow: str
    phase: str
    key: str = ""
    status: str = "Running"  # Running | Completed | Failed | Aborted | Postponed


@dataclass
class ProjectCoordinator:
    """The coordinator's state; ``to_dict``/``from_dict`` are the entity's persisted JSON."""

    project_id: str = ""
    tenant_id: str = ""
    name: str = ""
    trace_id: str = ""
    phase: str = LifecyclePhase.INITIALIZATION.value
    status: str = "Pending"  # Pending | WaitingForUpstream | InProgress | Failed | Completed
    locked: bool = False
    created_at: str = ""
    phase_history: list[dict[str, Any]] = field(default_factory=list)
    flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    expected_flows: dict[str, list[str]] = field(default_factory=dict)
    approvals: list[str] = field(default_factory=list)
    blocked_tasks: int = 0
    waiting: list[str] = field(default_factory=list)
    upstream: list[str] = field(default_factory=list)
    trigger_on_upstream_phase: str | None = None
    upstream_phases: dict[str, str] = field(default_factory=dict)
    upstream_failed: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    child_triggers: dict[str, str] = field(default_factory=dict)  # child -> phase it waits for
    delivery_artifacts: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ProjectCoordinator:
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    # ------------------------------------------------------------------ operations
    def init(self, op: dict[str, Any]) -> Decision:
        """Create the project (idempotent: a second init with the same ids changes nothing)."""
        if self.project_id:
            if op.get("tenantId") not in (None, self.tenant_id):
                raise CoordinatorError("project already exists under another tenant")
            return {"created": False, "waitingForUpstream": self.status == "WaitingForUpstream"}
        self.project_id = _required(op, "projectId")
        self.tenant_id = _required(op, "tenantId")
        self.name = op.get("name", self.project_id)
        self.trace_id = op.get("traceId", "")
        self.created_at = op.get("at", "")
        self.upstream = list(op.get("upstream") or [])
        phase = op.get("triggerOnUpstreamPhase")
        self.trigger_on_upstream_phase = LifecyclePhase.parse(phase).value if phase else None
        self.phase_history = [
            {"phase": self.phase, "enteredAt": self.created_at, "triggeredBy": "ProjectCreated"}
        ]
        self.status = "WaitingForUpstream" if self.upstream else "Pending"
        return {"created": True, "waitingForUpstream": bool(self.upstream)}

    def check_tasks(
        self, op: dict[str, Any], decide: Callable[[str, str, str | None], dict]
    ) -> Decision:
        """Phase gate for the tasks a flow is about to dispatch.

        ``decide(phase_now, task_type, flow_phase)`` is the domain's enforcement decision.
        Postponed and rejected tasks are counted (blocked_tasks_due_to_phase); a flow with a
        postponed task is remembered and woken when the phase changes.
        """
        self._ensure_open()
        task_phase = op.get("phase")
        decisions = [
            dict(decide(self.phase, t, task_phase), taskType=t) for t in op.get("taskTypes", [])
        ]
        blocked = [d for d in decisions if d.get("kind") != "allowed"]
        self.blocked_tasks += len(blocked)
        instance = op.get("instanceId")
        postponed = any(d.get("kind") == "postponed" for d in decisions)
        if instance and postponed and instance not in self.waiting:
            self.waiting.append(instance)
        return {"phase": self.phase, "decisions": decisions, "blocked": len(blocked)}

    def flow_started(self, op: dict[str, Any]) -> Decision:
        self._ensure_open()
        rec = FlowRecord(
            instance_id=_required(op, "instanceId"),
            flow=_required(op, "flow"),
            phase=LifecyclePhase.parse(op.get("phase") or self.phase).value,
            key=op.get("key", ""),
        )
        known = self.flows.get(rec.instance_id)
        if known is None:
            self.flows[rec.instance_id] = rec.__dict__
        if self.status in ("Pending", "WaitingForUpstream"):
            self.status = "InProgress"
        if self.phase == LifecyclePhase.INITIALIZATION.value:
            return self._advance(op.get("at", ""), f"flow:{rec.flow}")
        return {"advanced": None}

    def expect_flows(self, op: dict[str, Any]) -> Decision:
        """Declare the fan-out flows a phase needs (one microservice assembly per planned
        service), as ``flow:key`` names."""
        phase = LifecyclePhase.parse(_required(op, "phase")).value
        names = [str(n) for n in op.get("flows", [])]
        self.expected_flows[phase] = sorted(set(self.expected_flows.get(phase, [])) | set(names))
        return {"phase": phase, "expected": self.expected_flows[phase]}

    def flow_finished(self, op: dict[str, Any], rules: LifecycleRules) -> Decision:
        """Record a flow's end; advance the phase when its rule is met."""
        instance = _required(op, "instanceId")
        status = op.get("status", "Completed")
        record = self.flows.setdefault(
            instance,
            FlowRecord(instance_id=instance, flow=op.get("flow", "?"), phase=self.phase).__dict__,
        )
        record["status"] = status
        if self.waiting and instance in self.waiting:
            self.waiting.remove(instance)
        for artifact in op.get("artifacts", []):
            if artifact not in self.delivery_artifacts:
                self.delivery_artifacts.append(artifact)
        if status in ("Failed", "Aborted") and op.get("manual"):
            # A re-run a person started (Regenerate Microservice, Apply Template) failed: the
            # project keeps its state; the failed run is recorded and shown, nothing advances.
            return {"advanced": None, "failed": False, "manualRunFailed": True}
        if status in ("Failed", "Aborted"):
            self.status = "Failed"
            return {"advanced": None, "failed": True, "children": list(self.children)}
        if self.locked:
            return {"advanced": None}
        met, missing = self.rule_met(rules)
        if not met:
            return {"advanced": None, "missing": missing}
        return self._advance(op.get("at", ""), f"flow:{record['flow']}")

    def record_approval(self, op: dict[str, Any]) -> Decision:
        name = _required(op, "approval")
        if name not in self.approvals:
            self.approvals.append(name)
        return {"approvals": list(self.approvals)}

    def manual_advance(self, op: dict[str, Any], rules: LifecycleRules) -> Decision:
        """Studio's "Mark Phase Complete": allowed to the rule's override roles only; what was
        bypassed is returned so the audit row can say so."""
        self._ensure_open()
        rule = rules.rule_from(self.phase)
        allowed = list(rule.override_roles) if rule else list(rules.override_roles)
        role = next((r for r in op.get("roles") or [] if r in allowed), None)
        if role is None:
            raise CoordinatorError(
                f"advancing {self.phase} by hand needs one of the roles {allowed}"
            )
        _, bypassed = self.rule_met(rules)
        decision = self._advance(op.get("at", ""), f"override:{op.get('actor', '?')}:{role}")
        return {**decision, "bypassed": bypassed, "overrideRole": role}

    def upstream_reached(self, op: dict[str, Any]) -> Decision:
        """An upstream project reached ``phase``: start this child when all upstreams have."""
        upstream, phase = _required(op, "upstreamId"), LifecyclePhase.parse(_required(op, "phase"))
        self.upstream_phases[upstream] = phase.value
        return {"start": self._upstreams_ready()}

    def upstream_failed_op(self, op: dict[str, Any]) -> Decision:
        upstream = _required(op, "upstreamId")
        if upstream not in self.upstream_failed:
            self.upstream_failed.append(upstream)
        if self.status == "WaitingForUpstream":
            self.status = "BlockedByUpstream"
        return {"blocked": True, "status": self.status}

    def register_child(self, op: dict[str, Any]) -> Decision:
        child = _required(op, "childId")
        if child not in self.children:
            self.children.append(child)
        if op.get("trigger"):
            self.child_triggers[child] = LifecyclePhase.parse(op["trigger"]).value
        return {
            "children": list(self.children),
            "phase": self.phase,
            "failed": self.status == "Failed",
        }

    # ------------------------------------------------------------------ rules
    def rule_met(self, rules: LifecycleRules) -> tuple[bool, list[str]]:
        """Whether the current phase's transition rule holds (``can_advance`` of the domain).
        Expected fan-out instances that have not even started count as not completed, so the
        first finished microservice cannot advance the phase alone. DeliveryComplete has no
        next phase: its rule is that the finalization flow completed."""
        if self.phase == LifecyclePhase.DELIVERY_COMPLETE.value:
            done = any(
                r["flow"] == FINAL_FLOW and r["status"] == "Completed" for r in self.flows.values()
            )
            return (done, [] if done else [f"flow {FINAL_FLOW}: not completed"])
        return can_advance(self.phase_state(), rules)

    def phase_state(self) -> PhaseState:
        flows: dict[str, dict[str, str]] = {}
        for expected in self.expected_flows.get(self.phase, []):
            flow, key = _split_expected(expected)
            flows.setdefault(flow, {})[key] = "Pending"
        for rec in self.flows.values():
            flows.setdefault(rec["flow"], {})[rec.get("key") or rec["instance_id"]] = rec["status"]
        return PhaseState(
            phase=LifecyclePhase.parse(self.phase), flows=flows, approvals=list(self.approvals)
        )

    def _upstreams_ready(self) -> bool:
        target = self.trigger_on_upstream_phase or LifecyclePhase.DELIVERY_COMPLETE.value
        if self.upstream_failed:
            return False
        return all(
            phase_cmp(self.upstream_phases.get(u, LifecyclePhase.INITIALIZATION), target) >= 0
            for u in self.upstream
        )

    def _advance(self, at: str, triggered_by: str) -> Decision:
        current = LifecyclePhase.parse(self.phase)
        target = next_phase(current)
        if target is None:
            # DeliveryComplete's rule is met (finalization done): the final read-only lock.
            self.status, self.locked = "Completed", True
            return {
                "advanced": None,
                "delivered": True,
                "children": list(self.children),
                "artifacts": list(self.delivery_artifacts),
            }
        self.phase = target.value
        self.phase_history.append(
            {"phase": self.phase, "enteredAt": at, "triggeredBy": triggered_by}
        )
        wake, self.waiting = list(self.waiting), []
        return {
            "advanced": {"from": current.value, "to": target.value, "triggeredBy": triggered_by},
            "wake": wake,
            "children": list(self.children),
            # the children this advance may start: those waiting for exactly this phase (a
            # child registered without its trigger phase is offered every advance)
            "cascade": [
                c for c in self.children
                if self.child_triggers.get(c, target.value) == target.value
            ],
        }

    def _ensure_open(self) -> None:
        if self.locked:
            raise CoordinatorError(
                f"project {self.project_id} is delivered and read-only; reopening needs an Admin"
            )


def _required(op: dict[str, Any], key: str) -> Any:
    value = op.get(key)
    if value in (None, ""):
        raise CoordinatorError(f"operation input is missing '{key}'")
    return value


def _split_expected(name: str) -> tuple[str, str]:
    flow, _, key = name.partition(":")
    return flow, key
