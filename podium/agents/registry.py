"""The built-in agents, one worker per agent id of ``podium.topology.AGENT_IDS``.

Why a function and not module-level workers: every call builds fresh workers with their own
duplicate memo, so each test, host or process gets isolated state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from podium.agents.memo import ProcessedMemo
from podium.agents.worker import AgentWorker
from podium.topology import AGENT_IDS


def builtin_workers(*, llm: Any = None, memo_path: str | Path | None = None
                    ) -> dict[str, AgentWorker]:
    """agent id -> worker with every built-in handler registered.

    ``llm``: an ``LLMClient`` for the planning agents (default: none; pass
    ``LLMClient.from_env()`` to honour PODIUM_LLM_BASE_URL). ``memo_path``: a SQLite file that
    remembers answered tasks across restarts (one table shared by all agents; keys include
    the task id, so agents never collide).
    """
    from podium.agents.builtin import (
        cleanup,
        developer,
        devops,
        integration,
        planning,
        qa,
        security,
    )

    memo = ProcessedMemo(sqlite_path=memo_path) if memo_path else None
    workers = {
        agent_id: AgentWorker(agent_id, llm=llm, memo=memo or ProcessedMemo())
        for agent_id in AGENT_IDS
    }
    for module in (planning, developer, integration, devops, qa, security, cleanup):
        module.register(workers)
    return workers


def handled_task_types() -> dict[str, list[str]]:
    """agent id -> task types it handles (for docs, flow validation and the CLI)."""
    return {agent_id: worker.task_types for agent_id, worker in builtin_workers().items()}
