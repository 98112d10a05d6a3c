"""HTTP triggers: routes, methods, auth levels and keys, request/response mapping, errors."""

from __future__ import annotations

import pytest

from podium.localhost.http_triggers import RouteError, compile_route
from tests.localhost.host.conftest import BASIC_APP, FUNCTION_KEY, MASTER_KEY


@pytest.fixture
def host(podium_host):
    return podium_host(BASIC_APP)


def test_route_params_query_headers_and_json_response(host) -> None:
    r = host.request(
        "GET", "/api/items/42", params={"q": "x", "code": FUNCTION_KEY}, headers={"x-test": "hdr"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"id": "42", "q": "x", "method": "GET", "header": "hdr"}


def test_constraint_mismatch_is_404_and_method_mismatch_405(host) -> None:
    r = host.request("GET", "/api/items/abc", params={"code": FUNCTION_KEY})
    assert r.status_code == 404 and r.json()["error"] == "NotFound"
    r = host.request("POST", "/api/items/1", params={"code": FUNCTION_KEY})
    assert r.status_code == 405


def test_optional_and_catch_all_params(host) -> None:
    assert host.request("GET", "/api/hello").text == "hi nobody"
    assert host.request("GET", "/api/HELLO/ann").text == "hi ann"  # literals: any case
    assert host.request("GET", "/api/files/a/b/c.txt").text == "a/b/c.txt"


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/items/1", {}, 401),  # missing key
        ("/api/items/1?code=wrong", {}, 401),  # wrong key
        ("/api/items/1", {"x-functions-key": FUNCTION_KEY}, 200),
        ("/api/items/1?code=" + MASTER_KEY, {}, 200),  # the master key opens function level
        ("/api/admin-only?code=" + FUNCTION_KEY, {}, 401),  # admin needs the master key
        ("/api/admin-only", {"x-functions-key": MASTER_KEY}, 200),
        ("/api/hello", {}, 200),  # anonymous
    ],
)
def test_auth_levels(host, path: str, headers: dict, status: int) -> None:
    r = host.request("GET", path, headers=headers)
    assert r.status_code == status, r.text
    if status == 401:
        assert r.json()["error"] == "Unauthorized"


def test_body_status_and_headers_round_trip(host) -> None:
    r = host.request("POST", "/api/echo", content=b"\x00raw")
    assert (r.status_code, r.content, r.headers["x-echo"]) == (201, b"\x00raw", "1")


def test_unhandled_exception_is_500_json_without_details_and_host_keeps_serving(host) -> None:
    r = host.request("GET", "/api/boom")
    assert r.status_code == 500
    assert r.json()["error"] == "InternalServerError"
    assert "secret internal detail" not in r.text and "Traceback" not in r.text
    assert host.request("GET", "/api/hello").status_code == 200


def test_context_and_exported_settings(podium_host) -> None:
    import json
    import os

    assert "TASKS_QUEUE" not in os.environ
    host = podium_host(BASIC_APP)
    first = json.loads(host.request("GET", "/api/whoami").text)
    second = json.loads(host.request("GET", "/api/whoami").text)
    assert first["function"] == "whoami" and first["setting"] == "tasks"  # Values exported
    assert len(first["invocation"]) == 36 and first["invocation"] != second["invocation"]
    host.stop()
    assert "TASKS_QUEUE" not in os.environ  # taken back when the host stops


def test_unknown_path_is_json_404(host) -> None:
    r = host.request("GET", "/api/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "NotFound"


def test_http_urls_listed_for_the_banner(host) -> None:
    urls = {name: url for name, _, url in host.http_urls()}
    assert urls["item"].endswith("/api/items/{id:int}")
    assert len(urls) == 10


def test_route_compiler() -> None:
    route = compile_route("orders/{id:int:min(10)}/{kind:alpha?}")
    assert route.match("/orders/12") == {"id": "12"}
    assert route.match("/orders/12/abc") == {"id": "12", "kind": "abc"}
    assert route.match("/orders/9") is None
    assert route.match("/orders/12/a1") is None
    with pytest.raises(RouteError):
        compile_route("a/{x:nope}")
    with pytest.raises(RouteError):
        compile_route("a/{*rest}/b")
