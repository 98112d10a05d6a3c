"""Task status state machine.

The seed draws: Pending -> Ready -> InProgress -> Completed | Failed | Stalled, and
Failed -> Skipped by manual override. Real runs also need a way back after a retry decision and
a way out of Stalled, so four edges are added, each one named here so nothing else sneaks in:

* Failed -> Ready and Stalled -> Ready: the retry policy (or a person) decided to run it again.
* Stalled -> Failed: the stall is given up on (retries exhausted); failure handling takes over.
* Stalled -> Skipped: the same override as Failed -> Skipped.

Completed and Skipped are terminal. Everything else raises :class:`IllegalTransitionError`.
"""

from __future__ import annotations

from enum import StrEnum

from .errors import IllegalTransitionError


class TaskStatus(StrEnum):
    """Status of one OrchestrationTask, spelled as in the seed."""

    PENDING = "Pending"
    READY = "Ready"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STALLED = "Stalled"
    SKIPPED = "Skipped"

    @property
    def is_terminal(self) -> bool:
        """Completed and Skipped never change again."""
        return self in (TaskStatus.COMPLETED, TaskStatus.SKIPPED)

    @property
    def satisfies_dependents(self) -> bool:
        """Whether a dependency in this status lets its dependents become Ready."""
        return self in (TaskStatus.COMPLETED, TaskStatus.SKIPPED)

    @property
    def blocks_dependents(self) -> bool:
        """Failed and Stalled hold their descendants back until retried or skipped."""
        return self in (TaskStatus.FAILED, TaskStatus.STALLED)


S = TaskStatus

SEED_TRANSITIONS: frozenset[tuple[TaskStatus, TaskStatus]] = frozenset(
    {
        (S.PENDING, S.READY),
        (S.READY, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.COMPLETED),
        (S.IN_PROGRESS, S.FAILED),
        (S.IN_PROGRESS, S.STALLED),
        (S.FAILED, S.SKIPPED),
    }
)

EXTRA_TRANSITIONS: frozenset[tuple[TaskStatus, TaskStatus]] = frozenset(
    {
        (S.FAILED, S.READY),
        (S.STALLED, S.READY),
        (S.STALLED, S.FAILED),
        (S.STALLED, S.SKIPPED),
    }
)

ALLOWED_TRANSITIONS: frozenset[tuple[TaskStatus, TaskStatus]] = SEED_TRANSITIONS | EXTRA_TRANSITIONS


def can_transition(current: TaskStatus, target: TaskStatus) -> bool:
    """True when ``current -> target`` is an edge of the state machine."""
    return (current, target) in ALLOWED_TRANSITIONS


def check_transition(task_id: str, current: TaskStatus, target: TaskStatus) -> None:
    """Raise :class:`IllegalTransitionError` naming the task when the edge is not allowed."""
    if (current, target) not in ALLOWED_TRANSITIONS:
        allowed = sorted(t.value for (c, t) in ALLOWED_TRANSITIONS if c == current)
        hint = ", ".join(allowed) if allowed else "nothing (terminal)"
        raise IllegalTransitionError(
            f"task {task_id!r}: illegal transition {current.value} -> {target.value}; "
            f"from {current.value} it may go to {hint}"
        )
