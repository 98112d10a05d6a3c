"""How the host picks its task hub store (PODIUM_DURABLE_STORE + AzureWebJobsStorage), the
errors it gives, PODIUM_DATA_DIR exported for the app, worker processes, StoreLocked in the CLI."""

from __future__ import annotations

import json
import os
import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest

from podium.cli import EXIT_FAILURE, EXIT_USAGE, main
from podium.localhost.api import RuntimeStatus
from podium.localhost.engine import SqliteStore
from podium.localhost.host import HostStartError, LocalHost, StoreUnavailable

APP = textwrap.dedent('''
    import os

    import azure.durable_functions as df
    import azure.functions as func

    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


    @app.orchestration_trigger(context_name="context")
    def pids(context: df.DurableOrchestrationContext):
        n = context.get_input() or 1
        return (yield context.task_all([context.call_activity("pid", i) for i in range(n)]))


    @app.activity_trigger(input_name="value")
    def pid(value: int) -> dict:
        return {"pid": os.getpid(), "data_dir": os.environ.get("PODIUM_DATA_DIR")}
''')
SETTINGS = ("PODIUM_DURABLE_STORE", "AzureWebJobsStorage", "PODIUM_DATA_DIR",
            "FUNCTIONS_WORKER_PROCESS_COUNT")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def _app(tmp_path: Path, **values: str) -> Path:
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    (app / "function_app.py").write_text(APP)
    (app / "host.json").write_text(json.dumps(
        {"version": "2.0", "extensions": {"durableTask": {"hubName": "Wiring"}}}))
    (app / "local.settings.json").write_text(json.dumps({"Values": {
        "FUNCTIONS_WORKER_RUNTIME": "python", "PODIUM_MASTER_KEY": "mk",
        "PODIUM_FUNCTION_KEY": "fk", "PODIUM_DURABLE_KEY": "dk", **values}}))
    return app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_pids(host: LocalHost, n: int = 1) -> Any:
    iid = host.start_orchestration("pids", n)
    assert host.wait_for_idle(120)
    state = host.status(iid)
    assert state.runtime_status == RuntimeStatus.Completed, state.output
    return state.output


def test_sqlite_is_the_default(tmp_path: Path) -> None:
    with LocalHost(_app(tmp_path), port=None, data_dir=tmp_path / "d") as host:
        assert isinstance(host.engine.store, SqliteStore)
        assert _run_pids(host)[0]["pid"] == os.getpid()
    assert (tmp_path / "d" / "Wiring.sqlite").exists()


@pytest.mark.parametrize("value", ["postgres", "Azure-Storage", "sqlite3"])
def test_a_wrong_store_setting_names_the_setting(tmp_path: Path, value: str) -> None:
    app = _app(tmp_path, PODIUM_DURABLE_STORE=value)
    with pytest.raises(HostStartError, match="PODIUM_DURABLE_STORE: expected one of "
                                             "sqlite, azure-storage"):
        LocalHost(app, port=None, data_dir=tmp_path / "d").start()


def test_azure_storage_needs_a_connection(tmp_path: Path) -> None:
    app = _app(tmp_path, PODIUM_DURABLE_STORE="azure-storage")
    with pytest.raises(HostStartError, match="needs AzureWebJobsStorage"):
        LocalHost(app, port=None, data_dir=tmp_path / "d").start()


def test_unreachable_storage_is_a_clear_runtime_error(tmp_path: Path, capsys: Any) -> None:
    port = _closed_port()
    secret = "c2VjcmV0LWtleQ=="
    conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={secret};"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
            f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    app = _app(tmp_path, PODIUM_DURABLE_STORE="azure-storage", AzureWebJobsStorage=conn)
    with pytest.raises(StoreUnavailable, match="storage unreachable") as exc:
        LocalHost(app, port=None, data_dir=tmp_path / "d").start()
    assert secret not in str(exc.value)
    code = main(["host", "--app-dir", str(app), "--port", "0", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_FAILURE and len(err.splitlines()) == 1
    assert err.startswith("podium: AzureWebJobsStorage: cannot open task hub 'Wiring'")
    assert secret not in err


def test_a_malformed_connection_string_is_a_usage_error(tmp_path: Path, capsys: Any) -> None:
    app = _app(tmp_path, PODIUM_DURABLE_STORE="azure-storage", AzureWebJobsStorage="nonsense")
    code = main(["host", "--app-dir", str(app), "--port", "0", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "AzureWebJobsStorage: not a usable" in err


def test_the_host_runs_on_azure_storage(tmp_path: Path, azurite: Any) -> None:
    from podium.adapters.durable_azure_storage import AzureStorageDurableStore

    app = _app(tmp_path, PODIUM_DURABLE_STORE="azure-storage",
               AzureWebJobsStorage=azurite.connection_string)
    with LocalHost(app, port=None, data_dir=tmp_path / "d") as host:
        assert isinstance(host.engine.store, AzureStorageDurableStore)
        assert len(_run_pids(host, 3)) == 3
        iid = host.start_orchestration("pids", 2)
        assert host.wait_for_idle(60)
    assert not (tmp_path / "d" / "Wiring.sqlite").exists()
    # a new host on the same hub sees what the first one kept in Azure Storage
    with LocalHost(app, port=None, data_dir=tmp_path / "d") as again:
        assert again.status(iid).runtime_status == RuntimeStatus.Completed


def test_an_explicit_data_dir_is_exported_for_the_app(tmp_path: Path) -> None:
    app = _app(tmp_path, PODIUM_DATA_DIR=".elsewhere")  # the file's value loses to --data-dir
    with LocalHost(app, port=None, data_dir=tmp_path / "d") as host:
        assert os.environ["PODIUM_DATA_DIR"] == str(tmp_path / "d")
        assert _run_pids(host)[0]["data_dir"] == str(tmp_path / "d")
    assert "PODIUM_DATA_DIR" not in os.environ  # taken back when the host stops
    with LocalHost(app, port=None) as host:  # not explicit: local.settings.json's value
        assert _run_pids(host)[0]["data_dir"] == ".elsewhere"


def test_a_data_dir_already_in_the_environment_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_DATA_DIR", "/from/the/shell")
    with LocalHost(_app(tmp_path), port=None, data_dir=tmp_path / "d") as host:
        assert _run_pids(host)[0]["data_dir"] == "/from/the/shell"
    assert os.environ["PODIUM_DATA_DIR"] == "/from/the/shell"


@pytest.mark.slow
def test_worker_processes_run_the_apps_activities(tmp_path: Path) -> None:
    app = _app(tmp_path, FUNCTIONS_WORKER_PROCESS_COUNT="2")
    with LocalHost(app, port=None, data_dir=tmp_path / "d") as host:
        assert host.engine.options.app_path == f"{app.resolve()}/function_app.py:app"
        pids = {r["pid"] for r in _run_pids(host, 8)}
    assert pids and os.getpid() not in pids  # ran in the worker processes, not the host


def test_cli_host_on_a_locked_task_hub_exits_1(tmp_path: Path, capsys: Any) -> None:
    app = _app(tmp_path)
    held = SqliteStore(tmp_path / "d" / "Wiring.sqlite")  # another host holds the hub
    try:
        code = main(["host", "--app-dir", str(app), "--port", "0",
                     "--data-dir", str(tmp_path / "d")])
    finally:
        held.close()
    err = capsys.readouterr().err.strip()
    assert code == EXIT_FAILURE and len(err.splitlines()) == 1
    assert err.startswith("podium: another host process is using the task hub store")


def test_a_wrong_account_key_is_refused_without_echoing_it(tmp_path: Path, azurite: Any) -> None:
    from podium.adapters import standins

    secret = "c2VjcmV0LWtleQ=="
    conn = azurite.connection_string.replace(standins.AZURITE_KEY, secret)
    assert conn != azurite.connection_string
    app = _app(tmp_path, PODIUM_DURABLE_STORE="azure-storage", AzureWebJobsStorage=conn)
    with pytest.raises(StoreUnavailable, match=r"\(HTTP 403 ") as exc:
        LocalHost(app, port=None, data_dir=tmp_path / "d").start()
    assert secret not in str(exc.value)
