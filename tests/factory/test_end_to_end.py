"""The example project goes from ProjectCreated to ProjectDeliveryComplete under the local host."""

from __future__ import annotations

from tests.factory.conftest import example_request


def test_example_project_is_delivered(factory):
    state = factory.run_project(example_request())
    assert state["status"] == "Completed", state
    assert state["locked"] is True
    assert state["phase"] == "DeliveryComplete"
