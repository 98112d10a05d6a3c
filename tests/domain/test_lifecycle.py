"""Phases, the phase-constraint table, decide_task, transition rules, overrides, final lock."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from podium.domain import (
    PHASE_ORDER,
    DomainError,
    LifecyclePhase,
    PhaseTransitionRule,
    TaskCategory,
    can_advance,
    can_reopen,
    categorize,
    decide_task,
    next_phase,
    phase_cmp,
    previous_phase,
)
from podium.domain.flows import default_catalog
from podium.domain.phases import phases_between

P = LifecyclePhase


def test_nine_phases_in_order() -> None:
    assert [p.value for p in PHASE_ORDER] == [
        "Initialization", "Planning", "Assembly", "Security", "Validation", "Pipeline",
        "Deployment", "Observability", "DeliveryComplete",
    ]  # fmt: skip


@pytest.mark.parametrize("raw", ["Planning", "PlanningPhase", "planning", "PLANNING_PHASE"])
def test_both_spellings_accepted(raw: str) -> None:
    assert LifecyclePhase.parse(raw) is P.PLANNING
    assert LifecyclePhase(raw) is P.PLANNING


def test_unknown_phase_lists_valid_names() -> None:
    with pytest.raises(
        DomainError, match="unknown lifecycle phase 'InfrastructureReady'.*Planning"
    ):
        LifecyclePhase.parse("InfrastructureReady")


def test_order_helpers() -> None:
    assert next_phase("Initialization") is P.PLANNING
    assert next_phase(P.OBSERVABILITY) is P.DELIVERY_COMPLETE
    assert next_phase(P.DELIVERY_COMPLETE) is None
    assert previous_phase(P.PLANNING) is P.INITIALIZATION
    assert previous_phase(P.INITIALIZATION) is None
    assert phase_cmp("Security", "Assembly") == 1
    assert phase_cmp("Security", "SecurityPhase") == 0
    assert phases_between("Planning", "Security") == [P.ASSEMBLY, P.SECURITY]


@pytest.mark.parametrize(
    "task_type,cats",
    [
        ("GenerateVisionPlan", {"planning", "architecture"}),
        ("GenerateDomainModel", {"architecture"}),
        ("PlanMicroservices", {"planning"}),
        ("ApproveDomainModel", {"architecture"}),
        ("ApplyMicroserviceTemplate", {"template-generation"}),
        ("ScaffoldIdentityService", {"template-generation"}),
        ("ApplyPipelineYamlTemplate", {"template-generation", "pipeline"}),
        ("ConfigureDockerBuild", {"pipeline"}),
        ("TriggerPipelineRun", {"pipeline"}),
        ("ProvisionResources", {"deployment"}),
        ("ApproveProductionDeployment", {"deployment"}),
        ("ValidateDeployedResources", {"deployment"}),
        ("CollectDeliveryArtifacts", {"finalization"}),
        ("GenerateDeliverySummary", {"finalization"}),
        ("GenerateTestSuite", set()),
        ("RunUnitTests", set()),
        ("DefineRBACModel", set()),
        ("InjectSecrets", set()),
    ],
)
def test_categories(task_type: str, cats: set[str]) -> None:
    assert {c.value for c in categorize(task_type)} == cats


def test_every_flow_task_type_is_allowed_in_its_own_phase() -> None:
    for flow in default_catalog().flows.values():
        for t in flow.tasks:
            d = decide_task(flow.phase, t.type, task_phase=flow.phase)
            assert d.allowed, (flow.name, t.type, d.reason)


# The seed's table, one rule per row.
@pytest.mark.parametrize(
    "phase,task_type,kind",
    [
        # Planning: no template generation or pipelines (future work: postponed)
        ("Planning", "ApplyMicroserviceTemplate", "postponed"),
        ("Planning", "TriggerPipelineRun", "postponed"),
        ("Planning", "GenerateVisionPlan", "allowed"),
        # Security: cannot deploy or release to prod
        ("Security", "ProvisionResources", "postponed"),
        ("Security", "ScaffoldIdentityService", "allowed"),
        # Validation: agent planning is locked
        ("Validation", "PlanMicroservices", "rejected"),
        ("Validation", "RunUnitTests", "allowed"),
        # Deployment: planning and architecture changes blocked
        ("Deployment", "PlanMicroservices", "rejected"),
        ("Deployment", "GenerateDomainModel", "rejected"),
        ("Deployment", "ProvisionResources", "allowed"),
    ],
)
def test_phase_constraint_table(phase: str, task_type: str, kind: str) -> None:
    assert decide_task(phase, task_type).kind == kind


def test_postponed_names_the_phase_and_why() -> None:
    d = decide_task("Planning", "ApplyMicroserviceTemplate")
    assert d.until_phase is P.ASSEMBLY
    assert "Assembly" in d.reason and "Planning" in d.reason


def test_forbidden_in_current_phase_even_with_explicit_phase() -> None:
    d = decide_task("Security", "DeployToProduction", task_phase="Security")
    assert d.kind == "rejected"
    assert "cannot deploy or release to prod" in d.reason


def test_flows_are_decided_by_phase_and_contents() -> None:
    assert decide_task("Planning", "microservice-assembly").until_phase is P.ASSEMBLY
    assert decide_task("Assembly", "microservice-assembly").allowed
    # a late microservice during Security is still fine
    assert decide_task("Security", "microservice-assembly").allowed
    # bootstrap (planning) is locked in Validation and blocked in Deployment
    assert decide_task("Validation", "project-bootstrap").kind == "rejected"
    assert decide_task("Deployment", "project-bootstrap").kind == "rejected"
    assert decide_task("Initialization", "project-bootstrap").until_phase is P.PLANNING


def test_delivery_complete_runs_only_finalization() -> None:
    assert decide_task("DeliveryComplete", "finalization").allowed
    assert decide_task("DeliveryComplete", "cicd-pipeline").kind == "rejected"
    assert decide_task("DeliveryComplete", "RunUnitTests").kind == "rejected"


def test_manual_override_by_role() -> None:
    assert decide_task("Validation", "PlanMicroservices", override_role="Admin").allowed
    assert decide_task("Planning", "ApplyMicroserviceTemplate", override_role="Studio").allowed
    d = decide_task("Validation", "PlanMicroservices", override_role="Developer")
    assert d.kind == "rejected"


def test_read_only_after_delivery_beats_override() -> None:
    d = decide_task("DeliveryComplete", "finalization", read_only=True, override_role="Admin")
    assert d.kind == "rejected" and "read-only" in d.reason
    assert can_reopen("Admin") and not can_reopen("Studio") and not can_reopen(None)


def test_rules_from_yaml_cover_every_phase() -> None:
    rules = default_catalog().lifecycle
    for phase in PHASE_ORDER[:-1]:
        rule = rules.rule_from(phase)
        assert rule is not None and rule.to is next_phase(phase)
    assert rules.rule_from(P.DELIVERY_COMPLETE) is None


def test_can_advance_simple_chain() -> None:
    assert can_advance({"phase": "Initialization"}) == (True, [])
    ok, missing = can_advance({"phase": "Planning"})
    assert not ok and missing == ["flow project-bootstrap: no completed instance"]
    assert can_advance(
        {"phase": "Planning", "flows": {"project-bootstrap": {"main": "Completed"}}}
    )[0]
    ok, missing = can_advance(
        {"phase": "Planning", "flows": {"project-bootstrap": {"main": "Failed"}}}
    )
    assert not ok and "not completed (main)" in missing[-1]


def test_assembly_needs_every_microservice() -> None:
    flows = {"microservice-assembly": {"svc-a": "Completed", "svc-b": "Running", "svc-c": "Failed"}}
    ok, missing = can_advance({"phase": "Assembly", "flows": flows})
    assert not ok
    assert missing == ["flow microservice-assembly: 2 of 3 instances not completed (svc-b, svc-c)"]
    flows = {"microservice-assembly": {"svc-a": "Completed", "svc-b": "PartiallyCompleted"}}
    assert can_advance({"phase": "Assembly", "flows": flows}) == (True, [])
    assert can_advance({"phase": "Assembly", "flows": {}})[1] == [
        "flow microservice-assembly: no completed instance"
    ]


def test_override_advances_but_reports_what_was_bypassed() -> None:
    ok, missing = can_advance({"phase": "Security"}, override_role="Admin")
    assert ok and missing == ["flow security-hardening: no completed instance"]
    assert can_advance({"phase": "Security"}, override_role="QA")[0] is False


def test_final_phase_and_read_only_never_advance() -> None:
    assert can_advance({"phase": "DeliveryComplete"}) == (
        False,
        ["DeliveryComplete is the final phase"],
    )
    assert can_advance({"phase": "Planning", "readOnly": True}, override_role="Admin")[0] is False


def test_rule_with_tasks_and_approvals() -> None:
    rule = PhaseTransitionRule.model_validate(
        {"from": "Validation", "to": "Pipeline", "requiredFlows": ["testing-plan"],
         "requiredTasks": ["RunUnitTests"], "requiredApprovals": ["QAManuallyVerified"]}
    )  # fmt: skip
    from podium.domain import PhaseState

    state = PhaseState.model_validate(
        {"phase": "Validation", "flows": {"testing-plan": {"main": "Completed"}},
         "completedTasks": ["RunUnitTests"]}
    )  # fmt: skip
    assert rule.evaluate(state) == (False, ["approval QAManuallyVerified missing"])
    state = state.model_copy(update={"approvals": ["QAManuallyVerified"]})
    assert rule.evaluate(state) == (True, [])


def test_rule_phases_must_be_adjacent() -> None:
    with pytest.raises(ValidationError, match="must be adjacent"):
        PhaseTransitionRule.model_validate({"from": "Planning", "to": "Security"})


def test_category_enum_values_stable() -> None:
    assert TaskCategory("template-generation") is TaskCategory.TEMPLATE_GENERATION


def test_seed_table_is_contained_and_locks_do_not_lapse() -> None:
    from podium.domain.categories import DISALLOWED_IN_PHASE, SEED_CONSTRAINTS

    for phase, cats in SEED_CONSTRAINTS.items():
        assert cats <= DISALLOWED_IN_PHASE[phase]
    # planning stays locked after Validation, architecture after Deployment
    for phase in PHASE_ORDER[P.VALIDATION.index :]:
        assert TaskCategory.PLANNING in DISALLOWED_IN_PHASE[phase]
    for phase in PHASE_ORDER[P.DEPLOYMENT.index :]:
        assert TaskCategory.ARCHITECTURE in DISALLOWED_IN_PHASE[phase]
    # no deployment until Validation, no templates before Assembly
    for phase in PHASE_ORDER[: P.VALIDATION.index]:
        assert TaskCategory.DEPLOYMENT in DISALLOWED_IN_PHASE[phase]
    for phase in PHASE_ORDER[: P.ASSEMBLY.index]:
        assert TaskCategory.TEMPLATE_GENERATION in DISALLOWED_IN_PHASE[phase]


def test_reason_outside_seed_rows_names_the_window() -> None:
    d = decide_task("Pipeline", "PlanMicroservices")
    assert d.kind == "rejected"
    assert "planning work runs only from Initialization to Security" in d.reason
    d = decide_task("Assembly", "ProvisionResources", task_phase="Assembly")
    assert d.kind == "rejected" and "Validation" in d.reason


def test_home_phase_inference() -> None:
    from podium.domain.lifecycle import home_phase

    assert home_phase(["ApplyPipelineYamlTemplate"]) is P.PIPELINE
    assert home_phase(["GenerateVisionPlan"]) is P.PLANNING
    assert home_phase(["RunUnitTests"]) is None
    # an uncategorized type without a phase runs anywhere but DeliveryComplete
    assert decide_task("Planning", "RunUnitTests").allowed


def test_allowed_flows_per_phase() -> None:
    from podium.domain.lifecycle import allowed_flows

    assert allowed_flows("Initialization") == []
    assert allowed_flows("Planning") == ["project-bootstrap"]
    assert "project-bootstrap" not in allowed_flows("Pipeline")
    assert "testing-plan" in allowed_flows("Validation")
    assert allowed_flows("DeliveryComplete") == ["finalization"]
    for flow in default_catalog().flows.values():
        assert flow.name in allowed_flows(flow.phase)


def test_min_completed_without_all() -> None:
    from podium.domain import PhaseState

    rule = PhaseTransitionRule.model_validate(
        {"from": "Assembly", "to": "Security",
         "requiredFlows": [{"flow": "microservice-assembly", "all": False, "minCompleted": 2}]}
    )  # fmt: skip
    state = PhaseState.model_validate(
        {"phase": "Assembly",
         "flows": {"microservice-assembly": {"a": "Completed", "b": "Failed", "c": "Running"}}}
    )  # fmt: skip
    assert rule.evaluate(state) == (False, ["flow microservice-assembly: 1 of 2 completed"])
    state.flows["microservice-assembly"]["c"] = "Completed"
    assert rule.evaluate(state) == (True, [])


def test_rules_inherit_top_level_override_roles() -> None:
    from podium.domain import LifecycleRules

    transitions = [
        {"from": p.value, "to": next_phase(p).value}  # type: ignore[union-attr]
        for p in PHASE_ORDER[:-1]
    ]
    transitions[1] = {**transitions[1], "requiredFlows": ["project-bootstrap"]}
    transitions[2] = {**transitions[2], "overrideRoles": ["Architect"]}
    rules = LifecycleRules.model_validate({"overrideRoles": ["Owner"], "transitions": transitions})
    assert rules.rule_from("Planning").override_roles == ["Owner"]  # type: ignore[union-attr]
    assert rules.rule_from("Assembly").override_roles == ["Architect"]  # type: ignore[union-attr]
    assert can_advance({"phase": "Planning"}, rules, override_role="Owner")[0]
    assert not can_advance({"phase": "Planning"}, rules, override_role="Admin")[0]
