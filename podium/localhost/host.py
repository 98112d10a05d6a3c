"""``LocalHost``: runs a Functions app (``function_app.app``) with no Azure and no .NET host.

It composes the parts: settings (``settings.py``), the app's function index (indexed once),
the durable engine on its task hub store (``PODIUM_DURABLE_STORE``: SQLite
``<data_dir>/<hubName>.sqlite`` by default, or Azure Storage / Azurite), the embedded Service
Bus broker (``<data_dir>/<hubName>-servicebus.sqlite``), Service Bus and timer trigger runners,
and one ASGI app (HTTP triggers + Durable HTTP API) served by uvicorn on ``port`` — or, with
``port=None``, reachable in-process only (tests): the SDK client's calls are then routed to the
ASGI app without a socket.

Threads: an asyncio loop thread runs uvicorn, the pumps and timers and every async user
function; sync user functions run on a thread pool; the engine has its own dispatcher thread.
Bad input never stops the host: user exceptions become HTTP 500 / abandoned messages, unknown
names HTTP 404, poison messages end in a dead-letter queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from podium.localhost import client as client_mod
from podium.localhost.api import FunctionInfo
from podium.localhost.asgi import build_app, origin_of
from podium.localhost.broker import Broker, BrokerError, Topology, podium_topology, registry
from podium.localhost.broker.topology import (
    QueueSpec,
    SubscriptionSpec,
    TopicSpec,
    TopologyError,
)
from podium.localhost.clock import SystemClock
from podium.localhost.engine import Engine, EngineOptions, SqliteStore
from podium.localhost.engine.store import DurableStore
from podium.localhost.functions import FunctionIndex
from podium.localhost.http_api import DurableHttpApi
from podium.localhost.http_triggers import HttpTriggers, RouteError
from podium.localhost.invocation import Invoker
from podium.localhost.servicebus_triggers import (
    ServiceBusPump,
    resolve_setting,
    service_bus_functions,
    trigger_path,
)
from podium.localhost.settings import (
    DATA_DIR_SETTING,
    HostSettings,
    export_values,
    load_settings,
    unexport_values,
)
from podium.localhost.timer_triggers import (
    ScheduleError,
    ScheduleMonitor,
    TimerRunner,
    timer_functions,
)

log = logging.getLogger("podium.localhost.host")
T = TypeVar("T")

_import_lock = threading.Lock()
_app_modules: dict[str, list[str]] = {}  # app dir -> module names its last import added


class HostStartError(RuntimeError):
    """The host could not start (bad settings, app import failure, port in use ...)."""


class StoreUnavailable(HostStartError):
    """The task hub's storage could not be reached or refused us (a runtime failure, not a
    usage error: the same command may work once the storage is up)."""


def import_app(app_dir: Path) -> Any:
    """Import ``function_app.app`` from ``app_dir`` as a fresh module object.

    Fresh, because ``app.get_functions()`` works once per app object: every host gets its own
    import of the app's modules (those under ``app_dir``, except the ``podium`` package). The
    working directory is ``app_dir`` during the import, because the SDK reads ``host.json``
    from the CWD when it is first imported."""
    app_dir = app_dir.resolve()
    path = app_dir / "function_app.py"
    if not path.exists():
        raise HostStartError(f"{path} not found: --app-dir must hold function_app.py")
    with _import_lock:
        for name in _app_modules.pop(str(app_dir), []):
            sys.modules.pop(name, None)
        before = set(sys.modules)
        cwd = os.getcwd()
        if str(app_dir) not in sys.path:
            sys.path.insert(0, str(app_dir))
        name = f"podium_app_{secrets.token_hex(4)}"
        try:
            os.chdir(app_dir)
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise HostStartError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            os.chdir(cwd)
        added = []
        for mod_name in set(sys.modules) - before:
            file = getattr(sys.modules[mod_name], "__file__", None) or ""
            if mod_name.split(".")[0] != "podium" and file.startswith(str(app_dir) + os.sep):
                added.append(mod_name)
        _app_modules[str(app_dir)] = added
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_functions"):
        raise HostStartError(f"{path} defines no Functions app named `app`")
    return app


TOPOLOGY_FILE = "servicebus-topology.json"
DURABLE_STORE_SETTING = "PODIUM_DURABLE_STORE"
STORAGE_SETTING = "AzureWebJobsStorage"


def durable_store_kinds() -> tuple[str, ...]:
    """The values ``PODIUM_DURABLE_STORE`` accepts, from the app's settings model (one list)."""
    from typing import get_args

    from podium.settings import Settings

    return tuple(get_args(Settings.model_fields["durable_store"].annotation))


def open_durable_store(settings: HostSettings) -> DurableStore:
    """The task hub store ``PODIUM_DURABLE_STORE`` selects: ``sqlite`` (default,
    ``<data_dir>/<hub>.sqlite``) or ``azure-storage`` (tables + blobs of the account in
    ``AzureWebJobsStorage``, e.g. ``UseDevelopmentStorage=true`` for Azurite). Errors name the
    setting, never its value (a connection string holds the account key)."""
    kind = (settings.get(DURABLE_STORE_SETTING) or "").strip() or "sqlite"
    kinds = durable_store_kinds()
    if kind not in kinds:
        raise HostStartError(f"{DURABLE_STORE_SETTING}: expected one of {', '.join(kinds)}, "
                             f"got {kind!r}")
    if kind == "sqlite":
        return SqliteStore(settings.data_dir / f"{settings.hub_name}.sqlite")
    connection = (settings.get(STORAGE_SETTING) or "").strip()
    if not connection:
        raise HostStartError(f"{DURABLE_STORE_SETTING}=azure-storage needs {STORAGE_SETTING} "
                             "(a storage connection string, or UseDevelopmentStorage=true for "
                             "Azurite on its default ports)")
    from azure.core.exceptions import AzureError

    from podium.adapters.durable_azure_storage import AzureStorageDurableStore

    try:
        return AzureStorageDurableStore(connection, settings.hub_name)
    except ValueError as exc:  # malformed connection string
        raise HostStartError(f"{STORAGE_SETTING}: not a usable storage connection string "
                             f"({type(exc).__name__})") from None
    except AzureError as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        status = getattr(exc, "status_code", None)
        what = f"HTTP {status} {reason}" if status else "storage unreachable"
        raise StoreUnavailable(
            f"{STORAGE_SETTING}: cannot open task hub {settings.hub_name!r} in Azure Storage "
            f"({what}); is Azurite running (npx azurite) or the account reachable?") from None


def load_topology(app_dir: Path) -> Topology:
    """``<app_dir>/servicebus-topology.json`` when present, else Podium's own topology."""
    path = app_dir / TOPOLOGY_FILE
    if not path.exists():
        return podium_topology()
    try:
        return Topology.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TopologyError) as exc:
        raise HostStartError(f"{path}: {exc}") from exc


def ensure_trigger_entities(broker: Broker, functions: list[FunctionInfo],
                            settings: HostSettings) -> list[str]:
    """Create any queue / topic / subscription a trigger listens on that the topology does not
    declare (subscriptions get the match-all rule). Returns the created paths."""
    existing = {path for path, _ in broker.entities()}
    created = []
    for info in service_bus_functions(functions):
        path = trigger_path(info, settings.get)
        if path in existing:
            continue
        if "/Subscriptions/" in path:
            topic, sub = path.split("/Subscriptions/", 1)
            if topic not in existing:
                broker.create_topic(TopicSpec(topic))
                existing.add(topic)
            broker.create_subscription(topic, SubscriptionSpec(sub))
        else:
            broker.create_queue(QueueSpec(path))
        existing.add(path)
        created.append(path)
    return created


def _bound_socket(bind: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves: a clear error when the port is taken, and the real
    port at once when 0 was asked for."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            bind, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise HostStartError(f"could not serve on {bind}:{port}: {exc.strerror or exc}") from None
    return sock


def _url_host(bind: str) -> str:
    return f"[{bind}]" if ":" in bind else bind


def _watched(task: asyncio.Task[Any], name: str) -> asyncio.Task[Any]:
    """A runner that dies is a host bug; say so loudly instead of going quiet."""
    def done(t: asyncio.Task[Any]) -> None:
        if not t.cancelled() and t.exception() is not None:
            log.error("trigger runner for %r stopped: %r", name, t.exception(),
                      exc_info=t.exception())

    task.add_done_callback(done)
    return task


class LocalHost:
    """The local Functions host for one app directory. ``start()`` / ``stop()``."""

    def __init__(
        self,
        app_dir: Path | str,
        port: int | None = 7071,
        clock: Any | None = None,
        data_dir: Path | str | None = None,
        bind: str = "127.0.0.1",
        topology: Topology | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        self.app_dir = Path(app_dir).resolve()
        self.port = port
        self.bind = bind
        self.clock = clock or SystemClock()
        self.poll_seconds = poll_seconds
        self.settings = load_settings(self.app_dir, data_dir=data_dir)
        self._explicit_data_dir = data_dir is not None
        self.topology = topology if topology is not None else load_topology(self.app_dir)
        self.rpc_token = secrets.token_urlsafe(18)
        self.base_url = ""
        self.engine: Engine | None = None
        self.broker: Broker | None = None
        self.functions: list[FunctionInfo] = []
        self.index: FunctionIndex | None = None
        self.asgi_app: Any = None
        self.pumps: list[ServiceBusPump] = []
        self.timers: list[TimerRunner] = []
        self.triggers: HttpTriggers | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._inproc_base: str | None = None
        self._unsubscribe: Any = None
        self._invoker: Invoker | None = None
        self._started = False
        self._exported: dict[str, str] = {}
        self._warned_outputs: set[tuple[str, Any]] = set()
        self._http: httpx.AsyncClient | None = None  # made on the host loop, reused

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalHost:
        """Import and index the app, open the stores, start serving. On any failure everything
        started so far is stopped again; bad app definitions raise HostStartError."""
        if self._started:
            return self
        try:
            self._start()
        except (RouteError, ScheduleError, TopologyError, BrokerError, ValueError) as exc:
            self.stop()
            raise HostStartError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def _start(self) -> None:
        s = self.settings
        self._exported = {}
        if self._explicit_data_dir and DATA_DIR_SETTING not in os.environ:
            # the app's own settings (podium.settings) must see the directory the host uses
            os.environ[DATA_DIR_SETTING] = str(s.data_dir)
            self._exported[DATA_DIR_SETTING] = str(s.data_dir)
        self._exported.update(export_values(s))
        s.data_dir.mkdir(parents=True, exist_ok=True)
        app = import_app(self.app_dir)
        self.index = FunctionIndex.from_app(app)
        self.functions = self.index.all()
        self._invoker = Invoker(s.thread_count, str(self.app_dir), self._send_output)
        store = open_durable_store(s)
        try:
            self.engine = Engine(self.index, store, self.clock, EngineOptions(
                task_hub=s.hub_name,
                max_concurrent_activities=s.max_concurrent_activities,
                max_concurrent_orchestrations=s.max_concurrent_orchestrators,
                thread_count=s.thread_count,
                worker_processes=s.worker_process_count,
                # worker processes (FUNCTIONS_WORKER_PROCESS_COUNT > 1) import the app by path
                app_path=f"{self.app_dir}/function_app.py:app",
            ))
        except BaseException:
            store.close()  # release the store (its lock) for the next attempt
            raise
        self.broker = Broker(s.data_dir / f"{s.hub_name}-servicebus.sqlite", self.clock)
        self.broker.apply_topology(self.topology)
        for path in ensure_trigger_entities(self.broker, self.functions, s):
            log.info("Service Bus entity %s created for a trigger (not in the topology)", path)
        registry.install(self.broker)

        api = DurableHttpApi(self.engine, s.durable_key, origin_of)
        self.triggers = HttpTriggers(self.functions, self._invoker, s.function_key, s.master_key,
                                     self._binding_for_request, s.route_prefix)
        self.asgi_app = build_app(api, self.triggers, self.rpc_token, s.master_key)
        if self.port is None:
            self._inproc_base = client_mod.register_inprocess_app(self.asgi_app)
            self.base_url = self._inproc_base
        else:
            client_mod.install_inprocess_transport()  # harmless; routes nothing for a port

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="podium-host-loop",
                                        daemon=True)
        self._thread.start()
        self.run(self._start_async())
        for name, methods, url in self.http_urls():
            log.info("HTTP function %s: [%s] %s", name, methods, url)
        self.engine.start()
        subscribe = getattr(self.clock, "subscribe", None)
        if subscribe is not None:
            self._unsubscribe = subscribe(self._wake_all)

    def _run_loop(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    async def _start_async(self) -> None:
        assert self.broker is not None and self._invoker is not None
        loop = asyncio.get_running_loop()
        if self.port is not None:
            import uvicorn

            sock = _bound_socket(self.bind, self.port)
            self.port = sock.getsockname()[1]
            self.base_url = f"http://{_url_host(self.bind)}:{self.port}"
            config = uvicorn.Config(self.asgi_app, log_level="warning", lifespan="off",
                                    access_log=False)
            self._server = uvicorn.Server(config)
            serve = loop.create_task(self._serve(sock))
            self._tasks.append(serve)
            while not self._server.started:
                if serve.done():
                    raise HostStartError(f"could not serve on {self.bind}:{self.port}: "
                                         f"{serve.exception() or 'uvicorn exited'}")
                await asyncio.sleep(0.01)
        for info in service_bus_functions(self.functions):
            pump = ServiceBusPump(
                info, trigger_path(info, self.settings.get), self.broker, self._invoker,
                self.client_binding, int(self.settings.service_bus["maxConcurrentCalls"]),
                self.poll_seconds, int(self.settings.service_bus["maxMessageBatchSize"]))
            self.pumps.append(pump)
            self._tasks.append(_watched(loop.create_task(pump.run()), info.name))
        monitor = ScheduleMonitor(self.settings.data_dir / "timer-status.json")
        for info in timer_functions(self.functions):
            timer = TimerRunner(info, self.clock, self._invoker, self.settings.get,
                                self.client_binding, self.poll_seconds, monitor)
            self.timers.append(timer)
            self._tasks.append(_watched(loop.create_task(timer.run()), info.name))
        self.broker.add_listener(self._on_broker_message)

    def stop(self) -> None:
        """Stop serving; wait briefly for running invocations; close the stores."""
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(Exception):
                self.run(self._stop_async(), timeout=15)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if self._loop is not None and not self._loop.is_running():
            self._loop.close()
        self._loop = None
        if self.engine is not None:
            self.engine.stop()
            with contextlib.suppress(Exception):
                self.engine.store.close()
        if self.broker is not None:
            registry.uninstall(self.broker)
            self.broker.close()
        if self._inproc_base:
            client_mod.unregister_inprocess_app(self._inproc_base)
        if self._invoker is not None:
            self._invoker.close()
        unexport_values(self._exported)
        self._exported = {}
        self._started = False

    async def _serve(self, sock: socket.socket) -> None:
        try:
            await self._server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn exits on startup errors; never kill the loop
            raise HostStartError(f"uvicorn stopped: exit code {exc.code}") from None

    async def _stop_async(self) -> None:
        if self.broker is not None:
            self.broker.remove_listener(self._on_broker_message)
        for timer in self.timers:
            timer.stop()
        for pump in self.pumps:
            await pump.stop()
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await client_mod.close_sdk_http_session()

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- wiring -------------------------------------------------------------------------------

    def _rpc_base(self) -> str:
        return f"{self.base_url}{client_mod.rpc_path(self.rpc_token)}/"

    def _binding_for_request(self, request: Any) -> str:
        return client_mod.client_binding_json(origin_of(request), self._rpc_base(),
                                              self.settings.hub_name, self.settings.durable_key)

    def client_binding(self) -> str:
        """The durable client binding JSON for a function with no HTTP request."""
        return client_mod.client_binding_json(self.base_url, self._rpc_base(),
                                              self.settings.hub_name, self.settings.durable_key)

    def _send_output(self, info: FunctionInfo, binding: dict[str, Any], value: Any) -> None:
        """Deliver an output binding's value: ``serviceBus`` goes to the embedded broker; other
        kinds are not emulated (logged once per function and kind)."""
        kind = getattr(binding.get("type"), "value", binding.get("type"))
        if kind != "serviceBus":
            if (info.name, kind) not in self._warned_outputs:
                self._warned_outputs.add((info.name, kind))
                log.warning("function %r: %s output bindings are not emulated by the local host; "
                            "value dropped", info.name, kind)
            return
        assert self.broker is not None
        target = binding.get("queueName") or binding.get("topicName") or ""
        entity = resolve_setting(str(target), self.settings.get)
        for item in value if isinstance(value, list) else [value]:
            body = item if isinstance(item, str | bytes) else json.dumps(item)
            self.broker.send(entity, body)

    def _on_broker_message(self, path: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for pump in self.pumps:
            if pump.path == path:
                loop.call_soon_threadsafe(pump.wake)

    def _wake_all(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for runner in (*self.pumps, *self.timers):
            loop.call_soon_threadsafe(runner.wake)

    # -- driving it (tests, CLI) ----------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60) -> T:
        """Run a coroutine on the host loop (where async user functions run) and wait."""
        if self._loop is None:
            raise RuntimeError("the host is not running")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def http_urls(self) -> list[tuple[str, str, str]]:
        """``(function, methods, url)`` of every HTTP function."""
        return self.triggers.urls(self.base_url) if self.triggers else []

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP request to the host (in-process ASGI or its port), made on the host loop.
        ``kwargs`` are ``httpx`` request arguments (params, json, content, headers ...)."""
        async def send() -> httpx.Response:
            if self._http is None:
                transport: Any = (httpx.ASGITransport(app=self.asgi_app) if self.port is None
                                  else None)
                self._http = httpx.AsyncClient(transport=transport, base_url=self.base_url,
                                               timeout=60)
            return await self._http.request(method, path, **kwargs)

        return self.run(send(), timeout=120)

    def durable_client(self) -> Any:
        """A real SDK ``DurableOrchestrationClient`` bound to this host; await its methods
        through :meth:`run` (they must run on the host loop)."""
        from azure.durable_functions import DurableOrchestrationClient

        return DurableOrchestrationClient(self.client_binding())

    def start_orchestration(self, name: str, input: Any = None,
                            instance_id: str | None = None) -> str:
        """Start an orchestration directly on the engine; returns the instance id."""
        assert self.engine is not None
        return self.engine.start_new(name, instance_id, input)

    def status(self, instance_id: str, show_history: bool = False) -> Any:
        """The engine's ``InstanceState`` (None when unknown)."""
        assert self.engine is not None
        return self.engine.get_status(instance_id, show_history=show_history)

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        assert self.engine is not None
        self.engine.raise_event(instance_id, event_name, data)

    def send_message(self, entity: str, body: bytes | str, **kwargs: Any) -> int | None:
        """Send to a queue or topic of the embedded broker (see ``Broker.send``)."""
        assert self.broker is not None
        return self.broker.send(entity, body, **kwargs)

    def advance(self, delta: timedelta) -> None:
        """Move a virtual clock forward (2 hours, 3 days ...); due timers fire at once."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise RuntimeError("advance() needs a VirtualClock (the host runs on wall time)")
        advance(delta)
        self._wake_all()

    def _triggers_idle(self) -> bool:
        assert self.broker is not None
        now = self.clock.now()
        for pump in self.pumps:
            counts = self.broker.counts(pump.path)
            # "locked" covers a message a pump has received but not yet handed to a task
            if pump.in_flight or counts["active"] or counts["locked"]:
                return False
        return all(t.next_due > now for t in self.timers)

    def wait_for_idle(self, timeout: float = 30.0) -> bool:
        """Block until the engine has nothing runnable, no trigger message is waiting or being
        processed and no timer is due. Future timers may remain. False on timeout."""
        assert self.engine is not None
        deadline = time.monotonic() + timeout
        stable = 0
        while time.monotonic() < deadline:
            if not self.engine.wait_for_idle(max(0.01, deadline - time.monotonic())):
                return False
            if self._triggers_idle():
                stable += 1
                if stable >= 3:
                    return True
            else:
                stable = 0
            time.sleep(0.01)
        return False
