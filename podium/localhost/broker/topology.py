"""Entity descriptions for the embedded broker: queues, topics and their subscriptions.

The same names are declared in Bicep (``infra/``) for Azure; :func:`podium_topology` builds the
local description from ``podium.topology`` so code, infra and the local broker cannot drift.
A topology can also be read from JSON (``Topology.from_dict``) for other apps and tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from podium.localhost.broker.filters import (
    FilterError,
    compile_correlation_filter,
    compile_sql_filter,
)

DEFAULT_LOCK = timedelta(seconds=60)  # Service Bus default lock duration
DEFAULT_MAX_DELIVERY = 10  # Service Bus default max delivery count
DEFAULT_DUP_WINDOW = timedelta(minutes=10)  # Service Bus default duplicate detection window


class TopologyError(ValueError):
    """A topology description that names a bad entity, filter or setting."""


@dataclass(frozen=True)
class QueueSpec:
    name: str
    max_delivery_count: int = DEFAULT_MAX_DELIVERY
    lock_duration: timedelta = DEFAULT_LOCK
    duplicate_detection_window: timedelta | None = DEFAULT_DUP_WINDOW  # None: no detection


@dataclass(frozen=True)
class SubscriptionSpec:
    name: str
    sql_filter: str | None = None  # e.g. "agentId = 'qa-agent'"
    correlation_filter: Mapping[str, Any] | None = None  # e.g. {"properties": {"agentId": ...}}
    max_delivery_count: int = DEFAULT_MAX_DELIVERY
    lock_duration: timedelta = DEFAULT_LOCK

    def validate(self, topic: str) -> None:
        if self.sql_filter is not None and self.correlation_filter is not None:
            raise TopologyError(
                f"subscription {topic}/{self.name}: give sql_filter or correlation_filter, not both"
            )
        try:
            if self.sql_filter is not None:
                compile_sql_filter(self.sql_filter)
            if self.correlation_filter is not None:
                compile_correlation_filter(self.correlation_filter)
        except FilterError as exc:
            raise TopologyError(f"subscription {topic}/{self.name}: {exc}") from None


@dataclass(frozen=True)
class TopicSpec:
    name: str
    subscriptions: tuple[SubscriptionSpec, ...] = ()
    duplicate_detection_window: timedelta | None = DEFAULT_DUP_WINDOW


@dataclass(frozen=True)
class Topology:
    queues: tuple[QueueSpec, ...] = ()
    topics: tuple[TopicSpec, ...] = field(default=())

    def validate(self) -> None:
        names: set[str] = set()
        for entity in (*self.queues, *self.topics):
            if not entity.name or "/" in entity.name:
                raise TopologyError(f"bad entity name {entity.name!r}")
            if entity.name.lower() in names:
                raise TopologyError(f"entity {entity.name!r} is declared twice")
            names.add(entity.name.lower())
        for queue in self.queues:
            _check_limits(queue.name, queue.max_delivery_count, queue.lock_duration)
        for topic in self.topics:
            subs: set[str] = set()
            for sub in topic.subscriptions:
                if sub.name.lower() in subs:
                    raise TopologyError(f"subscription {topic.name}/{sub.name} declared twice")
                subs.add(sub.name.lower())
                _check_limits(f"{topic.name}/{sub.name}", sub.max_delivery_count, sub.lock_duration)
                sub.validate(topic.name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Topology:
        """Read ``{"queues": [{"name", "maxDeliveryCount", "lockDurationSeconds",
        "duplicateDetectionWindowSeconds"}], "topics": [{"name", "subscriptions": [{"name",
        "sqlFilter" | "correlationFilter", ...}]}]}``."""
        try:
            queues = tuple(
                QueueSpec(
                    name=q["name"],
                    max_delivery_count=int(q.get("maxDeliveryCount", DEFAULT_MAX_DELIVERY)),
                    lock_duration=_seconds(q.get("lockDurationSeconds"), DEFAULT_LOCK),
                    duplicate_detection_window=_window(q),
                )
                for q in data.get("queues", [])
            )
            topics = tuple(
                TopicSpec(
                    name=t["name"],
                    duplicate_detection_window=_window(t),
                    subscriptions=tuple(
                        SubscriptionSpec(
                            name=s["name"],
                            sql_filter=s.get("sqlFilter"),
                            correlation_filter=s.get("correlationFilter"),
                            max_delivery_count=int(
                                s.get("maxDeliveryCount", DEFAULT_MAX_DELIVERY)
                            ),
                            lock_duration=_seconds(s.get("lockDurationSeconds"), DEFAULT_LOCK),
                        )
                        for s in t.get("subscriptions", [])
                    ),
                )
                for t in data.get("topics", [])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TopologyError(f"bad topology description: {exc!r}") from None
        topology = cls(queues=queues, topics=topics)
        topology.validate()
        return topology


def _check_limits(name: str, max_delivery: int, lock: timedelta) -> None:
    if max_delivery < 1:
        raise TopologyError(f"{name}: max_delivery_count must be >= 1")
    if lock.total_seconds() <= 0:
        raise TopologyError(f"{name}: lock_duration must be positive")


def _seconds(raw: Any, default: timedelta) -> timedelta:
    return default if raw is None else timedelta(seconds=float(raw))


def _window(raw: Mapping[str, Any]) -> timedelta | None:
    if raw.get("requiresDuplicateDetection") is False:
        return None
    return _seconds(raw.get("duplicateDetectionWindowSeconds"), DEFAULT_DUP_WINDOW)


def podium_topology() -> Topology:
    """Podium's own Service Bus entities, from the names in ``podium.topology``."""
    from podium import topology as names

    agent_subs = tuple(
        SubscriptionSpec(name=agent_id, sql_filter=f"{names.PROP_AGENT_ID} = '{agent_id}'")
        for agent_id in names.AGENT_IDS
    )
    return Topology(
        queues=(QueueSpec(names.AGENT_RESULTS_QUEUE),),
        topics=(
            TopicSpec(
                names.ORCHESTRATION_EVENTS_TOPIC,
                subscriptions=(SubscriptionSpec(names.ROUTER_SUBSCRIPTION),),
            ),
            TopicSpec(names.AGENT_TASKS_TOPIC, subscriptions=agent_subs),
        ),
    )
