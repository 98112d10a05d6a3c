"""Task categories and the seed's phase-constraint table.

The seed forbids kinds of work per phase ("Planning: no template generation or pipelines",
"Security: cannot deploy or release to prod", "Validation: agent planning is locked",
"Deployment: planning and architecture changes blocked"), made monotone so that a lock does
not lapse in the phase after it (see CATEGORY_WINDOWS). Task types are free-form strings, so
a type's categories are derived from its name by the patterns below; every task type used in
``flows/`` is covered by a test that pins its categories.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache

from .phases import LifecyclePhase


class TaskCategory(StrEnum):
    """Kinds of work the phase constraints talk about."""

    PLANNING = "planning"
    ARCHITECTURE = "architecture"
    TEMPLATE_GENERATION = "template-generation"
    PIPELINE = "pipeline"
    DEPLOYMENT = "deployment"
    FINALIZATION = "finalization"


# A type belongs to every category whose pattern matches it.
CATEGORY_PATTERNS: tuple[tuple[TaskCategory, re.Pattern[str]], ...] = (
    # PlanMicroservices, GenerateVisionPlan, GenerateMicroservicePlan, ReviewPlanning
    (TaskCategory.PLANNING, re.compile(r"^Plan[A-Z]|Plan$|Planning")),
    # GenerateDomainModel, ApproveDomainModel, GenerateVisionPlan, UpdateArchitecture
    (TaskCategory.ARCHITECTURE, re.compile(r"DomainModel|Architecture|Vision")),
    # ApplyMicroserviceTemplate, ApplyPipelineYamlTemplate, ScaffoldIdentityService
    (TaskCategory.TEMPLATE_GENERATION, re.compile(r"^(Apply|Scaffold)[A-Z]")),
    # ApplyPipelineYamlTemplate, TriggerPipelineRun, CapturePipelineStatus, ConfigureDockerBuild
    (TaskCategory.PIPELINE, re.compile(r"Pipeline|DockerBuild")),
    # ProvisionResources, DeployToProduction, ReleaseToProd, ApproveProductionDeployment
    (TaskCategory.DEPLOYMENT, re.compile(r"^(Deploy|Release|Provision)[A-Z]|Deployment|Deployed")),
    # CollectDeliveryArtifacts, CleanupWorkspace, GenerateDeliverySummary
    (TaskCategory.FINALIZATION, re.compile(r"^(Collect|Cleanup)[A-Z]|Delivery")),
)

P = LifecyclePhase
C = TaskCategory

# The seed's table, verbatim: phase -> categories forbidden while the project is in it.
SEED_CONSTRAINTS: dict[LifecyclePhase, frozenset[TaskCategory]] = {
    P.PLANNING: frozenset({C.TEMPLATE_GENERATION, C.PIPELINE}),
    P.SECURITY: frozenset({C.DEPLOYMENT}),
    P.VALIDATION: frozenset({C.PLANNING}),
    P.DEPLOYMENT: frozenset({C.PLANNING, C.ARCHITECTURE}),
}

# The same table made monotone, so a lock does not lapse between two phases: each category
# may run only inside a window of phases (first, last; inclusive). Derived from the seed:
# template generation and pipelines not before Assembly (Planning forbids them); deployment
# not before Validation (Security forbids it); planning not after Security (Validation locks
# it); architecture changes not after Pipeline (Deployment blocks them).
CATEGORY_WINDOWS: dict[TaskCategory, tuple[LifecyclePhase, LifecyclePhase]] = {
    C.TEMPLATE_GENERATION: (P.ASSEMBLY, P.DELIVERY_COMPLETE),
    C.PIPELINE: (P.ASSEMBLY, P.DELIVERY_COMPLETE),
    C.DEPLOYMENT: (P.VALIDATION, P.DELIVERY_COMPLETE),
    C.PLANNING: (P.INITIALIZATION, P.SECURITY),
    C.ARCHITECTURE: (P.INITIALIZATION, P.PIPELINE),
    C.FINALIZATION: (P.INITIALIZATION, P.DELIVERY_COMPLETE),
}

DISALLOWED_IN_PHASE: dict[LifecyclePhase, frozenset[TaskCategory]] = {
    phase: frozenset(
        cat
        for cat, (first, last) in CATEGORY_WINDOWS.items()
        if not first.index <= phase.index <= last.index
    )
    for phase in LifecyclePhase
}

# Why, in the seed's words where it has some, for error messages and audit entries.
CONSTRAINT_TEXT: dict[LifecyclePhase, str] = {
    P.PLANNING: "no template generation or pipelines during Planning",
    P.SECURITY: "cannot deploy or release to prod during Security",
    P.VALIDATION: "agent planning is locked during Validation",
    P.DEPLOYMENT: "planning and architecture changes are blocked during Deployment",
}


@lru_cache(maxsize=4096)
def categorize(task_type: str) -> frozenset[TaskCategory]:
    """Categories of a task type (possibly empty: most work is unconstrained)."""
    return frozenset(cat for cat, pattern in CATEGORY_PATTERNS if pattern.search(task_type))


def forbidden_categories(task_type: str, phase: LifecyclePhase) -> frozenset[TaskCategory]:
    """The categories of ``task_type`` that ``phase`` forbids (empty when allowed)."""
    return categorize(task_type) & DISALLOWED_IN_PHASE.get(phase, frozenset())


def phase_constraint_violation(task_type: str, phase: LifecyclePhase) -> str | None:
    """A sentence explaining why ``task_type`` may not run in ``phase``, or ``None``."""
    bad = forbidden_categories(task_type, phase)
    if not bad:
        return None
    cats = ", ".join(sorted(c.value for c in bad))
    if phase in CONSTRAINT_TEXT and bad & SEED_CONSTRAINTS[phase]:
        why = CONSTRAINT_TEXT[phase]
    else:
        why = "; ".join(
            f"{c.value} work runs only from {CATEGORY_WINDOWS[c][0].value} to "
            f"{CATEGORY_WINDOWS[c][1].value}"
            for c in sorted(bad)
        )
    return f"{task_type} is {cats} work: {why}"
