"""Observability settings, read from the environment (app settings on Azure, local.settings.json
or the shell locally).

Kept apart from the adapters' settings so that logging and tracing can be configured before
anything else is imported; every name is documented in ``docs/observability.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

EXPORTERS = ("none", "console", "otlp", "azuremonitor", "memory")


@dataclass(frozen=True)
class ObservabilitySettings:
    """What the exporters and the log handler need; ``from_env`` is the only constructor used
    in production, tests build instances directly."""

    exporter: str = "none"
    service_name: str = "podium"
    log_level: str = "INFO"
    metrics_export_interval_ms: int = 60_000
    azure_monitor_connection_string: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ObservabilitySettings:
        env = os.environ if env is None else env
        exporter = env.get("PODIUM_OTEL_EXPORTER", "none").strip().lower() or "none"
        if exporter not in EXPORTERS:
            raise ValueError(
                f"PODIUM_OTEL_EXPORTER={exporter!r} is not one of {', '.join(EXPORTERS)}"
            )
        return cls(
            exporter=exporter,
            service_name=env.get("OTEL_SERVICE_NAME", "podium") or "podium",
            log_level=(env.get("PODIUM_LOG_LEVEL", "INFO") or "INFO").upper(),
            metrics_export_interval_ms=int(env.get("PODIUM_METRICS_EXPORT_INTERVAL_MS", "60000")),
            azure_monitor_connection_string=env.get("APPLICATIONINSIGHTS_CONNECTION_STRING"),
        )
