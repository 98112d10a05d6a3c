"""Shared pydantic configuration for the domain's value objects and event contracts.

JSON on the wire uses the seed's camelCase keys (``taskId``, ``dependsOn``); Python code uses
snake_case attributes. Models accept either spelling on input so hand-written dicts and tests
stay readable, are frozen (events and policies are values, never mutated in place) and keep
unknown fields (``extra="allow"``) so an older Podium tolerates a newer producer's additions.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class DomainModel(BaseModel):
    """Frozen, camelCase-on-the-wire, forward-compatible base model."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="allow",
        use_enum_values=False,
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict with camelCase keys, ``None`` values left out (compact)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def format_validation_errors(exc: Any, prefix: str = "") -> list[str]:
    """Turn a pydantic ``ValidationError`` into ``"path.to.field: why"`` strings.

    Pydantic's own text spans several lines per error; orchestrators log and audit one line.
    """
    messages: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err.get("loc", ()) if part != "__root__")
        path = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        msg = str(err.get("msg", "invalid")).replace("Field required", "field required")
        messages.append(f"{path}: {msg}" if path else msg)
    return messages
