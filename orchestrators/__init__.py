"""Durable orchestrators: the generic flow runner, the agent-task and human-task
sub-orchestrations. Generator functions only: no clock, random, settings or I/O here; every
side effect is an activity (``activities/``) and every rule is in ``podium.domain`` /
``podium.coordination``."""

import azure.durable_functions as df

bp = df.Blueprint()

from orchestrators import (  # noqa: E402,F401  (registers on bp)
    agent_task,
    flow_runner,
    human_task,
    phase_override,
)
