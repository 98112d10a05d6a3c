"""Task categories and the seed's phase-constraint table.

The seed forbids kinds of work per phase ("Planning: no template generation or pipelines",
"Security: cannot deploy or release to prod", "Validation: agent planning is locked",
"Deployment: planning and architecture changes blocked"). Task types are free-form strings, so
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

# Phase -> categories that may not run while the project is in that phase (the seed's table).
DISALLOWED_IN_PHASE: dict[LifecyclePhase, frozenset[TaskCategory]] = {
    P.PLANNING: frozenset({C.TEMPLATE_GENERATION, C.PIPELINE}),
    P.SECURITY: frozenset({C.DEPLOYMENT}),
    P.VALIDATION: frozenset({C.PLANNING}),
    P.DEPLOYMENT: frozenset({C.PLANNING, C.ARCHITECTURE}),
}

# Why, in the seed's words, for error messages and audit entries.
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
    return f"{task_type} is {cats} work: {CONSTRAINT_TEXT[phase]}"
