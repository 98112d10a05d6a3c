"""Project configuration, ``@vault:`` secret references, the resolver port and redaction.

Secret values never travel through orchestration history, events or logs: configuration and
task inputs carry references such as ``"@vault:sb-dev"``; an activity resolves them through a
:class:`SecretResolver` (Key Vault in Azure, a file locally) right before use, and everything
that might be logged or stored goes through :func:`redact` with the resolved values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from pydantic import Field, field_validator

from ._base import DomainModel
from .errors import DomainError

VAULT_PREFIX = "@vault:"
VAULT_REF = re.compile(r"@vault:([A-Za-z0-9][A-Za-z0-9_.-]*)")
REDACTED = "***"  # shorter than MIN_REDACT_LEN: repeated masking always terminates
# Shorter values are not redacted inside larger strings: masking every "a" or "1" would destroy
# the text and leak the value's length anyway. Whole-value matches are always masked.
MIN_REDACT_LEN = 4


class ProjectConfiguration(DomainModel):
    """The seed's ProjectConfiguration: per-project environment, secret references, variables.

    Every value in ``secrets`` must be a ``@vault:name`` reference: a literal secret here would
    end up in orchestration history.
    """

    tenant_id: str = Field(min_length=1)
    project_id: str = Field(min_length=1)
    env: str = "dev"
    secrets: dict[str, str] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)

    @field_validator("secrets")
    @classmethod
    def _only_refs(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k, v in value.items() if not VAULT_REF.fullmatch(v or ""))
        if bad:
            raise ValueError(
                f"secrets must be @vault:<name> references (not literal values): {', '.join(bad)}"
            )
        return value

    def vault_refs(self) -> list[str]:
        """Every secret name referenced by secrets and variables."""
        return find_vault_refs({"secrets": self.secrets, "variables": self.variables})


def find_vault_refs(obj: Any) -> list[str]:
    """Sorted unique secret names referenced anywhere in ``obj`` (str, mappings, sequences)."""
    found: set[str] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.update(VAULT_REF.findall(item))
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return sorted(found)


@runtime_checkable
class SecretResolver(Protocol):
    """Port implemented by the adapters (Key Vault, local file). Tenant-scoped by contract:
    an implementation must never return another tenant's secret."""

    def resolve(self, tenant_id: str, name: str) -> str:
        """The secret's value; raise ``KeyError`` when it does not exist."""
        ...


def resolve_refs(obj: Any, resolver: SecretResolver, tenant_id: str) -> tuple[Any, list[str]]:
    """Copy of ``obj`` with every ``@vault:name`` replaced by its value, plus the list of
    values used (pass it to :func:`redact`). Call only in activities, never in orchestrators."""
    cache: dict[str, str] = {}

    def value_of(name: str) -> str:
        if name not in cache:
            try:
                cache[name] = resolver.resolve(tenant_id, name)
            except KeyError:
                raise DomainError(f"secret {name!r} not found for tenant {tenant_id!r}") from None
        return cache[name]

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            whole = VAULT_REF.fullmatch(item)
            if whole:
                return value_of(whole.group(1))
            return VAULT_REF.sub(lambda m: value_of(m.group(1)), item)
        if isinstance(item, Mapping):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        return item

    return walk(obj), list(cache.values())


def redact(obj: Any, secret_values: Iterable[str], mask: str = REDACTED) -> Any:
    """Copy of ``obj`` with every occurrence of any secret value replaced by ``mask``.

    Handles strings, mappings (values and keys), lists/tuples/sets and exceptions (returns an
    exception of the same type when it can be rebuilt from redacted args, else a
    ``RuntimeError`` carrying the redacted text). Longer secrets are replaced first so one
    secret containing another is fully masked.
    """
    values = sorted({v for v in secret_values if v}, key=len, reverse=True)
    if not values:
        return obj
    whole = set(values)
    parts = [v for v in values if len(v) >= MIN_REDACT_LEN]
    pattern = re.compile("|".join(re.escape(v) for v in parts)) if parts else None

    def text(s: str) -> str:
        if s in whole:
            return mask
        if pattern is None:
            return s
        # Repeat until stable: masking one value could splice the text around it into another
        # value. Each pass shortens the text when the mask is shorter than MIN_REDACT_LEN,
        # and a non-matching pass ends the loop.
        while True:
            new = pattern.sub(mask, s)
            if new == s or new in whole:
                return mask if new in whole else new
            s = new

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return text(item)
        if isinstance(item, BaseException):
            args = tuple(walk(a) for a in item.args)
            try:
                clone = type(item)(*args)
            except Exception:  # exotic constructor: fall back to plain text below
                clone = RuntimeError(text(str(item)))
            if text(str(clone)) != str(clone):
                clone = RuntimeError(text(str(item)))
            return clone
        if isinstance(item, Mapping):
            return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        if isinstance(item, tuple):
            return tuple(walk(v) for v in item)
        if isinstance(item, set | frozenset):
            return type(item)(walk(v) for v in item)
        return item

    return walk(obj)
