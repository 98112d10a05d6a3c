"""Configuration, @vault references, the resolver port and redaction."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from podium.domain import (
    DomainError,
    ProjectConfiguration,
    SecretResolver,
    find_vault_refs,
    redact,
    resolve_refs,
)

SECRET = "Endpoint=sb://ns;SharedAccessKey=s3cr3tKEY"


class DictResolver:
    def __init__(self, values: dict[tuple[str, str], str]) -> None:
        self.values = values
        self.calls: list[tuple[str, str]] = []

    def resolve(self, tenant_id: str, name: str) -> str:
        self.calls.append((tenant_id, name))
        return self.values[(tenant_id, name)]


def test_seed_configuration_shape() -> None:
    cfg = ProjectConfiguration.model_validate(
        {
            "tenantId": "tenant-abc",
            "projectId": "proj-123",
            "env": "dev",
            "secrets": {"ServiceBusConnectionString": "@vault:sb-dev",
                        "OAuthClientSecret": "@vault:auth-secret"},
            "variables": {"EnvironmentName": "Development", "EnableTelemetry": True,
                          "Extra": "uses @vault:extra-key inline"},
        }
    )  # fmt: skip
    assert cfg.vault_refs() == ["auth-secret", "extra-key", "sb-dev"]
    assert cfg.to_dict()["secrets"]["OAuthClientSecret"] == "@vault:auth-secret"


def test_literal_secret_rejected() -> None:
    with pytest.raises(ValidationError, match="must be @vault:<name> references.*Key"):
        ProjectConfiguration(tenant_id="t", project_id="p", secrets={"Key": "hunter2"})


def test_find_vault_refs_walks_everything() -> None:
    obj = {"a": ["@vault:one", ("x @vault:two y",)], "b": {"c": {"@vault:three"}}, "d": 5}
    assert find_vault_refs(obj) == ["one", "three", "two"]
    assert find_vault_refs("no refs here") == []


def test_resolve_refs_is_tenant_scoped() -> None:
    r = DictResolver({("t1", "sb-dev"): SECRET})
    assert isinstance(r, SecretResolver)
    out, used = resolve_refs({"conn": "@vault:sb-dev", "n": 3, "l": ["k=@vault:sb-dev"]}, r, "t1")
    assert out == {"conn": SECRET, "n": 3, "l": [f"k={SECRET}"]}
    assert used == [SECRET]
    assert r.calls == [("t1", "sb-dev")]  # cached within one call
    with pytest.raises(DomainError, match="secret 'sb-dev' not found for tenant 't2'"):
        resolve_refs("@vault:sb-dev", r, "t2")


def test_redact_strings_dicts_lists_and_exceptions() -> None:
    data = {
        "msg": f"connecting with {SECRET} failed",
        "nested": [SECRET, {"k": (SECRET, 1)}],
        SECRET: "as a key",
        "n": 42,
    }
    out = redact(data, [SECRET])
    text = repr(out)
    assert SECRET not in text
    assert out["msg"] == "connecting with *** failed"
    assert out["nested"] == ["***", {"k": ("***", 1)}]
    assert out["***"] == "as a key" and out["n"] == 42
    err = redact(ValueError(f"bad {SECRET}"), [SECRET])
    assert isinstance(err, ValueError) and str(err) == "bad ***"


def test_redact_exception_with_odd_constructor() -> None:
    class Odd(Exception):
        def __init__(self, code: int, detail: str) -> None:
            super().__init__(f"{code}: {detail}")

    exc = Odd(5, f"leaked {SECRET}")
    out = redact(exc, [SECRET])
    assert SECRET not in str(out)


def test_redact_overlapping_and_short_values() -> None:
    assert redact("abcdefgh and abcd", ["abcd", "abcdefgh"]) == "*** and ***"
    # too-short values are masked only as whole values, not inside text
    assert redact({"pin": "42", "text": "4242 apples"}, ["42"]) == {
        "pin": "***",
        "text": "4242 apples",
    }
    assert redact("unchanged", []) == "unchanged"


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ALPHABET = st.sampled_from("ab*x=;")


@settings(max_examples=300, deadline=None)
@given(
    secrets=st.lists(st.text(ALPHABET, min_size=4, max_size=8), min_size=1, max_size=3),
    chunks=st.lists(st.text(ALPHABET, max_size=6), max_size=6),
    data=st.data(),
)
def test_redacted_text_never_contains_a_secret(
    secrets: list[str], chunks: list[str], data: st.DataObject
) -> None:
    parts = []
    for chunk in chunks:
        parts.append(chunk)
        parts.append(data.draw(st.sampled_from(secrets)))
    text = "".join(parts)
    out = redact({"k": [text], "e": ValueError(text)}, secrets)
    for secret in secrets:
        assert secret not in out["k"][0]
        assert secret not in str(out["e"])


def test_masking_cannot_splice_into_another_secret() -> None:
    # one pass would turn "ab**a" into "***a", which is the second secret
    assert redact("ab**a", ["ab**", "***a"]) == "***"
    assert "***a" not in redact("x ab**a y", ["ab**", "***a"])
