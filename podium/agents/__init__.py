"""Agent worker SDK and the built-in deterministic agents (see docs/agents.md).

Public API::

    from podium.agents import AgentWorker, AgentTask, AgentContext, AgentResult
    from podium.agents import PermanentFailure, TransientFailure, builtin_workers
    from podium.agents import Transport, InboundMessage, MemoryTransport, run_workers, AgentHost
    from podium.agents import prepare_workspace, workspace_path

The package imports no transport and no Azure SDK: hosts bring the transport.
"""

from podium.agents.context import AgentContext, AgentResult, PermanentFailure, TransientFailure
from podium.agents.faults import FaultSpec, parse_fault
from podium.agents.messages import AgentTask, parse_task, scheduled
from podium.agents.registry import builtin_workers, handled_task_types
from podium.agents.transport import (
    AgentHost,
    InboundMessage,
    JsonLinesTransport,
    MemoryTransport,
    Transport,
    handle_message,
    run_workers,
)
from podium.agents.worker import AgentWorker, ProcessOutcome
from podium.agents.workspace import prepare_workspace, workspace_path

__all__ = [
    "AgentContext", "AgentHost", "AgentResult", "AgentTask", "AgentWorker", "FaultSpec",
    "InboundMessage",
    "JsonLinesTransport", "MemoryTransport", "PermanentFailure", "ProcessOutcome",
    "TransientFailure", "Transport", "builtin_workers", "handle_message", "handled_task_types",
    "parse_fault", "parse_task", "prepare_workspace", "run_workers", "scheduled",
    "workspace_path",
]
