"""Embedded Service Bus broker of the local host (see ``broker.py`` for the semantics)."""

from podium.localhost.broker.broker import (
    DLQ_SUFFIX,
    MAX_DELIVERY_REASON,
    Broker,
    BrokerError,
    EntityNotFound,
    MessageLockLost,
    ReceivedMessage,
    subscription_path,
)
from podium.localhost.broker.filters import FilterError, compile_sql_filter
from podium.localhost.broker.topology import (
    QueueSpec,
    SubscriptionSpec,
    TopicSpec,
    Topology,
    TopologyError,
    podium_topology,
)

__all__ = [
    "DLQ_SUFFIX",
    "MAX_DELIVERY_REASON",
    "Broker",
    "BrokerError",
    "EntityNotFound",
    "FilterError",
    "MessageLockLost",
    "QueueSpec",
    "ReceivedMessage",
    "SubscriptionSpec",
    "TopicSpec",
    "Topology",
    "TopologyError",
    "compile_sql_filter",
    "podium_topology",
    "subscription_path",
]
