"""Project workspaces: the directory every agent of a project reads and writes.

Why the request is written here: the planning agents run as separate tasks (maybe in separate
processes) and the flows pass them only ``projectId``; the validated request in
``<workspace>/request.json`` is what they all read. Workspaces are per tenant and project, so
no artifact can cross tenants.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from podium.agents.request import parse_request

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def workspace_path(root: str | Path, tenant_id: str, project_id: str) -> Path:
    """``<root>/<tenantId>/<projectId>``; ids must be slugs so they cannot escape ``root``."""
    for value in (tenant_id, project_id):
        if not _SLUG.match(value):
            raise ValueError(f"{value!r} is not a valid tenant/project id for a workspace")
    return Path(root).resolve() / tenant_id / project_id


def prepare_workspace(root: str | Path, request: dict[str, Any]) -> Path:
    """Validate ``request``, create its workspace and write ``request.json``; returns the path.

    Idempotent: preparing the same project again rewrites the same file.
    """
    parsed = parse_request(request)
    path = workspace_path(root, parsed.tenantId, parsed.projectId)
    path.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path, prefix=".request.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(parsed.to_json(), handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path / "request.json")
    return path
