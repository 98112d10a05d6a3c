"""Example project requests: the shipped ones and synthetic ones of any size for benchmarks.

Why synthetic requests are shaped like real ones: the benchmark measures how orchestration
overhead grows from 3 to 100 microservices, so each synthetic service must exercise the same
agents as a real one (an entity with every field type, a cross-service reference), but stay
tiny so agent time does not drown the overhead being measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from podium.agents.request import ProjectRequest, parse_request

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


def load_request(path: str | Path) -> ProjectRequest:
    """Read and validate a request file (e.g. ``examples/contoso-shop.json``)."""
    return parse_request(json.loads(Path(path).read_text(encoding="utf-8")))


def example_path(name: str = "contoso-shop") -> Path:
    return EXAMPLES_DIR / f"{name}.json"


def synthetic_request(n_services: int, *, tenant_id: str = "bench",
                      project_id: str | None = None) -> dict[str, Any]:
    """A valid request with ``n_services`` bounded contexts, hence n planned microservices.

    Service i has one entity ``Record<i>`` with one field of each scalar type; every service
    after the first refers to its predecessor's entity, so relationships, events and
    subscriptions are exercised too. Deterministic: same n, same document.
    """
    if n_services < 1:
        raise ValueError("n_services must be >= 1")
    width = max(3, len(str(n_services)))
    contexts = []
    for i in range(1, n_services + 1):
        tag = f"{i:0{width}d}"
        fields: dict[str, str] = {
            "title": "string", "quantity": "integer", "price": "number?",
            "active": "boolean", "createdAt": "datetime?",
        }
        if i > 1:
            fields["previousId"] = f"ref:Record{i - 1:0{width}d}?"
        contexts.append({
            "name": f"svc{tag}",
            "description": f"Synthetic bounded context {i} of {n_services}.",
            "requiresAuth": i % 2 == 0,
            "exposedPublicly": i % 3 != 0,
            "entities": [{"name": f"Record{tag}", "fields": fields}],
        })
    document = {
        "tenantId": tenant_id,
        "projectId": project_id or f"synthetic-{n_services}",
        "name": f"Synthetic {n_services}",
        "description": f"A synthetic project with {n_services} microservices for benchmarks.",
        "domain": {"boundedContexts": contexts},
        "config": {"secrets": {"ServiceBusConnectionString": "@vault:sb-bench"}},
    }
    parse_request(document)  # a generator that emits invalid requests is a bug: fail here
    return document
