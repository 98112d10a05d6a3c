"""Exceptions raised by the domain core.

All of them derive from :class:`DomainError` (a ``ValueError``) so that the Functions layer can
turn any rule violation into a clear 4xx answer or a failed activity with one ``except``.
Messages always name the offending item (task id, field, phase) because they end up in audit
trails and Studio, where a bare "invalid" is useless.
"""

from __future__ import annotations


class DomainError(ValueError):
    """Base class of every rule violation detected by the domain core."""


class GraphValidationError(DomainError):
    """An execution graph is malformed; ``problems`` lists every problem found, one per item."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid execution graph: " + "; ".join(self.problems))


class UnknownTaskError(DomainError, KeyError):
    """A task id that the graph does not contain."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else "unknown task"


class IllegalTransitionError(DomainError):
    """A task status change that the task state machine forbids."""


class ContractError(DomainError):
    """An event does not match its contract; ``errors`` holds ``"field.path: why"`` strings."""

    def __init__(self, errors: list[str], event_type: str | None = None) -> None:
        self.errors = list(errors)
        self.event_type = event_type
        prefix = f"invalid {event_type} event" if event_type else "invalid event"
        super().__init__(prefix + ": " + "; ".join(self.errors))


class FlowDefinitionError(DomainError):
    """A flow, lifecycle or routing YAML file is invalid; the message names file and field."""


class DependencyCycleError(DomainError):
    """Projects (or tasks) depend on each other in a cycle; ``cycle`` lists it in order."""

    def __init__(self, cycle: list[str], what: str = "project dependencies") -> None:
        self.cycle = list(cycle)
        super().__init__(f"cycle in {what}: " + " -> ".join(self.cycle))
