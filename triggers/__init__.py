"""Trigger functions: the event router and agent-results Service Bus triggers, and the HTTP API
for Studio (projects, human tasks, manual triggers, artifacts). Thin: parse, authorize, call
``podium.runtime`` / ``podium.coordination``, answer JSON."""

import azure.durable_functions as df

bp = df.Blueprint()

from triggers import agent_results, http_api, router  # noqa: E402,F401  (registers on bp)
