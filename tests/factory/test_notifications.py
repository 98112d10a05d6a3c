"""Tenant webhooks (PODIUM_WEBHOOKS) receive the delivery notification and the escalation of an
unanswered checkpoint, on a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.factory.conftest import example_request, small_request


class Receiver:
    """A webhook endpoint on a free loopback port that keeps what it was sent."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch) -> Iterator[Receiver]:
    hook = Receiver()
    monkeypatch.setenv("PODIUM_WEBHOOKS", json.dumps({"contoso": [hook.url]}))
    yield hook
    hook.stop()


def test_delivery_is_notified_to_the_tenants_webhook(receiver, factory):
    state = factory.run_project(example_request())
    assert state["locked"]
    factory.wait(lambda: receiver.received)
    delivered = [m for m in receiver.received if m["type"] == "ProjectDeliveryComplete"]
    assert len(delivered) == 1
    assert delivered[0]["projectId"] == "contoso-shop"
    assert delivered[0]["traceId"] == state["traceId"] and delivered[0]["artifacts"] > 10


def test_unanswered_production_approval_is_escalated_to_its_target(receiver, factory):
    target = "ApproveProductionDeployment"
    pid = factory.create(small_request("escalated"))
    factory.approve_all(pid, lambda s: any(t.get("graphTaskId") == target
                                           for t in s["humanTasks"]), leave=(target,))
    factory.quiet(pid)
    assert not receiver.received
    factory.host.advance(timedelta(hours=2, seconds=1))
    factory.wait(lambda: receiver.received)
    escalated = receiver.received[0]
    assert escalated["type"] == "HumanTaskEscalated"
    assert escalated["target"] == "group:release-managers" and escalated["projectId"] == pid
