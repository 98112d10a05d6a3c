"""The Durable Functions HTTP API: routes, status codes, JSON errors, keys."""

from __future__ import annotations

import pytest

from tests.localhost.host.conftest import BASIC_APP, DURABLE_KEY, FUNCTION_KEY, MASTER_KEY

API = "/runtime/webhooks/durabletask"
KEY = {"x-functions-key": DURABLE_KEY}


@pytest.fixture
def host(podium_host):
    return podium_host(BASIC_APP)


def _start(host, name: str = "greet", body: object = None, instance_id: str | None = None):
    path = f"{API}/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
    return host.request("POST", path, json=body, headers=KEY)


def test_start_then_status_202_then_200(host) -> None:
    r = _start(host, body=["a", "b"], instance_id="i1")
    assert r.status_code == 202
    payload = r.json()
    assert payload["id"] == "i1"
    assert r.headers["location"] == payload["statusQueryGetUri"]
    assert "code=" + DURABLE_KEY in payload["statusQueryGetUri"]
    host.wait_for_idle()
    r = host.request("GET", f"{API}/instances/i1", headers=KEY)
    assert r.status_code == 200
    body = r.json()
    assert (body["runtimeStatus"], body["output"], body["input"]) == (
        "Completed",
        ["hello a", "hello b"],
        ["a", "b"],
    )
    assert body["customStatus"] == {"done": 2}
    r = host.request("GET", f"{API}/instances/i1", params={"showHistory": "true"}, headers=KEY)
    assert r.json()["historyEvents"]


def test_create_and_wait(host) -> None:
    r = host.request("POST", f"{API}/orchestrators/greet", json=["w"], headers=KEY,
                     params={"timeout": "10", "pollingInterval": "0.02"})
    assert (r.status_code, r.json()) == (200, ["hello w"])
    r = host.request("POST", f"{API}/orchestrators/approval", headers=KEY,
                     params={"timeout": "0.1", "pollingInterval": "0.02"})
    assert r.status_code == 202 and r.headers["location"]  # still waiting: check-status reply
    r = host.request("POST", f"{API}/orchestrators/greet", headers=KEY,
                     params={"timeout": "soon"})
    assert r.status_code == 400


def test_running_instance_is_202_with_location(host) -> None:
    _start(host, "approval", {"x": 1}, "ap")
    host.wait_for_idle()
    r = host.request("GET", f"{API}/instances/ap", headers=KEY)
    assert r.status_code == 202 and r.json()["runtimeStatus"] == "Running"
    assert "instances/ap" in r.headers["location"]


def test_keys_required_master_key_accepted(host) -> None:
    assert host.request("GET", f"{API}/instances").status_code == 401
    assert host.request("GET", f"{API}/instances", params={"code": FUNCTION_KEY}).status_code == 401
    assert host.request("GET", f"{API}/instances", params={"code": MASTER_KEY}).status_code == 200
    assert host.request("GET", f"{API}/instances", params={"code": DURABLE_KEY}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error"),
    [
        ("POST", "/orchestrators/nope", {}, 404, "UnknownFunction"),
        ("POST", "/orchestrators/greet", {"content": b"{bad json"}, 400, "BadRequest"),
        ("GET", "/instances/missing", {}, 404, "InstanceNotFound"),
        ("DELETE", "/instances/missing", {}, 404, "InstanceNotFound"),
        ("POST", "/instances/missing/raiseEvent/approve", {"json": 1}, 404, "InstanceNotFound"),
        ("POST", "/instances/missing/terminate", {}, 404, "InstanceNotFound"),
        ("GET", "/instances", {"params": {"runtimeStatus": "Sleeping"}}, 400, "BadRequest"),
        ("GET", "/instances", {"params": {"createdTimeFrom": "yesterday"}}, 400, "BadRequest"),
        ("GET", "/instances", {"params": {"top": "x"}}, 400, "BadRequest"),
        ("DELETE", "/instances", {}, 400, "BadRequest"),
        ("POST", "/entities/nope/k", {"params": {"op": "add"}}, 404, "UnknownFunction"),
        ("POST", "/entities/counter/k", {}, 400, "BadRequest"),
        ("GET", "/entities/counter/never", {}, 404, "EntityNotFound"),
        ("GET", "/no/such/route", {}, 404, "NotFound"),
    ],
)
def test_bad_requests_get_json_errors(host, method, path, kwargs, status, error) -> None:
    r = host.request(method, API + path, headers=KEY, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error and body["message"]


def test_raise_event_terminate_suspend_resume_and_410s(host) -> None:
    _start(host, "approval", None, "a1")
    _start(host, "approval", None, "a2")
    host.wait_for_idle()
    r = host.request("POST", f"{API}/instances/a1/raiseEvent/approve", json="yes", headers=KEY)
    assert r.status_code == 202
    host.wait_for_idle()
    assert host.status("a1").output == {"approved": "yes"}
    r = host.request("POST", f"{API}/instances/a1/raiseEvent/approve", json=1, headers=KEY)
    assert r.status_code == 410 and r.json()["message"]
    assert host.request("POST", f"{API}/instances/a1/terminate", headers=KEY).status_code == 410

    assert (
        host.request("POST", f"{API}/instances/a2/suspend?reason=x", headers=KEY).status_code == 202
    )
    host.wait_for_idle()
    assert host.status("a2").runtime_status.value == "Suspended"
    assert host.request("POST", f"{API}/instances/a2/resume", headers=KEY).status_code == 202
    host.wait_for_idle()
    assert (
        host.request("POST", f"{API}/instances/a2/terminate?reason=stop", headers=KEY).status_code
        == 202
    )
    host.wait_for_idle()
    r = host.request("GET", f"{API}/instances/a2", headers=KEY)
    assert r.status_code == 400 and r.json()["runtimeStatus"] == "Terminated"


def test_restart_with_same_and_new_id(host) -> None:
    _start(host, "greet", ["r"], "r1")
    host.wait_for_idle()
    r = host.request("POST", f"{API}/instances/r1/restart",
                     params={"restartWithNewInstanceId": "false"}, headers=KEY)
    assert (r.status_code, r.json()) == (202, "r1")
    r = host.request("POST", f"{API}/instances/r1/restart", headers=KEY)
    new_id = r.json()
    assert r.status_code == 202 and new_id != "r1"
    host.wait_for_idle()
    assert host.status(new_id).output == ["hello r"]


def test_list_filters_and_continuation(host) -> None:
    for i in range(3):
        _start(host, "greet", [str(i)], f"g{i}")
    _start(host, "approval", None, "w1")
    host.wait_for_idle()
    r = host.request("GET", f"{API}/instances", params={"runtimeStatus": "Completed"}, headers=KEY)
    assert sorted(i["instanceId"] for i in r.json()) == ["g0", "g1", "g2"]
    assert all(i["input"] is None for i in r.json())  # showInput defaults to false in lists
    seen, token = [], None
    while True:
        headers = dict(KEY)
        if token:
            headers["x-ms-continuation-token"] = token
        r = host.request(
            "GET", f"{API}/instances", params={"top": "1", "showInput": "true"}, headers=headers
        )
        assert r.status_code == 200 and len(r.json()) <= 1
        seen += [i["instanceId"] for i in r.json()]
        token = r.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert sorted(seen) == ["g0", "g1", "g2", "w1"]
    r = host.request("GET", f"{API}/instances", params={"instanceIdPrefix": "g1"}, headers=KEY)
    assert [i["instanceId"] for i in r.json()] == ["g1"]


def test_purge_one_and_by_filter(host) -> None:
    for i in range(3):
        _start(host, "greet", [str(i)], f"p{i}")
    host.wait_for_idle()
    r = host.request("DELETE", f"{API}/instances/p0", headers=KEY)
    assert (r.status_code, r.json()) == (200, {"instancesDeleted": 1})
    r = host.request(
        "DELETE",
        f"{API}/instances",
        headers=KEY,
        params={"runtimeStatus": "Completed", "createdTimeFrom": "2000-01-01T00:00:00Z"},
    )
    assert (r.status_code, r.json()) == (200, {"instancesDeleted": 2})
    r = host.request(
        "DELETE", f"{API}/instances", headers=KEY, params={"runtimeStatus": "Completed"}
    )
    assert r.status_code == 404


def test_entity_signal_and_read(host) -> None:
    r = host.request(
        "POST", f"{API}/entities/counter/c1", params={"op": "add"}, json=5, headers=KEY
    )
    assert r.status_code == 202
    host.wait_for_idle()
    r = host.request("GET", f"{API}/entities/counter/c1", headers=KEY)
    assert (r.status_code, r.json()) == (200, 5)
