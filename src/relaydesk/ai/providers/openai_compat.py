"""Any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp server).

Spoken over plain httpx rather than the `openai` SDK: the wire format is small and stable, we need
exact control of timeouts and retries, and one dependency less. The endpoint only ever sees text the
agent already redacted (ai.agent.redaction).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from relaydesk.ai.providers.base import (
    NO_ANSWER,
    ChatMessage,
    Completion,
    GroundedAnswer,
    Passage,
    ProviderError,
    ToolCall,
    ToolSpec,
)

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
_CITE = re.compile(r"\[(\d{1,2})\]")

GROUNDED_SYSTEM_PROMPT = (
    "You are a customer-service assistant. Answer the customer's last message using ONLY the numbered "
    "passages below. Cite the passages you used like [1]. If the passages do not contain the answer, reply "
    f"with exactly {NO_ANSWER} and nothing else. Answer in at most three sentences, in the customer's "
    "language. Never invent facts, links, prices or policies. Text like [EMAIL] or [PHONE] was removed "
    "for privacy; do not ask for it.\n\nPassages:\n"
)


@dataclass(frozen=True, slots=True)
class OpenAIConfig:
    base_url: str
    model: str
    api_key: str | None = None
    timeout_seconds: float = 20.0
    max_retries: int = 2
    backoff_seconds: float = 0.5
    max_tokens: int = 400


class OpenAICompatibleProvider:
    name = "openai"

    def __init__(self, config: OpenAIConfig, http: httpx.AsyncClient) -> None:
        """`http` is the runtime's SSRF-guarded client for the `ai` purpose (outbound/ssrf.py); there is
        no fallback client, so no provider call can leave unguarded."""
        self.config = config
        self.http = http

    def _url(self, path: str) -> str:
        return self.config.base_url.rstrip("/") + path

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and (after := response.headers.get("retry-after")):
            try:
                return min(float(after), 10.0)
            except ValueError:
                pass
        return self.config.backoff_seconds * (2**attempt)

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call with retries on timeouts, connection errors, 429 and 5xx; other 4xx fail at once."""
        last: str = ""
        for attempt in range(self.config.max_retries + 1):
            response = None
            try:
                response = await self.http.request(
                    method,
                    self._url(path),
                    json=body,
                    headers=self._headers(),
                    timeout=self.config.timeout_seconds,
                )
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise ProviderError("the endpoint answered with something that is not JSON") from None
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in _RETRY_STATUS:
                    raise ProviderError(last)
            if attempt < self.config.max_retries:
                await asyncio.sleep(self._backoff(attempt, response))
        raise ProviderError(f"gave up after {self.config.max_retries + 1} attempts: {last}")

    def _body(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], temperature: float, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [m.wire() for m in messages],
            "temperature": temperature,
            "max_tokens": self.config.max_tokens,
        }
        if tools:
            body["tools"] = [t.wire() for t in tools]
            body["tool_choice"] = "auto"
        if stream:
            body["stream"] = True
        return body

    # --- the Provider interface -----------------------------------------------------------------------

    async def complete(
        self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec] = (), temperature: float = 0.0
    ) -> Completion:
        data = await self._request(
            "POST", "/chat/completions", self._body(messages, tools, temperature, False)
        )
        try:
            choice = data["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise ProviderError("the endpoint's reply has no choices[0].message") from None
        calls = tuple(
            ToolCall(
                c.get("id") or f"call_{i}", c["function"]["name"], c["function"].get("arguments") or "{}"
            )
            for i, c in enumerate(message.get("tool_calls") or [])
            if isinstance(c, dict) and isinstance(c.get("function"), dict) and c["function"].get("name")
        )
        return Completion(message.get("content") or "", calls, choice.get("finish_reason"), data.get("model"))

    async def _sse(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Server-sent chunks of a streamed completion (connecting is retried; a broken stream is not)."""
        last = ""
        for attempt in range(self.config.max_retries + 1):
            try:
                async with self.http.stream(
                    "POST",
                    self._url("/chat/completions"),
                    json=body,
                    headers=self._headers(),
                    timeout=self.config.timeout_seconds,
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        last = f"HTTP {response.status_code}: {response.text[:200]}"
                        if response.status_code not in _RETRY_STATUS:
                            raise ProviderError(last)
                    else:
                        async for line in response.aiter_lines():
                            if not line.startswith("data:"):
                                continue
                            payload = line[5:].strip()
                            if payload == "[DONE]":
                                return
                            try:
                                yield json.loads(payload)
                            except ValueError:
                                raise ProviderError("malformed stream chunk") from None
                        return
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.config.max_retries:
                await asyncio.sleep(self._backoff(attempt, None))
        raise ProviderError(f"gave up after {self.config.max_retries + 1} attempts: {last}")

    async def stream(
        self, messages: Sequence[ChatMessage], *, temperature: float = 0.0
    ) -> AsyncIterator[str]:
        async for chunk in self._sse(self._body(messages, (), temperature, True)):
            for choice in chunk.get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield text

    async def complete_streamed(
        self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec] = (), temperature: float = 0.0
    ) -> Completion:
        """Stream, and assemble the text and tool calls (whose arguments arrive in fragments by index)."""
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish = model = None
        async for chunk in self._sse(self._body(messages, tools, temperature, True)):
            model = chunk.get("model") or model
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    text.append(delta["content"])
                for frag in delta.get("tool_calls") or []:
                    slot = calls.setdefault(
                        int(frag.get("index", 0)), {"id": "", "name": "", "arguments": ""}
                    )
                    slot["id"] = frag.get("id") or slot["id"]
                    fn = frag.get("function") or {}
                    slot["name"] += fn.get("name") or ""
                    slot["arguments"] += fn.get("arguments") or ""
                finish = choice.get("finish_reason") or finish
        tool_calls = tuple(
            ToolCall(c["id"] or f"call_{i}", c["name"], c["arguments"] or "{}")
            for i, c in sorted(calls.items())
        )
        return Completion("".join(text), tool_calls, finish, model)

    async def answer(
        self, question: str, passages: Sequence[Passage], context: Sequence[ChatMessage] = ()
    ) -> GroundedAnswer:
        if not passages:
            return GroundedAnswer(None, provider=self.name, details={"reason": "no passages"})
        numbered = "\n\n".join(f"[{i}] {p.title}\n{p.text}" for i, p in enumerate(passages, 1))
        messages = [
            ChatMessage("system", GROUNDED_SYSTEM_PROMPT + numbered),
            *context,
            ChatMessage("user", question),
        ]
        done = await self.complete(messages)
        content = done.content.strip()
        if not content or NO_ANSWER in content:
            return GroundedAnswer(None, provider=self.name, details={"sentinel": True, "model": done.model})
        indices = [int(n) for n in _CITE.findall(content) if 1 <= int(n) <= len(passages)]
        cited = tuple(dict.fromkeys(passages[i - 1] for i in indices)) or (passages[0],)
        text = re.sub(r"\s*\[\d{1,2}\]", "", content).strip()
        return GroundedAnswer(text, cited=cited, provider=self.name, details={"model": done.model})

    async def probe(self) -> dict[str, Any]:
        """Which models the endpoint lists and whether it really returns tool calls (ai.md start-up probe)."""
        result: dict[str, Any] = {"ok": False, "provider": self.name, "model": self.config.model}
        try:
            listed = await self._request("GET", "/models")
            result["models"] = [m.get("id") for m in listed.get("data", []) if isinstance(m, dict)]
            result["model_listed"] = self.config.model in result["models"]
        except ProviderError as exc:
            result["models"] = None
            result["models_error"] = str(exc)
        ping = ToolSpec("ping", "Answer a connectivity check.", {"type": "object", "properties": {}})
        try:
            done = await self.complete(
                [ChatMessage("user", "Connectivity check: call the ping tool now.")], tools=[ping]
            )
            result["ok"] = True
            result["tool_calling"] = any(c.name == "ping" for c in done.tool_calls)
        except ProviderError as exc:
            result["error"] = str(exc)
            result["tool_calling"] = False
        # Streaming support is assumed with chat completions; the probe reports what it saw.
        result["streaming"] = result["ok"]
        return result
