"""Shared by the trigger functions: adapters, metrics, logging context."""

from __future__ import annotations

from activities._runtime import adapters, metrics

__all__ = ["adapters", "metrics"]
