"""Settings of the local host, read the way the Azure Functions host reads them.

Sources, in order of precedence (highest first):

1. process environment variables (on Azure, App Settings *are* environment variables, so a
   value exported in the shell must win over the file, as it does under ``func start``);
2. ``local.settings.json`` ``Values`` (exported into ``os.environ`` for the app, unless already
   set) and ``ConnectionStrings``;
3. ``host.json`` for the Durable and Service Bus extension settings.

Function keys. The Functions host authorises ``function`` / ``admin`` HTTP triggers and the
Durable HTTP API with keys. Locally we never fall back to a well-known default key (anyone on
the machine could use it, and it would leak into scripts): ``PODIUM_FUNCTION_KEY`` and
``PODIUM_MASTER_KEY`` (and ``PODIUM_DURABLE_KEY``, the Durable HTTP API's system key) may be set;
when they are not, a random key pair is generated once and
kept in ``<data dir>/host-keys.json`` (mode 0600), like the Functions host keeps generated keys
in its storage. The host prints the keyed URLs at start, and the CLI reads the same file.

Every error names the bad setting and the file it came from.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_HUB_NAME = "TestHubName"  # the Durable extension's own default
DEFAULT_MAX_ACTIVITIES = 10
DEFAULT_MAX_ORCHESTRATORS = 10
DEFAULT_THREAD_COUNT = 16
FUNCTION_KEY_SETTING = "PODIUM_FUNCTION_KEY"
MASTER_KEY_SETTING = "PODIUM_MASTER_KEY"
DURABLE_KEY_SETTING = "PODIUM_DURABLE_KEY"
DATA_DIR_SETTING = "PODIUM_DATA_DIR"
KEYS_FILE = "host-keys.json"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and where it came from."""


@dataclass(frozen=True)
class HostSettings:
    """Everything the local host needs to know before it imports the app."""

    app_dir: Path
    values: dict[str, str]  # local.settings.json Values merged under the environment
    connection_strings: dict[str, str]
    host_json: dict[str, Any]
    hub_name: str
    max_concurrent_activities: int
    max_concurrent_orchestrators: int
    service_bus: dict[str, Any]
    data_dir: Path
    thread_count: int
    worker_process_count: int
    function_key: str = field(repr=False, default="")
    master_key: str = field(repr=False, default="")
    durable_key: str = field(repr=False, default="")  # the Durable extension's "systemKey"
    route_prefix: str = "api"  # host.json extensions.http.routePrefix

    def get(self, name: str, default: str | None = None) -> str | None:
        """An app setting (environment first, then local.settings.json Values)."""
        return self.values.get(name, default)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a JSON object at the top level")
    return data


def _str_map(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: expected an object of name -> string")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = str(value)
        if not isinstance(value, str):
            raise SettingsError(f"{where}.{key}: expected a string, got {type(value).__name__}")
        out[str(key)] = value
    return out


def _positive_int(raw: Any, where: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: expected a positive integer, got {raw!r}") from exc
    if value < 1:
        raise SettingsError(f"{where}: expected a positive integer, got {value}")
    return value


def _resolve_app_setting(value: str, values: Mapping[str, str], where: str) -> str:
    """host.json may say ``%SettingName%`` to take a value from app settings."""
    if len(value) > 2 and value.startswith("%") and value.endswith("%"):
        name = value[1:-1]
        if name not in values:
            raise SettingsError(f"{where}: refers to app setting {name!r}, which is not set")
        return values[name]
    return value


def load_settings(
    app_dir: Path | str,
    environ: Mapping[str, str] | None = None,
    data_dir: Path | str | None = None,
    generate_keys: bool = True,
) -> HostSettings:
    """Read ``local.settings.json``, ``host.json`` and the environment of ``app_dir``.

    ``data_dir`` overrides ``PODIUM_DATA_DIR`` (default ``<app_dir>/.podium``); a relative
    directory is taken relative to the app directory, as the app's own settings are.
    ``generate_keys=False`` (clients such as the CLI) reads generated keys but never creates
    the key file; keys that exist nowhere are then empty strings.
    """
    app_dir = Path(app_dir).resolve()
    env = dict(os.environ if environ is None else environ)
    local_path = app_dir / "local.settings.json"
    local = _read_json(local_path)
    file_values = _str_map(local.get("Values"), f"{local_path}: Values")
    values = {**file_values, **env}  # the environment wins, as on Azure
    connection_strings = _str_map(
        local.get("ConnectionStrings"), f"{local_path}: ConnectionStrings"
    )

    host_path = app_dir / "host.json"
    host_json = _read_json(host_path)
    extensions = host_json.get("extensions") or {}
    if not isinstance(extensions, dict):
        raise SettingsError(f"{host_path}: extensions: expected an object")
    durable = extensions.get("durableTask") or {}
    if not isinstance(durable, dict):
        raise SettingsError(f"{host_path}: extensions.durableTask: expected an object")
    hub_raw = durable.get("hubName", DEFAULT_HUB_NAME)
    if not isinstance(hub_raw, str):
        raise SettingsError(f"{host_path}: extensions.durableTask.hubName: expected a string")
    hub_name = _resolve_app_setting(hub_raw, values, f"{host_path}: extensions.durableTask.hubName")
    if not hub_name or not all(c.isalnum() for c in hub_name) or not hub_name[0].isalpha():
        raise SettingsError(
            f"{host_path}: extensions.durableTask.hubName: {hub_name!r} must start with a letter "
            "and contain only letters and digits (as the Durable extension requires)"
        )
    service_bus = extensions.get("serviceBus") or {}
    if not isinstance(service_bus, dict):
        raise SettingsError(f"{host_path}: extensions.serviceBus: expected an object")

    if data_dir is None:
        data_dir = values.get(DATA_DIR_SETTING) or ".podium"
    data_path = Path(data_dir)
    if not data_path.is_absolute():
        data_path = app_dir / data_path

    function_key = values.get(FUNCTION_KEY_SETTING, "")
    master_key = values.get(MASTER_KEY_SETTING, "")
    durable_key = values.get(DURABLE_KEY_SETTING, "")
    if not function_key or not master_key or not durable_key:
        generated = _generated_keys(data_path) if generate_keys else read_host_keys(data_path)
        function_key = function_key or generated.get("functionKey", "")
        master_key = master_key or generated.get("masterKey", "")
        durable_key = durable_key or generated.get("durableKey", "")

    http_ext = extensions.get("http") or {}
    route_prefix = http_ext.get("routePrefix", "api") if isinstance(http_ext, dict) else None
    if not isinstance(route_prefix, str):
        raise SettingsError(f"{host_path}: extensions.http.routePrefix: expected a string")
    where_sb = f"{host_path}: extensions.serviceBus"
    return HostSettings(
        app_dir=app_dir,
        values=values,
        connection_strings=connection_strings,
        host_json=host_json,
        hub_name=hub_name,
        max_concurrent_activities=_positive_int(
            durable.get("maxConcurrentActivityFunctions"),
            f"{host_path}: extensions.durableTask.maxConcurrentActivityFunctions",
            DEFAULT_MAX_ACTIVITIES,
        ),
        max_concurrent_orchestrators=_positive_int(
            durable.get("maxConcurrentOrchestratorFunctions"),
            f"{host_path}: extensions.durableTask.maxConcurrentOrchestratorFunctions",
            DEFAULT_MAX_ORCHESTRATORS,
        ),
        service_bus={
            **service_bus,
            "maxConcurrentCalls": _positive_int(
                service_bus.get("maxConcurrentCalls"), f"{where_sb}.maxConcurrentCalls", 16
            ),
            "maxMessageBatchSize": _positive_int(
                service_bus.get("maxMessageBatchSize"), f"{where_sb}.maxMessageBatchSize", 1000
            ),
        },
        data_dir=data_path,
        thread_count=_positive_int(
            values.get("PYTHON_THREADPOOL_THREAD_COUNT"),
            "PYTHON_THREADPOOL_THREAD_COUNT",
            DEFAULT_THREAD_COUNT,
        ),
        worker_process_count=_positive_int(
            values.get("FUNCTIONS_WORKER_PROCESS_COUNT"), "FUNCTIONS_WORKER_PROCESS_COUNT", 1
        ),
        function_key=function_key,
        master_key=master_key,
        durable_key=durable_key,
        route_prefix=route_prefix.strip("/"),
    )


_KEY_NAMES = ("functionKey", "masterKey", "durableKey")


def _generated_keys(data_dir: Path) -> dict[str, str]:
    """Read, or create once, the random host keys kept in the data directory."""
    path = data_dir / KEYS_FILE
    keys: dict[str, Any] = _read_json(path) if path.exists() else {}
    for name in _KEY_NAMES:
        if name in keys and not (isinstance(keys[name], str) and keys[name]):
            raise SettingsError(f"{path}: {name}: expected a non-empty string")
    if all(name in keys for name in _KEY_NAMES):
        return keys
    for name in _KEY_NAMES:
        keys.setdefault(name, secrets.token_urlsafe(24))
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(keys, fh)
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    return keys


def read_host_keys(data_dir: Path) -> dict[str, str]:
    """The generated keys of a data directory, for the CLI (empty when none were made)."""
    path = data_dir / KEYS_FILE
    return _read_json(path) if path.exists() else {}


def export_values(
    settings: HostSettings, environ: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """Export Values and ConnectionStrings to the app's environment, never overriding a variable
    already set (the Functions host gives the app its settings as environment variables).
    Returns what it added, so an in-process host can take it back when it stops."""
    target = os.environ if environ is None else environ
    added: dict[str, str] = {}
    items = list(settings.values.items()) + [
        # Core Tools exposes connection strings to the app under this prefix.
        (f"ConnectionStrings:{key}", value) for key, value in settings.connection_strings.items()
    ]
    for key, value in items:
        if key not in target:
            target[key] = value
            added[key] = value
    return added


def unexport_values(
    added: Mapping[str, str], environ: MutableMapping[str, str] | None = None
) -> None:
    """Remove what :func:`export_values` added, unless something changed it since."""
    target = os.environ if environ is None else environ
    for key, value in added.items():
        if target.get(key) == value:
            del target[key]
