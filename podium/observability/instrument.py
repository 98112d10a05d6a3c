"""``@traced``: one decorator that gives an activity (or any function taking a job dict) its
span and log context, so activities need no observability boilerplate.

Why a decorator keyed on the job: Durable activities receive one JSON input; Podium's jobs carry
``traceId``, ``tenantId``, ``projectId`` and often ``taskId`` / ``agentId`` / ``traceparent``.
Reading them in one place keeps every activity's span in its flow's trace and every log line
inside it correlated, without each activity repeating ``bind_context`` + ``start_span``.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from opentelemetry.trace import SpanKind

from podium.observability.logging import bind_context
from podium.observability.tracing import start_span

__all__ = ["job_context", "traced"]

F = TypeVar("F", bound=Callable[..., Any])
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_CONTEXT_KEYS = ("tenantId", "projectId", "taskId", "agentId", "flow", "instanceId")


def job_context(job: Any) -> dict[str, Any]:
    """Correlation fields of a job dict (missing or malformed ones are left out)."""
    if not isinstance(job, Mapping):
        return {}
    out = {k: job[k] for k in _CONTEXT_KEYS if isinstance(job.get(k), str | int) and job.get(k)}
    task = job.get("task")
    if "taskId" not in out and isinstance(task, Mapping) and isinstance(task.get("taskId"), str):
        out["taskId"] = task["taskId"]
    trace_id = job.get("traceId")
    if isinstance(trace_id, str) and _TRACE_ID.match(trace_id.lower()) and int(trace_id, 16):
        out["traceId"] = trace_id.lower()
    parent = job.get("traceparent")
    if isinstance(parent, str):
        out["traceparent"] = parent
    return out


def _first_mapping(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Mapping):
            return value
    return None


def traced(name: str | None = None, *, kind: SpanKind = SpanKind.INTERNAL) -> Callable[[F], F]:
    """Run the function inside ``start_span`` and ``bind_context`` built from its first
    mapping argument (the job). Span name defaults to ``activity <function name>``.

    Works on sync and async functions; exceptions are recorded on the span and re-raised. A
    job without a valid traceId still gets a span (in a new trace) and runs normally.
    """

    def decorate(fn: F) -> F:
        span_name = name or f"activity {fn.__name__}"

        def enter(args: tuple[Any, ...], kwargs: dict[str, Any]):
            ctx = job_context(_first_mapping(args, kwargs))
            trace_id = ctx.pop("traceId", None)
            parent = ctx.pop("traceparent", None)
            if parent and trace_id and not parent.lower().startswith(f"00-{trace_id}-"):
                parent = None  # a stale traceparent of another flow must not re-parent us
            attributes = {f"podium.{k}": str(v) for k, v in ctx.items()}
            snake = {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): v for k, v in ctx.items()}
            return (
                bind_context(trace_id=trace_id, **snake),
                start_span(
                    span_name,
                    trace_id=trace_id,
                    parent_traceparent=parent,
                    attributes=attributes,
                    kind=kind,
                ),
            )

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                context, span = enter(args, kwargs)
                with context, span:
                    return await fn(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            context, span = enter(args, kwargs)
            with context, span:
                return fn(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
