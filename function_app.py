"""Podium's Azure Functions app: thin wiring only.

Registers the blueprints of ``orchestrators/``, ``activities/``, ``entities/``, the trigger
functions (event router and agent results on Service Bus, the HTTP API) and Studio (static UI +
metrics endpoint). Every rule lives in the pure domain core (``podium.domain``) and
``podium.coordination``. The same file runs on Azure and under the local host (``podium host``).
"""

import azure.durable_functions as df
import azure.functions as func

from activities import bp as activities_bp
from entities import bp as entities_bp
from orchestrators import bp as orchestrators_bp
from podium.studio.blueprint import bp as studio_bp
from triggers import bp as triggers_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (orchestrators_bp, activities_bp, entities_bp, triggers_bp, studio_bp):
    app.register_functions(blueprint)
