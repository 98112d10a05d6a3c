"""``${name}`` placeholder substitution for flow inputs and routing rules.

``${...}`` (not ``{...}``) so JSON snippets and format strings inside inputs pass through.
A string that is exactly one placeholder takes the value's own type (a list stays a list);
otherwise values are inserted as text. Unknown names raise, naming the placeholder and where
it was used, because a silently empty parameter would scaffold a service called "".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import DomainError

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")


def lookup(values: Mapping[str, Any], dotted: str) -> Any:
    """Resolve ``a.b.c`` through nested mappings; a missing or null value raises ``KeyError``
    (an absent id must not turn into the text "None")."""
    current: Any = values
    for part in dotted.split("."):
        if isinstance(current, Mapping) and current.get(part) is not None:
            current = current[part]
        else:
            raise KeyError(dotted)
    return current


def substitute(obj: Any, values: Mapping[str, Any], where: str) -> Any:
    """Copy of ``obj`` (str, list, dict, scalars) with placeholders replaced from ``values``."""
    if isinstance(obj, str):
        whole = PLACEHOLDER.fullmatch(obj)
        try:
            if whole:
                return lookup(values, whole.group(1))
            return PLACEHOLDER.sub(lambda m: str(lookup(values, m.group(1))), obj)
        except KeyError as exc:
            raise DomainError(
                f"{where}: placeholder ${{{exc.args[0]}}} is missing or null"
            ) from None
    if isinstance(obj, Mapping):
        return {k: substitute(v, values, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [substitute(v, values, f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj


def placeholders(obj: Any) -> set[str]:
    """Every placeholder name used anywhere in ``obj``."""
    if isinstance(obj, str):
        return set(PLACEHOLDER.findall(obj))
    if isinstance(obj, Mapping):
        return set().union(*(placeholders(v) for v in obj.values())) if obj else set()
    if isinstance(obj, list | tuple):
        return set().union(*(placeholders(v) for v in obj)) if obj else set()
    return set()
