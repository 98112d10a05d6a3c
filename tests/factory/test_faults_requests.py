"""Fault tests of the factory (issue 4), bad input at the front door: a project request whose
multi-project fields are malformed or point at another tenant's project gets a clear 400 and
nothing is created (no record, no coordinator, no ProjectCreated)."""

from __future__ import annotations

import pytest

from tests.factory.conftest import small_request


def _nothing_created(factory, pid: str) -> None:
    assert factory.get(f"/api/projects/{pid}").status_code == 404
    assert factory.host.wait_for_idle(30)
    assert not factory.events(pid)
    listed = factory.get("/api/projects?tenantId=contoso").json()["projects"]
    assert pid not in [p["projectId"] for p in listed]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"upstream": "parent-a"}, "upstream"),
        ({"upstream": [1, 2]}, "upstream"),
        ({"upstream": ["no-such-project"]}, "no-such-project"),
        ({"upstream": ["parent-a"], "triggerOnUpstreamPhase": "Bogus"}, "triggerOnUpstreamPhase"),
        ({"triggerOnUpstreamPhase": "Assembly"}, "upstream"),
    ],
)
def test_malformed_multi_project_fields_are_refused_and_nothing_is_created(
    factory, extra, message
):
    factory.create(small_request("parent-a"))
    pid = "child-bad"
    response = factory.post("/api/projects", small_request(pid, **extra))
    assert response.status_code == 400, response.text
    assert message in response.text, response.text
    _nothing_created(factory, pid)


def test_upstream_in_another_tenant_is_refused(factory):
    """A fabrikam project may not depend on (and so watch, and register itself as a child of)
    a contoso project."""
    parent = factory.create(small_request("parent-c"))
    pid = "child-f"
    response = factory.post(
        "/api/projects", small_request(pid, tenant_id="fabrikam", upstream=[parent])
    )
    assert response.status_code == 400, response.text
    assert parent in response.text
    assert factory.get(f"/api/projects/{pid}").status_code == 404
    assert factory.host.wait_for_idle(30)
    assert pid not in factory.project(parent)["children"]
