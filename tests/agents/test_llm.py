"""The optional LLM adapter against a real local HTTP server, and its use by planning agents."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from podium.agents import builtin_workers
from podium.agents.llm import LLMClient, LLMError
from tests.agents.conftest import make_runner, outputs


class FakeModel(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions with a canned completion; records what it received."""

    received: list[dict[str, Any]] = []
    status = 200
    body: Any = None

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        FakeModel.received.append({"path": self.path,
                                   "authorization": self.headers.get("Authorization"),
                                   "json": json.loads(self.rfile.read(length))})
        body = FakeModel.body if FakeModel.body is not None else {
            "id": "cmpl-1", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant",
                                                 "content": "A canned architecture summary."},
                         "finish_reason": "stop"}]}
        data = json.dumps(body).encode()
        self.send_response(FakeModel.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def model_url() -> Iterator[str]:
    FakeModel.received, FakeModel.status, FakeModel.body = [], 200, None
    server = HTTPServer(("127.0.0.1", 0), FakeModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_from_env_is_off_unless_configured(model_url) -> None:
    assert LLMClient.from_env({}) is None
    client = LLMClient.from_env({"PODIUM_LLM_BASE_URL": model_url + "/v1",
                                 "PODIUM_LLM_MODEL": "tiny"})
    assert client is not None and client.url == model_url + "/v1/chat/completions"
    assert client.model == "tiny"


def test_completion_request_and_answer(model_url) -> None:
    client = LLMClient(model_url, api_key="k-123", model="tiny-model")
    answer = client.complete([{"role": "user", "content": "hi"}], max_tokens=5)
    assert answer == "A canned architecture summary."
    sent = FakeModel.received[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["authorization"] == "Bearer k-123"
    assert sent["json"] == {"model": "tiny-model", "messages": [{"role": "user", "content": "hi"}],
                            "max_tokens": 5, "temperature": 0.0}


@pytest.mark.parametrize(("status", "body", "message"), [
    (500, {"error": "down"}, "HTTP 500"),
    (200, {"choices": []}, "malformed completion"),
    (200, {"choices": [{"message": {"content": 7}}]}, "content is not a string"),
])
def test_model_errors_raise_llm_error(model_url, status, body, message) -> None:
    FakeModel.status, FakeModel.body = status, body
    with pytest.raises(LLMError, match=message):
        LLMClient(model_url).complete([{"role": "user", "content": "hi"}])


def test_unreachable_model_raises_llm_error() -> None:
    with pytest.raises(LLMError, match="request failed"):
        LLMClient("http://127.0.0.1:9", timeout=2).complete([])


def test_vision_agent_uses_the_model_for_prose_only(model_url, workspace) -> None:
    run = make_runner(builtin_workers(llm=LLMClient(model_url)), workspace, [])
    result = outputs(run("vision-architect-agent", "GenerateVisionPlan"))
    assert result["summarySource"] == "llm"
    vision = json.loads((workspace / "plan/vision.json").read_text())
    assert vision["summary"] == "A canned architecture summary."
    assert [c["name"] for c in vision["boundedContexts"]] == ["catalog", "orders", "customers"]
    assert "Contoso Shop" in FakeModel.received[-1]["json"]["messages"][1]["content"]


def test_a_failing_model_falls_back_to_deterministic_text(model_url, workspace) -> None:
    FakeModel.status = 503
    run = make_runner(builtin_workers(llm=LLMClient(model_url)), workspace, [])
    outputs(run("vision-architect-agent", "GenerateVisionPlan"))
    outputs(run("enterprise-architect-agent", "GenerateDomainModel"))
    result = outputs(run("planner-agent", "PlanMicroservices"))
    assert result["services"] == ["catalog", "orders", "customers"]
    plan = json.loads((workspace / "plan/microservices.json").read_text())
    assert plan["rationaleSource"] == "deterministic (llm failed)"
    assert plan["rationale"].startswith("catalog owns Category, Product")


def test_builtin_workers_use_a_model_only_when_configured(model_url, monkeypatch) -> None:
    monkeypatch.delenv("PODIUM_LLM_BASE_URL", raising=False)
    assert builtin_workers()["planner-agent"].llm is None
    monkeypatch.setenv("PODIUM_LLM_BASE_URL", model_url)
    assert isinstance(builtin_workers()["vision-architect-agent"].llm, LLMClient)
    assert builtin_workers(llm=None)["planner-agent"].llm is None
