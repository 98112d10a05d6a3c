"""Lease-based counting semaphore for one agent of one tenant (the agent_throttle entity)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


def _parse(ts: str) -> datetime | None:
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")) if ts else None
    except ValueError:
        return None


@dataclass
class AgentThrottle:
    leases: dict[str, str] = field(default_factory=dict)  # holder -> lease expiry (ISO)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AgentThrottle:
        return cls(leases=dict((data or {}).get("leases", {})))

    def to_dict(self) -> dict[str, Any]:
        return {"leases": dict(self.leases)}

    def acquire(self, holder: str, limit: int, at: str, lease_sec: int) -> dict[str, Any]:
        """Grant a slot if one is free (a holder that already has one keeps it)."""
        now = _parse(at)
        if now is not None:
            expired = [h for h, exp in self.leases.items() if (_parse(exp) or now) < now]
            for h in expired:
                del self.leases[h]
        if holder not in self.leases and len(self.leases) >= max(limit, 1):
            return {"granted": False, "inUse": len(self.leases)}
        expiry = (now + timedelta(seconds=lease_sec)).isoformat() if now else ""
        self.leases[holder] = expiry
        return {"granted": True, "inUse": len(self.leases)}

    def release(self, holder: str) -> dict[str, Any]:
        self.leases.pop(holder, None)
        return {"inUse": len(self.leases)}
