"""Optional adapter to an OpenAI-compatible chat completions endpoint.

Why optional: the factory must run with no model at all (every built-in agent is
deterministic). When ``PODIUM_LLM_BASE_URL`` is set, planning agents ask the model for prose
(summaries, rationale) and fall back to their own text on any error. The API key is read from
the environment, sent only as a bearer header and never logged or written.

Settings: PODIUM_LLM_BASE_URL (e.g. http://127.0.0.1:11434 or https://api.openai.com),
PODIUM_LLM_API_KEY (optional), PODIUM_LLM_MODEL (default gpt-4o-mini),
PODIUM_LLM_TIMEOUT_SEC (default 30).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx


class LLMError(RuntimeError):
    """The model could not answer (network, HTTP status, malformed body)."""


class LLMClient:
    """``complete(messages) -> str`` over ``POST {base}/v1/chat/completions``."""

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 model: str = "gpt-4o-mini", timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        base = base_url.rstrip("/")
        self.url = base + ("/chat/completions" if base.endswith("/v1")
                           else "/v1/chat/completions")
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LLMClient | None:
        """A client when PODIUM_LLM_BASE_URL is set, else None (the factory needs no model)."""
        env = os.environ if env is None else env
        base = env.get("PODIUM_LLM_BASE_URL", "").strip()
        if not base:
            return None
        return cls(base, api_key=env.get("PODIUM_LLM_API_KEY") or None,
                   model=env.get("PODIUM_LLM_MODEL", "gpt-4o-mini"),
                   timeout=float(env.get("PODIUM_LLM_TIMEOUT_SEC", "30")))

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 400,
                 temperature: float = 0.0) -> str:
        body: dict[str, Any] = {"model": self.model, "messages": messages,
                                "max_tokens": max_tokens, "temperature": temperature}
        try:
            response = self._client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            raise LLMError(f"request failed: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise LLMError(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"malformed completion: {exc!r}") from None
        if not isinstance(content, str):
            raise LLMError("malformed completion: content is not a string")
        return content

    def close(self) -> None:
        self._client.close()
