"""The nine lifecycle phases and their order.

Values are the short names (``"Planning"``); the seed also writes ``"PlanningPhase"``, so both
spellings (any case) are accepted on input everywhere a phase is parsed, and the short name is
always what Podium writes.
"""

from __future__ import annotations

from enum import StrEnum

from .errors import DomainError


class LifecyclePhase(StrEnum):
    """A project's lifecycle phase, in the seed's order."""

    INITIALIZATION = "Initialization"
    PLANNING = "Planning"
    ASSEMBLY = "Assembly"
    SECURITY = "Security"
    VALIDATION = "Validation"
    PIPELINE = "Pipeline"
    DEPLOYMENT = "Deployment"
    OBSERVABILITY = "Observability"
    DELIVERY_COMPLETE = "DeliveryComplete"

    @classmethod
    def _missing_(cls, value: object) -> LifecyclePhase | None:
        """Accept ``"PlanningPhase"``, ``"planning"`` and similar spellings."""
        if not isinstance(value, str):
            return None
        key = value.strip().lower().replace("_", "").replace("-", "").replace(" ", "")
        if key.endswith("phase"):
            key = key[: -len("phase")]
        for member in cls:
            if member.value.lower() == key:
                return member
        return None

    @classmethod
    def parse(cls, value: str | LifecyclePhase) -> LifecyclePhase:
        """Parse a phase name, raising a :class:`DomainError` that lists the valid names."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(p.value for p in cls)
            raise DomainError(
                f"unknown lifecycle phase {value!r}; expected one of {names}"
            ) from None

    @property
    def index(self) -> int:
        """Position in the lifecycle, 0 for Initialization."""
        return PHASE_ORDER.index(self)


PHASE_ORDER: tuple[LifecyclePhase, ...] = tuple(LifecyclePhase)


def next_phase(phase: LifecyclePhase | str) -> LifecyclePhase | None:
    """The phase after ``phase``, or ``None`` after DeliveryComplete."""
    p = LifecyclePhase.parse(phase)
    i = PHASE_ORDER.index(p)
    return PHASE_ORDER[i + 1] if i + 1 < len(PHASE_ORDER) else None


def previous_phase(phase: LifecyclePhase | str) -> LifecyclePhase | None:
    """The phase before ``phase``, or ``None`` for Initialization."""
    i = PHASE_ORDER.index(LifecyclePhase.parse(phase))
    return PHASE_ORDER[i - 1] if i > 0 else None


def phase_cmp(a: LifecyclePhase | str, b: LifecyclePhase | str) -> int:
    """-1, 0 or 1 as phase ``a`` comes before, equals or comes after phase ``b``."""
    ia, ib = LifecyclePhase.parse(a).index, LifecyclePhase.parse(b).index
    return (ia > ib) - (ia < ib)


def phases_between(a: LifecyclePhase | str, b: LifecyclePhase | str) -> list[LifecyclePhase]:
    """Phases strictly after ``a`` up to and including ``b`` (empty when ``b`` <= ``a``)."""
    ia, ib = LifecyclePhase.parse(a).index, LifecyclePhase.parse(b).index
    return list(PHASE_ORDER[ia + 1 : ib + 1])
