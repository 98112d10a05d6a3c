"""``project_coordinator`` entity (key: projectId): the ProjectOrchestrationCoordinator.

Operations (input → result): ``init``, ``get``, ``check_tasks``, ``flow_started``,
``expect_flows``, ``flow_finished``, ``record_approval``, ``manual_advance``,
``upstream_reached``, ``upstream_failed``, ``register_child``. A refused operation returns
``{"error": "..."}`` instead of raising, so a caller (orchestration or HTTP) gets a clear
answer and the entity's state is left as it was (nothing half-applied).
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from entities import bp
from podium.coordination.coordinator import CoordinatorError, ProjectCoordinator
from podium.domain import DomainError
from podium.domain.flows import default_catalog
from podium.domain.lifecycle import decide_task


def _decide(phase: str, task_type: str, task_phase: str | None) -> dict[str, Any]:
    decision = decide_task(phase, task_type, task_phase=task_phase, catalog=default_catalog())
    return decision.model_dump(by_alias=True, mode="json")


def apply_operation(state: ProjectCoordinator, operation: str, data: dict[str, Any]) -> Any:
    """Run one operation on the coordinator state (pure apart from the cached flow catalog)."""
    rules = default_catalog().lifecycle
    handlers = {
        "init": lambda: state.init(data),
        "get": lambda: state.to_dict(),
        "check_tasks": lambda: state.check_tasks(data, _decide),
        "flow_started": lambda: state.flow_started(data),
        "expect_flows": lambda: state.expect_flows(data),
        "flow_finished": lambda: _finished(state, data, rules),
        "record_approval": lambda: state.record_approval(data),
        "manual_advance": lambda: state.manual_advance(data, rules),
        "upstream_reached": lambda: state.upstream_reached(data),
        "upstream_failed": lambda: state.upstream_failed_op(data),
        "register_child": lambda: state.register_child(data),
    }
    if operation not in handlers:
        raise CoordinatorError(f"unknown operation {operation!r}; known: {sorted(handlers)}")
    return handlers[operation]()


def _finished(state: ProjectCoordinator, data: dict[str, Any], rules) -> Any:
    expect = data.get("expect")
    if expect:
        state.expect_flows(expect)
    return state.flow_finished(data, rules)


@bp.entity_trigger(context_name="context", entity_name="project_coordinator")
def project_coordinator(context: df.DurableEntityContext) -> None:
    saved = context.get_state(lambda: None)
    state = ProjectCoordinator.from_dict(saved)
    data = _decoded(context.get_input())
    try:
        result = apply_operation(state, context.operation_name, data)
    except (CoordinatorError, DomainError, ValueError) as exc:
        context.set_result({"error": str(exc)})
        if saved is not None:
            context.set_state(saved)
        return
    context.set_state(state.to_dict())
    context.set_result(result)


def _decoded(value: Any) -> dict[str, Any]:
    """Operation input; the SDK client double-encodes what it signals, so decode strings."""
    import json

    for _ in range(3):
        if not isinstance(value, str):
            break
        value = json.loads(value)
    return value if isinstance(value, dict) else {}
