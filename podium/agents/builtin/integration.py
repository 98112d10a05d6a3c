"""gateway-agent and integration-agent: the routes and the events between services.

Why the gateway merges under a lock: ConfigureApiGateway runs once per service, in parallel,
and all of them contribute to the single ``gateway/routes.json``; each run replaces its own
service's entries, so retries and re-runs converge to the same file.
"""

from __future__ import annotations

from typing import Any

from podium.agents.builtin.common import (
    IDENTITY_SERVICE,
    find_service,
    load_services,
    service_name,
)
from podium.agents.context import AgentContext
from podium.agents.messages import AgentTask
from podium.agents.worker import AgentWorker

ROUTES = "gateway/routes.json"
SERVICE_PORT = 8000


def _route(service: dict[str, Any], contract: dict[str, Any],
           origins: list[str]) -> dict[str, Any]:
    name = service["name"]
    paths = sorted(p for p in contract.get("paths", {}) if p != "/health")
    methods = sorted({m.upper() for p in paths for m in contract["paths"][p]
                      if m != "parameters"})
    return {
        "service": name,
        "pathPrefix": f"/api/{name}",
        "upstream": f"http://{name}:{SERVICE_PORT}",
        "paths": paths,
        "methods": methods,
        "requiresAuth": bool(service["requiresAuth"]),
        "cors": {"allowedOrigins": origins, "allowedMethods": methods,
                 "allowedHeaders": ["Authorization", "Content-Type", "traceparent"]},
        "rateLimitPerMinute": 600,
        "healthCheck": f"http://{name}:{SERVICE_PORT}/health",
    }


def _identity_route(origins: list[str]) -> dict[str, Any]:
    return {"service": IDENTITY_SERVICE, "pathPrefix": f"/api/{IDENTITY_SERVICE}",
            "upstream": f"http://{IDENTITY_SERVICE}:{SERVICE_PORT}",
            "paths": ["/introspect", "/roles", "/token"], "methods": ["GET", "POST"],
            "requiresAuth": False,
            "cors": {"allowedOrigins": origins, "allowedMethods": ["GET", "POST"],
                     "allowedHeaders": ["Content-Type", "traceparent"]},
            "rateLimitPerMinute": 120,
            "healthCheck": f"http://{IDENTITY_SERVICE}:{SERVICE_PORT}/health"}


def configure_gateway(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
    name = service_name(task)
    service = find_service(ctx, name)
    contract = ctx.read_json(f"services/{name}/openapi.json")
    origins = task.config.get("allowedOrigins") or task.inputs.get("allowedOrigins") or ["*"]
    with ctx.locked("gateway-routes"):
        current = ctx.read_json(ROUTES) if ctx.exists(ROUTES) else {"routes": []}
        routes = [r for r in current.get("routes", [])
                  if r.get("service") not in (name, IDENTITY_SERVICE)]
        if service["exposedPublicly"]:
            routes.append(_route(service, contract, origins))
        if any(r["requiresAuth"] for r in routes):
            routes.append(_identity_route(origins))
        routes.sort(key=lambda r: r["service"])
        ctx.write_json(ROUTES, {"projectId": task.project_id, "routes": routes})
    return {"serviceName": name, "exposed": bool(service["exposedPublicly"]),
            "routes": len(routes)}


def service_events(name: str, services: list[dict[str, Any]]) -> dict[str, Any]:
    """What a service publishes and which other services' events it subscribes to."""
    owner = {e["name"]: s["name"] for s in services for e in s["entityModel"]}
    service = next(s for s in services if s["name"] == name)
    publishes = []
    for entity in service["entityModel"]:
        for verb in ("Created", "Updated", "Deleted"):
            publishes.append({"event": f"{entity['name']}{verb}", "topic": f"{name}-events",
                              "entity": entity["name"]})
    wanted = {f"{f['ref']}Deleted" for e in service["entityModel"] for f in e["fields"]
              if f.get("ref") and owner.get(f["ref"]) not in (None, name)}
    wanted |= {event for event in service.get("subscribes", [])
               if event.endswith("Deleted") and owner.get(event[:-7]) not in (None, name)}
    subscriptions = [{"event": event, "topic": f"{owner[event[:-7]]}-events",
                      "subscription": f"{name}-on-{event}",
                      "filter": {"eventType": event}}
                     for event in sorted(wanted)]
    return {"serviceName": name, "broker": "azure-service-bus",
            "connectionSecret": "ServiceBusConnectionString",
            "publishes": publishes, "subscriptions": subscriptions}


def register(workers: dict[str, AgentWorker]) -> None:
    workers["gateway-agent"].add_handler("ConfigureApiGateway", configure_gateway)

    @workers["integration-agent"].handler("SetupServiceBusEvents")
    def setup_events(task: AgentTask, ctx: AgentContext) -> dict[str, Any]:
        name = service_name(task)
        find_service(ctx, name)
        events = service_events(name, load_services(ctx))
        ctx.write_json(f"services/{name}/events.json", events)
        return {"serviceName": name, "publishes": len(events["publishes"]),
                "subscriptions": [s["event"] for s in events["subscriptions"]]}
