"""A host process for the crash test: ``python -m tests.localhost.apps.crash_host DB COUNT``.

Starts (or, after a crash, continues) the ``crash`` instance on the SQLite store ``DB`` and
prints its final status as JSON.
"""

from __future__ import annotations

import json
import sys
import time

from podium.localhost.engine import Engine, EngineOptions, SqliteStore
from podium.localhost.functions import FunctionIndex
from tests.localhost.apps.crash_app import make_app


def main(db: str, count: int) -> int:
    store = SqliteStore(db)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
