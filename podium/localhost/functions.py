"""The app's function index: every function ``function_app.app`` registers, indexed once.

``app.get_functions()`` may only be called once per app object (a second call fails with
"not a unique function name"), so the host indexes the app a single time and every part of the
host (engine, HTTP triggers, Service Bus and timer runners) looks functions up here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from podium.localhost.api import FunctionInfo, UnknownFunction

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"


def _describe(kind: str, name: str, known: Iterable[str]) -> str:
    names = sorted(known)
    listed = ", ".join(names) if names else "none"
    return f"no {kind} function named '{name}' is registered by the app (known: {listed})"


@dataclass
class FunctionIndex:
    """Functions of one app grouped by trigger kind.

    Orchestrators and activities are looked up by exact name, as the Durable extension does;
    entities case-insensitively, because the extension lower-cases entity names in ``@name@key``.
    """

    orchestrators: dict[str, FunctionInfo] = field(default_factory=dict)
    activities: dict[str, FunctionInfo] = field(default_factory=dict)
    entities: dict[str, FunctionInfo] = field(default_factory=dict)  # keys lower-cased
    others: list[FunctionInfo] = field(default_factory=list)  # http, serviceBus, timer, ...

    @classmethod
    def from_app(cls, app: Any) -> FunctionIndex:
        """Index ``app`` (a ``func.FunctionApp`` / ``df.DFApp``); calls ``get_functions`` once."""
        return cls.from_functions(app.get_functions())

    @classmethod
    def from_functions(cls, functions: Iterable[Any]) -> FunctionIndex:
        index = cls()
        for fn in functions:
            index.add(_info_of(fn))
        return index

    def add(self, info: FunctionInfo) -> None:
        if info.trigger_type == ORCHESTRATION_TRIGGER:
            self.orchestrators[info.name] = info
        elif info.trigger_type == ACTIVITY_TRIGGER:
            self.activities[info.name] = info
        elif info.trigger_type == ENTITY_TRIGGER:
            self.entities[info.name.lower()] = info
        else:
            self.others.append(info)

    def orchestrator(self, name: str) -> FunctionInfo:
        try:
            return self.orchestrators[name]
        except KeyError:
            raise UnknownFunction(_describe("orchestrator", name, self.orchestrators)) from None

    def activity(self, name: str) -> FunctionInfo:
        try:
            return self.activities[name]
        except KeyError:
            raise UnknownFunction(_describe("activity", name, self.activities)) from None

    def entity(self, name: str) -> FunctionInfo:
        try:
            return self.entities[name.lower()]
        except KeyError:
            known = [e.name for e in self.entities.values()]
            raise UnknownFunction(_describe("entity", name, known)) from None

    def by_trigger(self, trigger_type: str) -> list[FunctionInfo]:
        """Non-durable functions of one trigger kind (``httpTrigger``, ``serviceBusTrigger``...)."""
        return [f for f in self.others if f.trigger_type == trigger_type]

    def all(self) -> list[FunctionInfo]:
        return [
            *self.orchestrators.values(),
            *self.activities.values(),
            *self.entities.values(),
            *self.others,
        ]


def _info_of(fn: Any) -> FunctionInfo:
    trigger = fn.get_trigger()
    bindings = [b.get_dict_repr() for b in fn.get_bindings()]
    trigger_repr = trigger.get_dict_repr() if trigger is not None else {}
    return FunctionInfo(
        name=fn.get_function_name(),
        trigger_type=trigger.get_binding_name() if trigger is not None else "",
        trigger_binding=trigger_repr,
        bindings=bindings,
        user_function=fn.get_user_function(),
    )
