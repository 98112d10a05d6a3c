"""The crash test's host process, on either store:
``python -m tests.localhost.engine.crash_host sqlite PATH COUNT`` or
``python -m tests.localhost.engine.crash_host azure-storage HUB COUNT`` (connection string in
``PODIUM_TEST_STORAGE``). Starts (or, after a crash, continues) the ``crash`` instance and
prints its final status as JSON."""

from __future__ import annotations

import json
import os
import sys
import time

from podium.localhost.engine import Engine, EngineOptions, SqliteStore
from podium.localhost.engine.store import DurableStore
from podium.localhost.functions import FunctionIndex
from tests.localhost.apps.crash_app import make_app


def open_store(kind: str, where: str) -> DurableStore:
    if kind == "sqlite":
        return SqliteStore(where)
    from podium.adapters.durable_azure_storage import AzureStorageDurableStore

    return AzureStorageDurableStore(os.environ["PODIUM_TEST_STORAGE"], where)


def main(kind: str, where: str, count: int) -> int:
    store = open_store(kind, where)
    engine = Engine(
        FunctionIndex.from_app(make_app()), store, options=EngineOptions(thread_count=4)
    )
    if engine.get_status("crash") is None:
        engine.start_new("crash_fan_out", "crash", count)
    engine.start()
    try:
        while True:
            state = engine.get_status("crash")
            if state is not None and state.runtime_status.is_terminal:
                print(json.dumps(state.to_http_json()), flush=True)
                return 0
            time.sleep(0.02)
    finally:
        engine.stop()
        store.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
