"""Durable entities: the per-project coordinator and the tenant-wide agent throttles. Each
entity function is a thin dispatcher over a pure state class in ``podium.coordination``."""

import azure.durable_functions as df

bp = df.Blueprint()

from entities import agent_throttle, project_coordinator  # noqa: E402,F401  (registers on bp)
