"""Who is calling: the App Service Authentication (Easy Auth) principal.

On Azure, Easy Auth authenticates the caller and forwards ``X-MS-CLIENT-PRINCIPAL`` (base64 JSON
with claims) to the app; the platform strips any copy a client sends, so the header can be
trusted there. Locally there is no Easy Auth: a request without the header gets the dev
principal from the ``PODIUM_DEV_PRINCIPAL`` setting (``user:dev;roles=Architect,Admin``), and a
request with the header is taken at its word (that is how tests and Studio switch roles).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

PRINCIPAL_HEADER = "x-ms-client-principal"
ROLE_CLAIM_TYPES = ("roles", "role", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
NAME_CLAIM_TYPES = (
    "name",
    "preferred_username",
    "email",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
)


class PrincipalError(ValueError):
    """The principal header is present but unreadable (answered with 401)."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, role: str | None) -> bool:
        """No required role means anyone authenticated may act; role names are case-insensitive."""
        if not role:
            return True
        wanted = role.casefold()
        return any(r.casefold() == wanted for r in self.roles)

    def to_json(self) -> dict[str, object]:
        return {"userId": self.user_id, "roles": sorted(self.roles)}


def parse_principal_header(value: str) -> Principal:
    try:
        data = json.loads(base64.b64decode(value, validate=False))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise PrincipalError("X-MS-CLIENT-PRINCIPAL is not base64-encoded JSON") from exc
    if not isinstance(data, dict):
        raise PrincipalError("X-MS-CLIENT-PRINCIPAL must encode a JSON object")
    claims = data.get("claims") or []
    role_typ = data.get("role_typ")
    name_typ = data.get("name_typ")
    roles = {
        str(c.get("val"))
        for c in claims
        if isinstance(c, dict) and c.get("typ") in (*ROLE_CLAIM_TYPES, role_typ)
    }
    roles.update(str(r) for r in data.get("userRoles") or [] if r not in ("anonymous",))
    name = next(
        (
            str(c.get("val"))
            for c in claims
            if isinstance(c, dict) and c.get("typ") in (name_typ, *NAME_CLAIM_TYPES)
        ),
        None,
    )
    name = name or data.get("userDetails") or data.get("userId")
    if not name:
        raise PrincipalError("X-MS-CLIENT-PRINCIPAL has no name claim")
    return Principal(
        user_id=f"user:{name}" if ":" not in str(name) else str(name), roles=frozenset(roles)
    )


def parse_dev_principal(setting: str) -> Principal:
    """``user:dev;roles=Architect,Admin`` → Principal('user:dev', {'Architect', 'Admin'})."""
    user, _, rest = setting.partition(";")
    roles: set[str] = set()
    if rest.strip():
        key, _, values = rest.partition("=")
        if key.strip() != "roles":
            raise PrincipalError(f"PODIUM_DEV_PRINCIPAL: expected 'roles=...', got {rest!r}")
        roles = {r.strip() for r in values.split(",") if r.strip()}
    if not user.strip():
        raise PrincipalError("PODIUM_DEV_PRINCIPAL: the user part is empty")
    return Principal(user_id=user.strip(), roles=frozenset(roles))


def encode_principal(user: str, roles: list[str]) -> str:
    """The header value Easy Auth would send for ``user`` with ``roles`` (for tests and CLI)."""
    claims = [{"typ": "name", "val": user}] + [{"typ": "roles", "val": r} for r in roles]
    body = {"auth_typ": "aad", "name_typ": "name", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(body).encode()).decode()


def principal_from_headers(
    headers: Mapping[str, str], dev_principal: str | None
) -> Principal | None:
    """The caller, or None when anonymous (no header and no dev principal configured)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if PRINCIPAL_HEADER in lowered:
        return parse_principal_header(lowered[PRINCIPAL_HEADER])
    return parse_dev_principal(dev_principal) if dev_principal else None
