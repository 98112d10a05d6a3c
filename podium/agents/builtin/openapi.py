"""OpenAPI 3.1 contracts of generated services, built as data (not templated text).

Why data: the contract is JSON that other agents (gateway, QA) and the generated tests read
back, so it is built from the same entity model as the code and always parses.
"""

from __future__ import annotations

from typing import Any

_JSON_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string", "minLength": 1},
    "ref": {"type": "string", "minLength": 1},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
}


def entity_schema(entity: dict[str, Any], with_id: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    if with_id:
        properties["id"] = {"type": "string", "readOnly": True}
        required.append("id")
    for field in entity["fields"]:
        schema = dict(_JSON_TYPES[field["type"]])
        if field.get("ref"):
            schema["description"] = f"id of a {field['ref']}"
        properties[field["name"]] = schema
        if field["required"]:
            required.append(field["name"])
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def service_contract(name: str, system: str, entities: list[dict[str, Any]],
                     requires_auth: bool) -> dict[str, Any]:
    """The contract of a CRUD service; paths match the generated starlette routes exactly."""
    errors = {"description": "invalid payload", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"errors": {"type": "object"}}}}}}
    not_found = {"description": "not found"}
    paths: dict[str, Any] = {"/health": {"get": {
        "operationId": "health", "security": [],
        "responses": {"200": {"description": "the service is up"}}}}}
    schemas: dict[str, Any] = {}
    for entity in entities:
        model, new = entity["name"], f"{entity['name']}Input"
        schemas[model] = entity_schema(entity, with_id=True)
        schemas[new] = entity_schema(entity, with_id=False)
        collection, item = f"/{entity['path']}", f"/{entity['path']}/{{item_id}}"
        paths[collection] = {
            "get": {"operationId": f"list{model}", "responses": {
                "200": _json({"type": "array", "items": _ref(model)}, f"all {model} records")}},
            "post": {"operationId": f"create{model}",
                     "requestBody": {"required": True, **_json(_ref(new), model)},
                     "responses": {"201": _json(_ref(model), "created"), "422": errors}},
        }
        parameter = [{"name": "item_id", "in": "path", "required": True,
                      "schema": {"type": "string"}}]
        paths[item] = {
            "parameters": parameter,
            "get": {"operationId": f"get{model}", "responses": {
                "200": _json(_ref(model), model), "404": not_found}},
            "put": {"operationId": f"replace{model}",
                    "requestBody": {"required": True, **_json(_ref(new), model)},
                    "responses": {"200": _json(_ref(model), "replaced"), "404": not_found,
                                  "422": errors}},
            "delete": {"operationId": f"delete{model}", "responses": {
                "204": {"description": "deleted"}, "404": not_found}},
        }
    contract: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": f"{system} {name} service", "version": "1.0.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if requires_auth:
        contract["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}}
        contract["security"] = [{"bearer": []}]
    return contract
