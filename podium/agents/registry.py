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

FROM_ENV = "from-env"


def builtin_workers(*, llm: Any = FROM_ENV, memo_path: str | Path | None = None
                    ) -> dict[str, AgentWorker]:
    """agent id -> worker with every built-in handler registered.

    ``llm``: the ``LLMClient`` of the planning agents. By default it is built from the
    environment (``LLMClient.from_env()``): a model is used only when PODIUM_LLM_BASE_URL is set.
    Pass None to never use one. ``memo_path``: a SQLite file that
    remembers answered tasks across restarts (one table shared by all agents; keys include
    the agent id, so a fallback agent given the same task still runs it).
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

    if llm == FROM_ENV:
        from podium.agents.llm import LLMClient

        llm = LLMClient.from_env()
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
