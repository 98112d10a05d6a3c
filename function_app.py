"""Podium's Azure Functions app: thin wiring only.

Registers the blueprints of ``orchestrators/``, ``activities/``, ``entities/`` and the HTTP /
Service Bus trigger functions; every rule lives in the pure domain core (``podium.domain``).
The same file runs on Azure and under the local host (``podium host``).
"""

import azure.durable_functions as df
import azure.functions as func

from activities import bp as activities_bp
from entities import bp as entities_bp
from orchestrators import bp as orchestrators_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (orchestrators_bp, activities_bp, entities_bp):
    app.register_functions(blueprint)
