"""HTTP functions serving Studio and the Prometheus metrics text.

The lead registers ``bp`` in ``function_app.py`` (``app.register_functions(bp)``). Routes are
relative to the host's route prefix (``/api``): ``studio``, ``studio/{*path}`` and ``metrics``.
Studio's pages are anonymous because they are static and hold no data: every piece of project
data comes from the JSON API, which enforces its own auth. The metrics route's auth level is a
setting (``PODIUM_METRICS_AUTH_LEVEL``), anonymous by default for local scraping.
"""

from __future__ import annotations

import os

import azure.functions as func

from podium.observability.metrics import prometheus_text
from podium.studio.assets import AssetResponse, serve

bp = func.Blueprint()

_AUTH_LEVELS = {
    "anonymous": func.AuthLevel.ANONYMOUS,
    "function": func.AuthLevel.FUNCTION,
    "admin": func.AuthLevel.ADMIN,
}


def _metrics_auth_level() -> func.AuthLevel:
    value = (os.environ.get("PODIUM_METRICS_AUTH_LEVEL") or "anonymous").strip().lower()
    if value not in _AUTH_LEVELS:
        raise ValueError(
            f"PODIUM_METRICS_AUTH_LEVEL={value!r} is not one of {', '.join(_AUTH_LEVELS)}"
        )
    return _AUTH_LEVELS[value]


METRICS_AUTH_LEVEL = _metrics_auth_level()


def _to_http(response: AssetResponse) -> func.HttpResponse:
    return func.HttpResponse(
        body=response.body,
        status_code=response.status,
        headers=dict(response.headers),  # Content-Type explicit, and mirrored in mimetype
        mimetype=response.content_type.split(";")[0],
        charset="utf-8",
    )


def _request_path(req: func.HttpRequest) -> str:
    from urllib.parse import urlsplit

    return urlsplit(req.url).path


@bp.function_name("studio_index")
@bp.route(route="studio", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def studio_index(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/studio``: the single-page app's index."""
    return _to_http(serve(_request_path(req), None))


@bp.function_name("studio_asset")
@bp.route(route="studio/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def studio_asset(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/studio/<path>``: a static asset (the index for an empty path)."""
    path = req.route_params.get("path") or ""
    return _to_http(serve(_request_path(req), path, req.headers.get("If-None-Match")))


@bp.function_name("podium_metrics")
@bp.route(route="metrics", methods=["GET"], auth_level=METRICS_AUTH_LEVEL)
def metrics(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/metrics``: Prometheus text exposition of Podium's metrics."""
    return func.HttpResponse(
        body=prometheus_text(),
        status_code=200,
        headers={
            "Cache-Control": "no-store",
            "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
        },
    )
