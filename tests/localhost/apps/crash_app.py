"""The app of the crash test: a fan-out whose activities record every execution in a file."""

from __future__ import annotations

import os
import time

import azure.durable_functions as df
import azure.functions as func


def make_app() -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.activity_trigger(input_name="index")
    def slow_double(index: int) -> int:
        time.sleep(0.02)
        with open(os.environ["CRASH_LOG"], "a", encoding="utf-8") as log:
            log.write(f"{index}\n")  # one short append per execution: at-least-once is visible
        return index * 2

    @app.orchestration_trigger(context_name="context")
    def crash_fan_out(context: df.DurableOrchestrationContext):
        count = context.get_input()
        results = yield context.task_all(
            [context.call_activity("slow_double", i) for i in range(count)]
        )
        return {"sum": sum(results), "count": len(results)}

    return app
