"""Correlation of agent work with the flow's trace and logs.

Why: the seed wants every action traceable by traceId. Inside a task scope, every log record
carries traceId, tenantId, projectId, taskId and agentId (podium.observability's log context),
and the handler runs in a span of the flow's trace, so an agent's work shows up in the same
trace as the orchestration that scheduled it. The agents also run where the observability
package is absent (a bare agent process); then the scope does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from podium.agents.messages import AgentTask

_W3C_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@contextmanager
def task_scope(task: AgentTask) -> Iterator[None]:
    """Bind the task's correlation fields to logs and run inside a span of its trace."""
    try:
        from opentelemetry.trace import SpanKind

        from podium.observability.logging import bind_context
        from podium.observability.tracing import start_span
    except ImportError:  # pragma: no cover - depends on the installation
        yield
        return
    fields = {"trace_id": task.trace_id, "tenant_id": task.tenant_id,
              "project_id": task.project_id, "task_id": task.task_id,
              "agent_id": task.agent_id, "task_type": task.task_type,
              "attempt": task.attempt}
    with bind_context(**fields):
        trace_id = task.trace_id.lower()
        if not _W3C_TRACE_ID.match(trace_id) or not int(trace_id, 16):
            yield  # not a W3C trace id (e.g. a hand-written test task): logs only
            return
        attributes = {"podium.agent_id": task.agent_id, "podium.task_type": task.task_type,
                      "podium.task_id": task.task_id, "podium.attempt": task.attempt,
                      "podium.tenant_id": task.tenant_id, "podium.project_id": task.project_id}
        with start_span(f"agent {task.agent_id} {task.task_type}", trace_id=trace_id,
                        attributes=attributes, kind=SpanKind.CONSUMER):
            yield
