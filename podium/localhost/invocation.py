"""Calling a user function the way the Python worker does.

Sync functions run in a thread pool (``PYTHON_THREADPOOL_THREAD_COUNT`` threads) so one slow
function never stalls the event loop; async functions run on the host's event loop. Every
invocation gets an id, a ``func.Context`` when the function asks for ``context``, and log lines
that carry the function name and invocation id (the engine's ``logcontext``, shared so every
function kind logs the same way).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func
from azure.functions import _abc as func_abc

from podium.localhost.api import FunctionInfo
from podium.localhost.engine import logcontext

log = logging.getLogger("podium.localhost")

class _TraceContext(func_abc.TraceContext):
    def __init__(self) -> None:
        self._traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._traceparent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(func_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class LocalContext(func.Context):
    """``func.Context`` for one invocation."""

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._tls = threading.local()
        self._trace = _TraceContext()
        self._retry = _RetryContext()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._tls

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> func_abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> func_abc.RetryContext:
        return self._retry


def parameter_names(fn: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def binding_of(info: FunctionInfo, binding_type: str) -> dict[str, Any] | None:
    """The first binding of a given ``type`` (e.g. ``durableClient``), or None."""
    for binding in info.bindings:
        if _plain(binding.get("type")) == binding_type:
            return binding
    return None


def _plain(value: Any) -> Any:
    """Binding dicts hold enums (AuthLevel, HttpMethod ...); compare by their value."""
    return getattr(value, "value", value)


class OutValue(func.Out):  # type: ignore[type-arg]
    """What a ``func.Out[...]`` output-binding parameter receives."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


OutputHandler = Callable[[FunctionInfo, dict[str, Any], Any], None]


def output_bindings(info: FunctionInfo) -> list[dict[str, Any]]:
    """Output bindings other than the HTTP response (``http``)."""
    return [
        b for b in info.bindings
        if str(_plain(b.get("direction"))).lower() in ("1", "out", "inout")
        and _plain(b.get("type")) != "http"
    ]


class Invoker:
    """Runs user functions: sync ones on the pool, async ones on the running loop.

    Output bindings (``func.Out`` parameters, or ``$return``) are handed to ``output_handler``
    after the function succeeded, as the worker does; a failed invocation sends nothing."""

    def __init__(
        self,
        thread_count: int = 16,
        function_directory: str = ".",
        output_handler: OutputHandler | None = None,
    ) -> None:
        self.pool = ThreadPoolExecutor(max_workers=thread_count, thread_name_prefix="podium-fn")
        self.function_directory = function_directory
        self.output_handler = output_handler

    async def invoke(self, info: FunctionInfo, kwargs: dict[str, Any]) -> tuple[Any, str]:
        """Call ``info.user_function(**kwargs)``; returns ``(result, invocation_id)``.

        Exceptions from user code propagate; the caller decides (HTTP 500, abandon ...)."""
        fn = info.user_function
        if fn is None:
            raise RuntimeError(f"function {info.name!r} has no user code")
        logcontext.install()
        invocation_id = str(uuid.uuid4())
        params = parameter_names(fn)
        call_kwargs = {k: v for k, v in kwargs.items() if k in params or not params}
        if "context" in params and "context" not in call_kwargs:
            call_kwargs["context"] = LocalContext(invocation_id, info.name,
                                                  self.function_directory)
        outs: list[tuple[dict[str, Any], OutValue | None]] = []
        for binding in output_bindings(info):
            name = binding.get("name")
            if name == "$return":
                outs.append((binding, None))
            elif name in params and name not in call_kwargs:
                call_kwargs[name] = out = OutValue()
                outs.append((binding, out))
        started = time.perf_counter()
        with logcontext.invocation(info.name, invocation_id):
            log.info("Executing '%s' (Id=%s)", info.name, invocation_id)
            try:
                if inspect.iscoroutinefunction(fn):
                    result = await fn(**call_kwargs)
                else:
                    loop = asyncio.get_running_loop()
                    ctx = contextvars.copy_context()
                    result = await loop.run_in_executor(
                        self.pool, functools.partial(ctx.run, fn, **call_kwargs)
                    )
                    if inspect.isawaitable(result):
                        result = await result
            except Exception as exc:
                log.info("Executed '%s' (Failed, Id=%s, Duration=%.0fms): %s: %s", info.name,
                         invocation_id, (time.perf_counter() - started) * 1000,
                         type(exc).__name__, exc)
                raise
            for binding, out in outs:
                value = result if out is None else out.get()
                if value is not None and self.output_handler is not None:
                    await asyncio.to_thread(self.output_handler, info, binding, value)
            log.info("Executed '%s' (Succeeded, Id=%s, Duration=%.0fms)", info.name,
                     invocation_id, (time.perf_counter() - started) * 1000)
            return result, invocation_id

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
