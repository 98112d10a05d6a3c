"""Development secrets for local runs: every ``@vault:`` reference of a project request and of
the flow definitions gets a
random value in a secrets file outside the repository, so the local stand-in of Key Vault
(``PODIUM_SECRETS_FILE``, JSON ``{tenantId: {name: value}}``) resolves them.

Used by ``podium run`` (file ``~/.config/podium/dev-secrets.json`` unless
``PODIUM_SECRETS_FILE`` is set) and by the tests (a file under their temporary folder). Existing
entries are never overwritten, so a value you put there yourself wins.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from podium.domain.config import find_vault_refs

DEFAULT_FILE = Path.home() / ".config" / "podium" / "dev-secrets.json"


def referenced(request: dict[str, Any]) -> list[str]:
    """Secret names the request and the flow definitions refer to."""
    from podium.domain.flows import default_catalog

    inputs = [t.inputs for f in default_catalog().flows.values() for t in f.tasks]
    return sorted(set(find_vault_refs(request)) | set(find_vault_refs(inputs)))


def ensure_dev_secrets(request: dict[str, Any], path: Path | None = None) -> tuple[Path, list]:
    """Make sure every reference of ``request`` has a value for its tenant; returns the file and
    the names it added. Sets ``PODIUM_SECRETS_FILE`` when it was unset."""
    path = Path(path or os.environ.get("PODIUM_SECRETS_FILE") or DEFAULT_FILE)
    tenant = str(request.get("tenantId", ""))
    data: dict[str, dict[str, str]] = {}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    values = data.setdefault(tenant, {})
    added = [name for name in referenced(request) if name not in values]
    for name in added:
        values[name] = secrets.token_urlsafe(24)
    if added or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)
    os.environ.setdefault("PODIUM_SECRETS_FILE", str(path))
    return path, added
