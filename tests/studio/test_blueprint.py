"""The Studio blueprint: routes, static serving (types, caching, path safety), /api/metrics."""

from __future__ import annotations

import re

import azure.functions as func
import httpx
import pytest

from podium.observability import reset_metrics
from podium.studio import assets
from podium.studio.blueprint import bp, metrics, studio_asset, studio_index


def _get(fn, url: str, path: str | None = None, headers: dict | None = None) -> func.HttpResponse:
    req = func.HttpRequest(
        method="GET",
        url=url,
        headers=headers or {},
        route_params={"path": path} if path is not None else {},
        body=b"",
    )
    return fn(req)


def test_blueprint_declares_anonymous_get_routes() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(bp)
    routes = {}
    for f in app.get_functions():
        trigger = f.get_trigger().get_dict_repr()
        routes[trigger["route"]] = (str(trigger["authLevel"]), [str(m) for m in trigger["methods"]])
    assert set(routes) == {"studio", "studio/{*path}", "metrics"}
    for level, methods in routes.values():
        assert "ANONYMOUS" in level.upper() and len(methods) == 1 and "GET" in methods[0]


def test_index_gets_base_href_and_api_base_from_the_request_path() -> None:
    for url, path in (
        ("http://h/api/studio", None),
        ("http://h/api/studio/", ""),
        ("http://h/api/studio/index.html", "index.html"),
    ):
        fn = studio_index if path is None else studio_asset
        resp = _get(fn, url, path)
        body = resp.get_body().decode()
        assert resp.status_code == 200, url
        assert resp.headers["Content-Type"].startswith("text/html")
        assert '<base href="/api/studio/">' in body
        assert '<meta name="podium-api-base" content="/api/">' in body
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    custom = _get(studio_index, "http://h/podium/v1/studio").get_body().decode()
    assert '<base href="/podium/v1/studio/">' in custom
    assert 'content="/podium/v1/">' in custom


def test_assets_have_types_and_revalidate_with_etag() -> None:
    resp = _get(studio_asset, "http://h/api/studio/js/app.js", "js/app.js")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/javascript; charset=utf-8"
    etag = resp.headers["ETag"]
    again = _get(
        studio_asset, "http://h/api/studio/js/app.js", "js/app.js", {"If-None-Match": etag}
    )
    assert again.status_code == 304 and again.get_body() == b""
    css = _get(studio_asset, "http://h/api/studio/studio.css", "studio.css")
    assert css.headers["Content-Type"].startswith("text/css")


@pytest.mark.parametrize(
    "path",
    [
        "../blueprint.py",
        "js/../../assets.py",
        "..\\assets.py",
        ".hidden",
        "nope.js",
        "js",
        "/etc/passwd",
    ],
)
def test_paths_outside_static_or_missing_are_404(path: str) -> None:
    resp = _get(studio_asset, f"http://h/api/studio/{path}", path)
    assert resp.status_code == 404, path


def test_every_referenced_asset_and_module_import_exists() -> None:
    """No build step: what index.html and each module import must be on disk."""
    static = assets.STATIC_DIR
    index = (static / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"#:]+)"', index)
    assert refs and all((static / r).is_file() for r in refs), refs
    for module in static.rglob("*.js"):
        for target in re.findall(r'from "(\.[^"]+)"', module.read_text()):
            assert (module.parent / target).resolve().is_file(), (module, target)
    # no CDN: nothing is loaded from another origin
    for file in static.rglob("*"):
        if file.suffix in (".html", ".js", ".css"):
            assert not re.search(r"https?://", file.read_text()), file


def test_metrics_function_serves_prometheus_text() -> None:
    m = reset_metrics()
    try:
        m.orchestration_started("ProjectBootstrapOrchestrator")
        resp = _get(metrics, "http://h/api/metrics")
        body = resp.get_body().decode()
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert 'orchestrations_started_total{orchestrator="ProjectBootstrapOrchestrator"} 1' in body
        assert "# TYPE agent_task_latency_ms histogram" in body
    finally:
        reset_metrics()


def test_metrics_over_real_http(studio_server: str) -> None:
    """Through a real HTTP server and the Functions adapter, as a Prometheus scraper sees it."""
    m = reset_metrics()
    try:
        m.secret_resolved(7.5)
        m.human_task_requested("Architect")
        resp = httpx.get(f"{studio_server}/api/metrics", timeout=10)
        assert resp.status_code == 200
        assert 'secrets_requested_total{source="keyvault"} 1' in resp.text
        assert 'human_tasks_requested_total{required_role="Architect"} 1' in resp.text
        assert 'vault_latency_ms_sum{source="keyvault"} 7.5' in resp.text
    finally:
        reset_metrics()


def test_metrics_auth_level_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from podium.studio import blueprint

    monkeypatch.setenv("PODIUM_METRICS_AUTH_LEVEL", "Function")
    assert blueprint._metrics_auth_level() is func.AuthLevel.FUNCTION
    monkeypatch.setenv("PODIUM_METRICS_AUTH_LEVEL", "secret")
    with pytest.raises(ValueError, match="PODIUM_METRICS_AUTH_LEVEL"):
        blueprint._metrics_auth_level()
