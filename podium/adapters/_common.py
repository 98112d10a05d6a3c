"""Helpers shared by the store implementations (id checks, time, continuation tokens)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from podium.adapters.ports import ValidationError

# Cosmos DB rejects '/', '\\', '?', '#' in ids; blob and file paths use '/' as separator. One rule
# for every store keeps ids portable between SQLite, Cosmos and the artifact stores.
_ID_RE = re.compile(r"^[^/\\?#\x00-\x1f]{1,200}$")


def check_id(value: Any, what: str) -> str:
    """Return ``value`` if it is a usable id segment, else raise :class:`ValidationError`."""
    if not isinstance(value, str) or not _ID_RE.match(value) or value in (".", ".."):
        raise ValidationError(
            f"{what} must be 1-200 characters without '/', '\\\\', '?', '#' or control "
            f"characters (got {value!r:.60})"
        )
    return value


def doc_id(tenant_id: str, key: str) -> str:
    """Document id unique per tenant inside a partition (two tenants may share a projectId)."""
    return f"{tenant_id}:{key}"


def new_etag() -> str:
    return uuid.uuid4().hex


def utc_now_iso() -> str:
    """ISO-8601 UTC with microseconds and 'Z': sorts lexically in time order."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_token(value: Any) -> str:
    """Opaque continuation token: callers pass it back, never parse it."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def decode_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError) as exc:
        raise ValidationError("continuation token is not one this store issued") from exc


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValidationError(f"limit must be an integer in 1..1000 (got {limit!r})")
    return limit
