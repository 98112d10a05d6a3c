"""The project request: what a person asks the factory to build.

Why a strict model: every built-in agent derives its output from this document, so a typo in a
field type or a reference to an entity that does not exist must fail at submission with a clear
message, not three phases later inside a generated test.

Fields of an entity are written compactly as ``{"fieldName": "type"}`` where type is one of
``string``, ``integer``, ``number``, ``boolean``, ``datetime`` or ``ref:<Entity>`` (the id of
another entity, possibly in another bounded context), with a trailing ``?`` when optional.
``id`` is implicit on every entity.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCALAR_TYPES = ("string", "integer", "number", "boolean", "datetime")
SUPPORTED_STACKS = ("python-starlette",)
ARCHITECTURE_STYLES = ("microservices", "modular-monolith", "event-driven-microservices")

SLUG = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]{0,59}$")
IDENT = re.compile(r"^[a-z][A-Za-z0-9]{0,59}$")
RESERVED_FIELDS = {"id"}
# names the generated domain module defines or imports; an entity named so would shadow them
RESERVED_ENTITIES = {"Entity", "ValidationError", "ClassVar", "Any", "True", "False", "None"}


class FieldSpec(BaseModel):
    """One parsed field: ``name``, scalar ``type`` or ``ref`` target, ``required``."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    required: bool = True
    ref: str | None = None

    @classmethod
    def parse(cls, name: str, spec: str) -> FieldSpec:
        if not IDENT.match(name):
            raise ValueError(f"field name {name!r} must be camelCase letters and digits")
        if name in RESERVED_FIELDS:
            raise ValueError(f"field name {name!r} is reserved (every entity has an id)")
        text = spec.strip()
        required = not text.endswith("?")
        text = text.rstrip("?").strip()
        if text.startswith("ref:"):
            target = text[4:].strip()
            if not PASCAL.match(target):
                raise ValueError(f"field {name!r}: ref target {target!r} must be an entity name")
            return cls(name=name, type="ref", required=required, ref=target)
        if text not in SCALAR_TYPES:
            raise ValueError(
                f"field {name!r}: type {spec!r} is not one of {', '.join(SCALAR_TYPES)}"
                " or ref:<Entity>")
        return cls(name=name, type=text, required=required)

    def spec(self) -> str:
        base = f"ref:{self.ref}" if self.type == "ref" else self.type
        return base if self.required else f"{base}?"


class EntityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    fields: dict[str, str] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not PASCAL.match(value):
            raise ValueError(f"entity name {value!r} must be PascalCase letters and digits")
        if value in RESERVED_ENTITIES:
            raise ValueError(f"entity name {value!r} is reserved by the generated code")
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        for name, spec in value.items():
            FieldSpec.parse(name, spec)
        return value

    def parsed_fields(self) -> list[FieldSpec]:
        return [FieldSpec.parse(n, s) for n, s in self.fields.items()]


class BoundedContextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    entities: list[EntityRequest] = Field(min_length=1)
    requiresAuth: bool = True
    exposedPublicly: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError(f"bounded context name {value!r} must be a lowercase slug")
        if value == "identity":
            raise ValueError("bounded context name 'identity' is reserved for the identity "
                             "service")
        return value


class DomainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    boundedContexts: list[BoundedContextRequest] = Field(min_length=1)


class ProjectConfigRequest(BaseModel):
    """Per-project configuration: secrets are ``@vault:name`` references, never values."""

    model_config = ConfigDict(extra="forbid")

    env: str = "dev"
    secrets: dict[str, str] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)

    @field_validator("secrets")
    @classmethod
    def _references_only(cls, value: dict[str, str]) -> dict[str, str]:
        for key, ref in value.items():
            if not isinstance(ref, str) or not ref.startswith("@vault:") or len(ref) <= 7:
                raise ValueError(f"secret {key!r} must be a '@vault:<name>' reference, "
                                 "never a value")
        return value


class ProjectRequest(BaseModel):
    """The document submitted to ``podium run`` / the create-project endpoint."""

    model_config = ConfigDict(extra="forbid")

    tenantId: str
    projectId: str
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    architectureStyle: str = "microservices"
    technologyStack: str = "python-starlette"
    domain: DomainRequest
    roles: list[str] = Field(default_factory=lambda: ["Admin", "User", "QA"])
    config: ProjectConfigRequest = Field(default_factory=ProjectConfigRequest)
    fault: dict[str, Any] | None = Field(default=None, alias="_fault")

    @field_validator("tenantId", "projectId")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError(f"{value!r} must be a lowercase slug (a-z, 0-9, '-')")
        return value

    @field_validator("architectureStyle")
    @classmethod
    def _style(cls, value: str) -> str:
        if value not in ARCHITECTURE_STYLES:
            raise ValueError(f"architectureStyle must be one of {', '.join(ARCHITECTURE_STYLES)}")
        return value

    @field_validator("technologyStack")
    @classmethod
    def _stack(cls, value: str) -> str:
        if value not in SUPPORTED_STACKS:
            raise ValueError(f"technologyStack must be one of {', '.join(SUPPORTED_STACKS)}")
        return value

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        for role in value:
            if not PASCAL.match(role):
                raise ValueError(f"role {role!r} must be PascalCase")
        if len(set(value)) != len(value):
            raise ValueError("roles must be unique")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ProjectRequest:
        contexts = [c.name for c in self.domain.boundedContexts]
        if len(set(contexts)) != len(contexts):
            raise ValueError("bounded context names must be unique")
        entities = [e.name for c in self.domain.boundedContexts for e in c.entities]
        duplicates = sorted({e for e in entities if entities.count(e) > 1})
        if duplicates:
            raise ValueError(f"entity names must be unique in a project: {duplicates}")
        known = set(entities)
        for context in self.domain.boundedContexts:
            for entity in context.entities:
                for spec in entity.parsed_fields():
                    if spec.ref is not None and spec.ref not in known:
                        raise ValueError(f"{entity.name}.{spec.name} refers to unknown "
                                         f"entity {spec.ref!r}")
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_request(data: Any) -> ProjectRequest:
    """Validate a request document (raises pydantic.ValidationError with every problem)."""
    return ProjectRequest.model_validate(data)
