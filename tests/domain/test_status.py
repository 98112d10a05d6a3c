"""Task state machine: exactly the seed's edges plus the four documented retry/stall edges."""

from __future__ import annotations

import itertools

import pytest

from podium.domain import IllegalTransitionError, TaskStatus
from podium.domain.status import (
    ALLOWED_TRANSITIONS,
    EXTRA_TRANSITIONS,
    SEED_TRANSITIONS,
    can_transition,
    check_transition,
)

S = TaskStatus


def test_seed_edges_are_allowed() -> None:
    for edge in [
        (S.PENDING, S.READY),
        (S.READY, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.COMPLETED),
        (S.IN_PROGRESS, S.FAILED),
        (S.IN_PROGRESS, S.STALLED),
        (S.FAILED, S.SKIPPED),
    ]:
        assert edge in SEED_TRANSITIONS
        assert can_transition(*edge)


def test_only_documented_extra_edges() -> None:
    assert {
        (S.FAILED, S.READY),
        (S.STALLED, S.READY),
        (S.STALLED, S.FAILED),
        (S.STALLED, S.SKIPPED),
    } == EXTRA_TRANSITIONS
    assert len(ALLOWED_TRANSITIONS) == 10


@pytest.mark.parametrize("current,target", list(itertools.product(S, S)))
def test_every_other_edge_raises(current: TaskStatus, target: TaskStatus) -> None:
    if (current, target) in ALLOWED_TRANSITIONS:
        check_transition("t", current, target)
    else:
        with pytest.raises(IllegalTransitionError, match=f"'t': illegal transition {current}"):
            check_transition("t", current, target)


def test_terminal_statuses() -> None:
    assert {s for s in S if s.is_terminal} == {S.COMPLETED, S.SKIPPED}
    for terminal in (S.COMPLETED, S.SKIPPED):
        assert not any(c == terminal for c, _ in ALLOWED_TRANSITIONS)


def test_values_are_seed_spellings() -> None:
    assert [s.value for s in S] == [
        "Pending",
        "Ready",
        "InProgress",
        "Completed",
        "Failed",
        "Stalled",
        "Skipped",
    ]
