"""Caller principals (Easy Auth header, dev principal) and the agent throttle's leases."""

from __future__ import annotations

import base64

import pytest

from podium.coordination.principal import (
    PrincipalError,
    encode_principal,
    parse_dev_principal,
    principal_from_headers,
)
from podium.coordination.throttle import AgentThrottle


def test_easy_auth_header_gives_user_and_roles():
    header = encode_principal("dmitry", ["Architect", "Reviewer"])
    p = principal_from_headers({"X-MS-CLIENT-PRINCIPAL": header}, "user:dev;roles=Admin")
    assert p.user_id == "user:dmitry" and p.has_role("architect") and not p.has_role("Admin")


def test_dev_principal_only_without_header_and_none_when_unset():
    assert principal_from_headers({}, "user:dev;roles=Admin,Architect").roles == {
        "Admin", "Architect"}
    assert principal_from_headers({}, None) is None


@pytest.mark.parametrize("value", ["not base64 !!", base64.b64encode(b"[1]").decode(),
                                   base64.b64encode(b'{"claims": []}').decode()])
def test_bad_headers_are_refused_clearly(value):
    with pytest.raises(PrincipalError):
        principal_from_headers({"x-ms-client-principal": value}, None)


def test_bad_dev_principal_names_the_setting():
    with pytest.raises(PrincipalError, match="PODIUM_DEV_PRINCIPAL"):
        parse_dev_principal("user:x;groups=a")


def test_throttle_grants_up_to_the_limit_and_expires_vanished_leases():
    t = AgentThrottle()
    at = "2030-01-01T00:00:00Z"
    assert t.acquire("a", 2, at, 60)["granted"] and t.acquire("b", 2, at, 60)["granted"]
    assert not t.acquire("c", 2, at, 60)["granted"]
    assert t.acquire("a", 2, at, 60)["granted"], "a holder keeps its slot"
    t.release("a")
    assert t.acquire("c", 2, at, 60)["granted"]
    later = "2030-01-01T00:05:00Z"
    assert t.acquire("d", 2, later, 60)["granted"], "expired leases were dropped"
    assert set(t.leases) == {"d"}
