"""Declarative flow definitions (``flows/*.yaml``) and the catalog that loads them.

A flow file describes one of the seed's orchestrators as a graph template: tasks with agent,
dependencies, templates, per-task policies, human checkpoints and ``${parameter}`` inputs.
:meth:`FlowDefinition.build_graph` turns it into an :class:`ExecutionGraph` for concrete
parameters. ``flows/lifecycle.yaml`` holds the phase transition rules and ``flows/routing.yaml``
the event routing registry; :func:`load_catalog` loads and cross-checks all of them.

Loading reads files, so do it in activities, the router or at import time of the app, not
inside orchestrator code; :func:`default_catalog` caches the repository's catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from ._base import DomainModel, format_validation_errors
from ._templating import placeholders, substitute
from .errors import DomainError, FlowDefinitionError
from .graph import ExecutionGraph
from .lifecycle import LifecycleRules
from .phases import LifecyclePhase
from .policies import RetryPolicy
from .routing import RoutingRegistry, instance_id_for
from .task import HumanTaskSpec, OrchestrationTask, Timestamp, format_timestamp

REPO_FLOWS_DIR = Path(__file__).resolve().parents[2] / "flows"
LIFECYCLE_FILE = "lifecycle.yaml"
ROUTING_FILE = "routing.yaml"
BUILTIN_PARAMETERS = ("projectId", "tenantId")


class ParameterSpec(DomainModel):
    """A flow parameter (``${name}`` in inputs)."""

    required: bool = True
    default: Any = None
    description: str = ""


class FlowDefaults(DomainModel):
    """Policies applied to every task of a flow that does not set its own."""

    retry_policy: RetryPolicy | None = None
    timeout_sec: int | None = Field(default=None, gt=0)


class TaskDefinition(DomainModel):
    """One task of a flow; fields mirror :class:`OrchestrationTask` (camelCase in YAML)."""

    task_id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    agent_id: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    inputs: dict[str, Any] = Field(default_factory=dict)
    templates: list[str] = Field(default_factory=list)
    retry_policy: RetryPolicy | None = None
    timeout_sec: int | None = Field(default=None, gt=0)
    optional: bool = False
    fallback_agent: str | None = None
    priority: int = 0
    human: HumanTaskSpec | None = None
    emits: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _agent_or_human(self) -> TaskDefinition:
        if self.human is None and not self.agent_id:
            raise ValueError(f"task {self.task_id}: needs an agentId or a human checkpoint")
        if self.human is not None and self.agent_id:
            raise ValueError(f"task {self.task_id}: a human checkpoint has no agentId")
        return self


class FlowDefinition(DomainModel):
    """One flow file."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    phase: LifecyclePhase
    orchestrator: str | None = None
    description: str = ""
    instance_key: str | None = None
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    defaults: FlowDefaults = Field(default_factory=FlowDefaults)
    emits: list[str] = Field(default_factory=list)
    tasks: list[TaskDefinition] = Field(min_length=1)

    @field_validator("parameters", mode="before")
    @classmethod
    def _param_shorthand(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: (v if v is not None else {}) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _placeholders_declared(self) -> FlowDefinition:
        known = set(self.parameters) | set(BUILTIN_PARAMETERS)
        for task in self.tasks:
            unknown = sorted(placeholders(task.inputs) - known)
            if unknown:
                raise ValueError(
                    f"task {task.task_id}: inputs use undeclared parameter(s) "
                    + ", ".join(f"${{{u}}}" for u in unknown)
                )
        unknown_key = sorted(placeholders(self.instance_key or "") - known)
        if unknown_key:
            raise ValueError(f"instanceKey uses undeclared parameter(s) {', '.join(unknown_key)}")
        return self

    def resolve_parameters(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters with defaults applied; raises naming every missing required one."""
        out = dict(parameters)
        missing = []
        for name, spec in self.parameters.items():
            if name not in out or out[name] in (None, ""):
                if spec.default is not None:
                    out[name] = spec.default
                elif spec.required:
                    missing.append(name)
        if missing:
            raise DomainError(f"flow {self.name}: missing parameter(s) {', '.join(missing)}")
        return out

    def instance_key_for(self, parameters: Mapping[str, Any]) -> str | None:
        """The instance key for these parameters (``None``: one instance per project)."""
        if not self.instance_key:
            return None
        return str(substitute(self.instance_key, parameters, f"flow {self.name}.instanceKey"))

    def build_graph(
        self,
        parameters: Mapping[str, Any] | None = None,
        *,
        project_id: str | None = None,
        tenant_id: str | None = None,
        graph_id: str | None = None,
        trigger_event: str | None = None,
        at: Timestamp | None = None,
    ) -> ExecutionGraph:
        """A fresh, validated graph for these parameters (``${...}`` inputs filled in).

        ``projectId`` / ``tenantId`` are available to inputs as built-in parameters.
        ``@vault:`` references are left as they are: resolving them is an activity's job.
        """
        values = self.resolve_parameters(parameters or {})
        if project_id is not None:
            values.setdefault("projectId", project_id)
        if tenant_id is not None:
            values.setdefault("tenantId", tenant_id)
        tasks = []
        for t in self.tasks:
            where = f"flow {self.name}, task {t.task_id}.inputs"
            tasks.append(
                OrchestrationTask(
                    t.task_id,
                    t.type,
                    agent_id=t.agent_id,
                    depends_on=t.depends_on,
                    inputs=substitute(t.inputs, values, where),
                    phase=None,
                    retry_policy=t.retry_policy or self.defaults.retry_policy,
                    timeout_sec=t.timeout_sec or (None if t.human else self.defaults.timeout_sec),
                    optional=t.optional,
                    fallback_agent=t.fallback_agent,
                    human=t.human,
                    priority=t.priority,
                    templates=t.templates,
                    trigger_event=trigger_event,
                    created_at=format_timestamp(at),
                    extra={"emits": list(t.emits)} if t.emits else None,
                )
            )
        return ExecutionGraph(
            tasks,
            graph_id=graph_id,
            flow=self.name,
            phase=self.phase,
            parameters=values,
            at=at,
        )

    def task_types(self) -> list[str]:
        """Task types in declaration order."""
        return [t.type for t in self.tasks]

    def agents(self) -> set[str]:
        """Every agent (and fallback agent) the flow may dispatch to."""
        out = {t.agent_id for t in self.tasks if t.agent_id}
        return out | {t.fallback_agent for t in self.tasks if t.fallback_agent}


class PlannedFlow(DomainModel):
    """One flow instance to start (fan-out result)."""

    flow: str
    instance_key: str | None
    instance_id: str
    parameters: dict[str, Any]

    def graph(self, catalog: FlowCatalog | None = None) -> ExecutionGraph:
        """Build this instance's graph from the catalog."""
        cat = catalog or default_catalog()
        return cat.flow(self.flow).build_graph(self.parameters, graph_id=self.instance_id)


class FlowCatalog:
    """All flows, the lifecycle rules and the routing registry, cross-checked."""

    def __init__(
        self,
        flows: Mapping[str, FlowDefinition],
        lifecycle: LifecycleRules,
        routing: RoutingRegistry,
        *,
        known_agents: Iterable[str] | None = None,
    ) -> None:
        self.flows: dict[str, FlowDefinition] = dict(flows)
        self.lifecycle = lifecycle
        self.routing = routing
        problems: list[str] = []
        for name in sorted(lifecycle.flows_required() - set(self.flows)):
            problems.append(f"{LIFECYCLE_FILE}: rule requires unknown flow {name!r}")
        for name in sorted(routing.flows() - set(self.flows)):
            problems.append(f"{ROUTING_FILE}: route starts unknown flow {name!r}")
        problems.extend(f"{ROUTING_FILE}: {p}" for p in routing.check_placeholders())
        if known_agents is not None:
            agents = set(known_agents)
            for flow in self.flows.values():
                for agent in sorted(flow.agents() - agents):
                    problems.append(f"flow {flow.name}: unknown agent {agent!r}")
        if problems:
            raise FlowDefinitionError("; ".join(problems))

    def flow(self, name: str) -> FlowDefinition:
        """The flow called ``name``; the error lists the known ones."""
        try:
            return self.flows[name]
        except KeyError:
            known = ", ".join(sorted(self.flows))
            raise DomainError(f"unknown flow {name!r}; known flows: {known}") from None

    def flows_for_phase(self, phase: LifecyclePhase | str) -> list[FlowDefinition]:
        """Flows belonging to ``phase``, by name."""
        p = LifecyclePhase.parse(phase)
        return [f for _, f in sorted(self.flows.items()) if f.phase is p]

    def plan_microservice_flows(
        self, services: Iterable[Mapping[str, Any]], *, project_id: str
    ) -> list[PlannedFlow]:
        """Fan-out: one microservice-assembly instance per planned service.

        ``services`` items need ``microserviceId`` (or ``id``) and ``name`` (or
        ``serviceName``). Order is kept, duplicates (same id) are dropped, so a re-planned
        list yields the same instances.
        """
        flow = self.flow("microservice-assembly")
        out: list[PlannedFlow] = []
        seen: set[str] = set()
        for i, svc in enumerate(services):
            if not isinstance(svc, Mapping):
                raise DomainError(f"services[{i}]: must be an object")
            sid = svc.get("microserviceId") or svc.get("id")
            name = svc.get("name") or svc.get("serviceName")
            if not sid or not name:
                raise DomainError(f"services[{i}]: needs microserviceId and name")
            if sid in seen:
                continue
            seen.add(sid)
            params = flow.resolve_parameters({"serviceName": name, "microserviceId": sid})
            key = flow.instance_key_for(params)
            out.append(
                PlannedFlow(
                    flow=flow.name,
                    instance_key=key,
                    instance_id=instance_id_for(flow.name, project_id, key),
                    parameters=params,
                )
            )
        return out


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise FlowDefinitionError(f"{path.name}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise FlowDefinitionError(f"{path.name}: invalid YAML ({exc})") from None


def _validate(model: type[DomainModel], data: Any, label: str) -> Any:
    if not isinstance(data, Mapping):
        raise FlowDefinitionError(f"{label}: top level must be a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FlowDefinitionError(f"{label}: " + "; ".join(format_validation_errors(exc))) from None


def load_flow(path: str | Path) -> FlowDefinition:
    """Load and validate one flow file, including a trial graph build (cycles, unknown
    dependencies, task types forbidden in the flow's phase)."""
    p = Path(path)
    flow: FlowDefinition = _validate(FlowDefinition, _read_yaml(p), p.name)
    if flow.name != p.stem:
        raise FlowDefinitionError(f"{p.name}: name {flow.name!r} must match the file name")
    trial = {name: f"<{name}>" for name in flow.parameters}
    try:
        flow.build_graph(trial, project_id="<projectId>", tenant_id="<tenantId>")
    except DomainError as exc:
        raise FlowDefinitionError(f"{p.name}: {exc}") from None
    return flow


def load_lifecycle(path: str | Path) -> LifecycleRules:
    """Load ``lifecycle.yaml``."""
    p = Path(path)
    return _validate(LifecycleRules, _read_yaml(p), p.name)


def load_routing(path: str | Path) -> RoutingRegistry:
    """Load ``routing.yaml``."""
    p = Path(path)
    return _validate(RoutingRegistry, _read_yaml(p), p.name)


def load_catalog(
    directory: str | Path | None = None, *, known_agents: Iterable[str] | None = None
) -> FlowCatalog:
    """Load every ``*.yaml`` flow plus lifecycle and routing files from ``directory``
    (default: the repository's ``flows/``) and cross-check them."""
    d = Path(directory) if directory is not None else REPO_FLOWS_DIR
    if not d.is_dir():
        raise FlowDefinitionError(f"flow directory {d} does not exist")
    flows: dict[str, FlowDefinition] = {}
    for path in sorted(d.glob("*.yaml")):
        if path.name in (LIFECYCLE_FILE, ROUTING_FILE):
            continue
        flow = load_flow(path)
        flows[flow.name] = flow
    return FlowCatalog(
        flows,
        load_lifecycle(d / LIFECYCLE_FILE),
        load_routing(d / ROUTING_FILE),
        known_agents=known_agents,
    )


@lru_cache(maxsize=1)
def default_catalog() -> FlowCatalog:
    """The repository's catalog, loaded once per process."""
    return load_catalog()


def plan_microservice_flows(
    services: Iterable[Mapping[str, Any]],
    *,
    project_id: str,
    catalog: FlowCatalog | None = None,
) -> list[PlannedFlow]:
    """Module-level shortcut for :meth:`FlowCatalog.plan_microservice_flows`."""
    return (catalog or default_catalog()).plan_microservice_flows(services, project_id=project_id)
