"""Settings: local.settings.json + environment + host.json, read as the Functions host does."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from podium.localhost.settings import SettingsError, export_values, load_settings


def _app(tmp_path: Path, values: dict | None = None, host: dict | None = None) -> Path:
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"IsEncrypted": False, "Values": values or {}, "ConnectionStrings": {"db": "x"}})
    )
    (tmp_path / "host.json").write_text(json.dumps(host or {"version": "2.0"}))
    return tmp_path


def test_values_host_json_and_env_precedence(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        values={"A": "file", "B": "file", "PYTHON_THREADPOOL_THREAD_COUNT": "4"},
        host={
            "extensions": {
                "durableTask": {
                    "hubName": "MyHub",
                    "maxConcurrentActivityFunctions": 3,
                    "maxConcurrentOrchestratorFunctions": 2,
                },
                "serviceBus": {"maxConcurrentCalls": 5},
            }
        },
    )
    s = load_settings(app, environ={"B": "env"})
    assert (s.get("A"), s.get("B")) == ("file", "env")
    assert (s.hub_name, s.max_concurrent_activities, s.max_concurrent_orchestrators) == (
        "MyHub",
        3,
        2,
    )
    assert s.service_bus["maxConcurrentCalls"] == 5
    assert s.thread_count == 4
    assert s.connection_strings == {"db": "x"}
    assert s.data_dir == app / ".podium"
    env = {"B": "already"}
    export_values(s, env)
    assert env["A"] == "file" and env["B"] == "already"


def test_hub_name_from_app_setting(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        values={"HUB": "FromSetting"},
        host={"extensions": {"durableTask": {"hubName": "%HUB%"}}},
    )
    assert load_settings(app, environ={}).hub_name == "FromSetting"


def test_generated_keys_are_random_private_and_stable(tmp_path: Path) -> None:
    app = _app(tmp_path)
    first = load_settings(app, environ={})
    assert len(first.function_key) > 20 and first.function_key != first.master_key
    keys_file = app / ".podium" / "host-keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert load_settings(app, environ={}).master_key == first.master_key
    (tmp_path / "other").mkdir()
    other = load_settings(_app(tmp_path / "other"), environ={})
    assert other.function_key != first.function_key


def test_keys_from_settings_win(tmp_path: Path) -> None:
    app = _app(tmp_path, values={"PODIUM_FUNCTION_KEY": "fk"})
    s = load_settings(app, environ={"PODIUM_MASTER_KEY": "mk"})
    assert (s.function_key, s.master_key) == ("fk", "mk")


@pytest.mark.parametrize(
    ("values", "host", "needle"),
    [
        ({}, {"extensions": {"durableTask": {"hubName": "bad-name"}}}, "hubName"),
        (
            {},
            {"extensions": {"durableTask": {"maxConcurrentActivityFunctions": "x"}}},
            "maxConcurrentActivityFunctions",
        ),
        ({}, {"extensions": {"durableTask": {"hubName": "%MISSING%"}}}, "MISSING"),
        ({"PYTHON_THREADPOOL_THREAD_COUNT": "0"}, {}, "PYTHON_THREADPOOL_THREAD_COUNT"),
        ({"X": ["list"]}, {}, "Values.X"),
    ],
)
def test_errors_name_the_bad_setting(tmp_path: Path, values: dict, host: dict, needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        load_settings(_app(tmp_path, values=values, host=host), environ={})


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text("{nope")
    with pytest.raises(SettingsError, match="local.settings.json"):
        load_settings(tmp_path, environ={})


def test_clients_never_create_the_key_file(tmp_path: Path) -> None:
    s = load_settings(tmp_path, environ={}, generate_keys=False)
    assert (s.function_key, s.master_key, s.durable_key) == ("", "", "")
    assert not (tmp_path / ".podium").exists()
    made = load_settings(tmp_path, environ={})
    assert load_settings(tmp_path, environ={}, generate_keys=False).durable_key == made.durable_key
