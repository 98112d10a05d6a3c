"""Planning agents: vision architect, enterprise architect, planner and basic planner.

Why deterministic: the plan is derived structurally from the request (bounded contexts become
services, ``ref:`` fields become relationships, dependencies and subscriptions), so the same
request always yields the same plan and the factory runs without any model. When an LLM is
configured it only writes prose (the summary, the planning rationale); structure never depends
on its answer, and a failing model falls back to the deterministic text.
"""

from __future__ import annotations

import re
from typing import Any

from podium.agents.builtin.common import (
    PLAN_DOMAIN,
    PLAN_SERVICES,
    PLAN_VISION,
    load_request,
    pascal,
    plural,
)
from podium.agents.context import AgentContext, PermanentFailure
from podium.agents.llm import LLMError
from podium.agents.messages import AgentTask
from podium.agents.request import SLUG, SUPPORTED_STACKS, ProjectRequest
from podium.agents.worker import AgentWorker

FIELD_TYPES = {"string", "integer", "number", "boolean", "datetime", "ref"}


def _llm_text(ctx: AgentContext, prompt: str, fallback: str) -> tuple[str, str]:
    """(text, source): the model's answer when one is configured and answers, else fallback."""
    if ctx.llm is None:
        return fallback, "deterministic"
    try:
        text = ctx.llm.complete([
            {"role": "system", "content": "You are a software architect. Answer in at most "
                                          "three plain sentences."},
            {"role": "user", "content": prompt},
        ])
    except LLMError as exc:
        ctx.logger.warning("LLM unavailable, using deterministic text: %s", exc)
        return fallback, "deterministic (llm failed)"
    return (text.strip() or fallback), ("llm" if text.strip() else "deterministic")


def _owners(request: ProjectRequest) -> dict[str, str]:
    """entity name -> bounded context name."""
    return {e.name: c.name for c in request.domain.boundedContexts for e in c.entities}


def _upstream(request: ProjectRequest) -> dict[str, list[str]]:
    """context -> the other contexts whose entities it refers to."""
    owners = _owners(request)
    result: dict[str, list[str]] = {}
    for context in request.domain.boundedContexts:
        ups = [owners[f.ref] for e in context.entities for f in e.parsed_fields()
               if f.ref is not None and owners[f.ref] != context.name]
        result[context.name] = list(dict.fromkeys(ups))
    return result


def system_name_of(name: str) -> str:
    """``Contoso Shop!`` -> ``ContosoShop``: letters and digits only, it lands in code."""
    return re.sub(r"[^A-Za-z0-9]", "", pascal(re.sub(r"[^A-Za-z0-9]+", "-", name))) or "Podium"


def vision_plan(request: ProjectRequest, summary: str, summary_source: str) -> dict[str, Any]:
    upstream = _upstream(request)
    contexts = [{
        "name": c.name,
        "description": c.description,
        "entities": [e.name for e in c.entities],
        "upstream": upstream[c.name],
        "requiresAuth": c.requiresAuth,
        "exposedPublicly": c.exposedPublicly,
    } for c in request.domain.boundedContexts]
    context_map = [{"upstream": up, "downstream": c["name"], "pattern": "customer-supplier"}
                   for c in contexts for up in c["upstream"]]
    return {
        "systemName": system_name_of(request.name),
        "tenantId": request.tenantId,
        "projectId": request.projectId,
        "description": request.description,
        "architectureStyle": request.architectureStyle,
        "technologyStack": request.technologyStack,
        "integrationStyle": "REST behind an API gateway; domain events on Azure Service Bus",
        "boundedContexts": contexts,
        "contextMap": context_map,
        "sharedServices": ["identity", "api-gateway"],
        "summary": summary,
        "summarySource": summary_source,
    }


def domain_model(request: ProjectRequest) -> dict[str, Any]:
    owners = _owners(request)
    entities: list[dict[str, Any]] = []
    relationships: list[dict[str, Any]] = []
    aggregates: list[dict[str, Any]] = []
    for context in request.domain.boundedContexts:
        local = {e.name for e in context.entities}
        members: dict[str, list[str]] = {}
        for entity in context.entities:
            fields = [{"name": "id", "type": "string", "required": True, "key": True}]
            parent: str | None = None
            for spec in entity.parsed_fields():
                field: dict[str, Any] = {"name": spec.name, "type": spec.type,
                                         "required": spec.required}
                if spec.ref is not None:
                    field["ref"] = spec.ref
                    relationships.append({
                        "from": entity.name, "to": spec.ref, "via": spec.name,
                        "cardinality": "many-to-one" if spec.required else "many-to-zero-or-one",
                        "crossContext": owners[spec.ref] != context.name,
                    })
                    if spec.required and spec.ref in local and parent is None:
                        parent = spec.ref
                fields.append(field)
            entities.append({"name": entity.name, "context": context.name,
                             "description": entity.description, "fields": fields})
            members.setdefault(parent or entity.name, []).append(entity.name)
        for root, names in members.items():
            aggregates.append({"context": context.name, "root": root,
                               "members": [n for n in names if n != root]})
    return {"projectId": request.projectId, "entities": entities,
            "relationships": relationships, "aggregates": aggregates}


def _entity_model(model: dict[str, Any], context: str) -> list[dict[str, Any]]:
    return [{"name": e["name"], "description": e.get("description", ""),
             "fields": [f for f in e["fields"] if not f.get("key")]}
            for e in model["entities"] if e["context"] == context]


def plan_services(request: ProjectRequest, model: dict[str, Any],
                  vision: dict[str, Any]) -> list[dict[str, Any]]:
    """The full planner: services with dependencies, published and subscribed events."""
    contexts = {c["name"]: c for c in vision["boundedContexts"]}
    owners = {e["name"]: e["context"] for e in model["entities"]}
    services = []
    for context in request.domain.boundedContexts:
        entity_model = _entity_model(model, context.name)
        publishes = [f"{e['name']}{verb}" for e in entity_model
                     for verb in ("Created", "Updated", "Deleted")]
        subscribes = sorted({f"{r['to']}Deleted" for r in model["relationships"]
                             if owners[r["from"]] == context.name and r["crossContext"]})
        services.append({
            "name": context.name,
            "boundedContext": context.name,
            "description": context.description,
            "responsibilities": [f"Manage {plural(e['name'])}" for e in entity_model],
            "entityModel": entity_model,
            "requiresAuth": context.requiresAuth,
            "exposedPublicly": context.exposedPublicly,
            "technologyStack": request.technologyStack,
            "dependsOn": contexts[context.name]["upstream"],
            "publishes": publishes,
            "subscribes": subscribes,
        })
    return services


def plan_services_basic(request: ProjectRequest) -> list[dict[str, Any]]:
    """The fallback planner: one service per bounded context, straight from the request."""
    model = domain_model(request)
    return [{
        "name": c.name, "boundedContext": c.name, "description": c.description,
        "responsibilities": [f"Manage {plural(e.name)}" for e in c.entities],
        "entityModel": _entity_model(model, c.name),
        "requiresAuth": c.requiresAuth, "exposedPublicly": c.exposedPublicly,
        "technologyStack": request.technologyStack, "dependsOn": [],
        "publishes": [f"{e.name}Created" for e in c.entities], "subscribes": [],
    } for c in request.domain.boundedContexts]


def validate_service_plan(services: Any) -> list[str]:
    """The seed's Input Validation of microservice plans; returns every problem found."""
    if not isinstance(services, list) or not services:
        return ["services must be a non-empty list"]
    errors: list[str] = []
    seen: set[str] = set()
    for index, service in enumerate(services):
        where = f"services[{index}]"
        if not isinstance(service, dict):
            errors.append(f"{where} must be an object")
            continue
        name = service.get("name")
        if not isinstance(name, str) or not SLUG.match(name):
            errors.append(f"{where}.name must be a lowercase slug")
        elif name in seen:
            errors.append(f"{where}.name {name!r} is not unique")
        else:
            seen.add(name)
        for flag in ("requiresAuth", "exposedPublicly"):
            if not isinstance(service.get(flag), bool):
                errors.append(f"{where}.{flag} must be a boolean")
        if service.get("technologyStack") not in SUPPORTED_STACKS:
            errors.append(f"{where}.technologyStack {service.get('technologyStack')!r} has no "
                          f"compatible template (supported: {', '.join(SUPPORTED_STACKS)})")
        errors += _validate_entities(service.get("entityModel"), f"{where}.entityModel")
    return errors


def _validate_entities(model: Any, where: str) -> list[str]:
    if not isinstance(model, list) or not model:
        return [f"{where} must be a non-empty list of entities"]
    errors = []
    for i, entity in enumerate(model):
        if not isinstance(entity, dict) or not isinstance(entity.get("name"), str):
            errors.append(f"{where}[{i}] must be an entity with a name")
            continue
        fields = entity.get("fields")
        if not isinstance(fields, list) or not fields:
            errors.append(f"{where}[{i}] ({entity['name']}) must have fields")
            continue
        names = [f.get("name") for f in fields if isinstance(f, dict)]
        if len(names) != len(fields) or len(set(names)) != len(names):
            errors.append(f"{where}[{i}] ({entity['name']}) has invalid or duplicate fields")
        for field in fields:
            if isinstance(field, dict) and field.get("type") not in FIELD_TYPES:
                errors.append(f"{where}[{i}].{field.get('name')} has unknown type "
                              f"{field.get('type')!r}")
    return errors


def _write_plan(ctx: AgentContext, request: ProjectRequest, services: list[dict[str, Any]],
                planner: str, rationale: str = "", rationale_source: str = "") -> dict[str, Any]:
    errors = validate_service_plan(services)
    if errors:
        raise PermanentFailure("InvalidDomainPlan", errors)
    document: dict[str, Any] = {"projectId": request.projectId, "planner": planner,
                                "services": services}
    if rationale:
        document["rationale"] = rationale
        document["rationaleSource"] = rationale_source
    ctx.write_json(PLAN_SERVICES, document)
    return {"services": [s["name"] for s in services], "planner": planner}


def register(workers: dict[str, AgentWorker]) -> None:
    vision = workers["vision-architect-agent"]
    enterprise = workers["enterprise-architect-agent"]
    planner = workers["planner-agent"]
    basic = workers["basic-planner-agent"]

    @vision.handler("GenerateVisionPlan")
    def generate_vision(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
        request = load_request(task, ctx)
        names = ", ".join(c.name for c in request.domain.boundedContexts)
        fallback = (f"{request.name} is built as {request.architectureStyle} on "
                    f"{request.technologyStack}: one service per bounded context ({names}), "
                    "an identity service and an API gateway, integrated by domain events.")
        summary, source = _llm_text(
            ctx, f"Summarize the architecture of {request.name}: {request.description} "
                 f"Bounded contexts: {names}.", fallback)
        ctx.write_json("plan/request.json", request.to_json())
        plan = vision_plan(request, summary, source)
        ctx.write_json(PLAN_VISION, plan)
        return {"systemName": plan["systemName"], "architectureStyle": plan["architectureStyle"],
                "boundedContexts": [c["name"] for c in plan["boundedContexts"]],
                "summarySource": source}

    @enterprise.handler("GenerateDomainModel")
    def generate_domain_model(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
        model = domain_model(load_request(task, ctx))
        ctx.write_json(PLAN_DOMAIN, model)
        return {"entities": [e["name"] for e in model["entities"]],
                "relationships": len(model["relationships"])}

    @planner.handler("PlanMicroservices")
    def plan_microservices(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
        request = load_request(task, ctx)
        model = ctx.read_json(PLAN_DOMAIN) if ctx.exists(PLAN_DOMAIN) else domain_model(request)
        vision_doc = (ctx.read_json(PLAN_VISION) if ctx.exists(PLAN_VISION)
                      else vision_plan(request, "", "deterministic"))
        services = plan_services(request, model, vision_doc)
        fallback = "; ".join(
            f"{s['name']} owns {', '.join(e['name'] for e in s['entityModel'])}"
            + (f" and depends on {', '.join(s['dependsOn'])}" if s["dependsOn"] else "")
            for s in services)
        rationale, source = _llm_text(
            ctx, f"Explain in short why {request.name} is split into these services: "
                 f"{fallback}.", fallback)
        return _write_plan(ctx, request, services, "planner-agent", rationale, source)

    @basic.handler("PlanMicroservices")
    def plan_microservices_basic(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
        request = load_request(task, ctx)
        return _write_plan(ctx, request, plan_services_basic(request), "basic-planner-agent")
