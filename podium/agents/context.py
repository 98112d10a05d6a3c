"""What a handler receives besides its task, and what it may return or raise.

Why a context object: handlers write into the project workspace, and every file they write is
an artifact the orchestrator must hear about. Writing through ``ctx.write_json`` /
``ctx.write_text`` keeps each path inside the workspace (no ``..`` escapes), writes atomically
(a reader never sees half a file; a retry overwrites the same file) and records the artifact,
so handlers do not keep their own lists.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podium.agents.messages import AgentTask

if TYPE_CHECKING:
    from podium.agents.llm import LLMClient


class PermanentFailure(Exception):
    """Raise from a handler when retrying cannot help (bad input, invalid plan)."""

    def __init__(self, reason: str, details: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class TransientFailure(Exception):
    """Raise from a handler to fail this attempt with a reason and details; a retry may pass.

    Any other exception is transient too; this type only lets a handler attach details.
    """

    def __init__(self, reason: str, details: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


@dataclass
class AgentResult:
    """A handler's answer: small JSON outputs plus workspace-relative artifact paths.

    ``artifacts`` left as None means "whatever the handler wrote through the context".
    """

    outputs: dict[str, Any] = field(default_factory=dict)
    artifacts: list[str] | None = None


class WorkspaceError(PermanentFailure):
    """A path outside the workspace, or a workspace that is not a directory."""


class AgentContext:
    """Per-task services: workspace I/O, deadline, logger, optional LLM."""

    def __init__(self, task: AgentTask, llm: LLMClient | None = None,
                 logger: logging.Logger | None = None) -> None:
        self.task = task
        self.llm = llm
        self.logger = logger or logging.getLogger(f"podium.agents.{task.agent_id}")
        self.workspace = task.workspace.resolve()
        self._deadline = time.monotonic() + task.timeout_sec
        self._written: list[str] = []

    # -- time -----------------------------------------------------------------------------
    def remaining(self) -> float:
        """Seconds left before the orchestrator's task timeout; subprocesses use this bound."""
        return max(0.0, self._deadline - time.monotonic())

    # -- paths ----------------------------------------------------------------------------
    def path(self, relative: str | Path) -> Path:
        """Absolute path of a workspace-relative path; refuses anything escaping the workspace."""
        rel = Path(relative)
        if rel.is_absolute():
            raise WorkspaceError(f"WorkspaceViolation: path must be relative: {relative}")
        target = (self.workspace / rel).resolve()
        if target != self.workspace and self.workspace not in target.parents:
            raise WorkspaceError(f"WorkspaceViolation: path escapes the workspace: {relative}")
        return target

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.workspace).as_posix()

    @property
    def artifacts(self) -> list[str]:
        """Workspace-relative paths written through this context, in order, without repeats."""
        return list(dict.fromkeys(self._written))

    def record(self, relative: str | Path) -> None:
        """Declare a file written by other means (e.g. a subprocess) as an artifact."""
        self._written.append(self.relative(self.path(relative)))

    # -- reading --------------------------------------------------------------------------
    def exists(self, relative: str | Path) -> bool:
        return self.path(relative).exists()

    def read_json(self, relative: str | Path) -> Any:
        target = self.path(relative)
        try:
            return json.loads(target.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PermanentFailure(f"MissingArtifact: {relative} does not exist") from None
        except json.JSONDecodeError as exc:
            raise PermanentFailure(f"InvalidArtifact: {relative} is not JSON: {exc}") from None

    # -- writing --------------------------------------------------------------------------
    def write_text(self, relative: str | Path, text: str) -> Path:
        """Atomically (re)write a text file and record it as an artifact."""
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._written.append(self.relative(target))
        return target

    def write_json(self, relative: str | Path, data: Any) -> Path:
        return self.write_text(relative, json.dumps(data, indent=2, sort_keys=False) + "\n")

    @contextmanager
    def locked(self, name: str, timeout: float = 30.0) -> Iterator[None]:
        """A workspace-wide lock for read-modify-write of a shared file (e.g. gateway routes).

        Why a lock file: tasks for different services run in parallel, possibly in different
        processes, and several of them merge into one file. O_EXCL creation is atomic on every
        platform; a lock older than ``timeout`` is considered abandoned by a crashed process.
        """
        lock = self.path(f".podium-locks/{name}.lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.close(fd)
                break
            except FileExistsError:
                try:
                    if time.time() - lock.stat().st_mtime > timeout:
                        lock.unlink(missing_ok=True)
                        continue
                except FileNotFoundError:
                    continue
                if time.monotonic() > deadline:
                    raise TransientFailure(f"LockTimeout: {name}") from None
                time.sleep(0.01)
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
