"""A fake OpenAI-compatible endpoint on 127.0.0.1 that speaks the real wire format.

`GET /v1/models`, `POST /v1/chat/completions` (JSON or SSE streaming with `data:` chunks, `tool_calls`
fragments and `[DONE]`). It records every request body so tests can assert what left Relaydesk, and can
be told to fail (status codes) or stall (timeouts) for the first N calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from relaydesk.channels.loopback import Loopback, lower_headers, read_body

Reply = Callable[[dict[str, Any]], dict[str, Any]]


def text_reply(content: str) -> Reply:
    return lambda _body: {"content": content}


@dataclass
class FakeOpenAI:
    model: str = "fake-gpt"
    api_key: str = "sk-test-key"
    reply: Reply = field(default_factory=lambda: text_reply("Hello."))
    supports_tools: bool = True
    fail_statuses: list[int] = field(default_factory=list)  # served before any success, one per call
    stall_seconds: float = 0.0
    stall_calls: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _loop: Loopback | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self) -> None:
        self.requests.clear()
        self.fail_statuses.clear()
        self.stall_calls = 0
        self.supports_tools = True
        self.reply = text_reply("Hello.")

    def bodies_text(self) -> str:
        """Everything the fake received, as one string (for "never saw X" assertions)."""
        return "\n".join(json.dumps(r) for r in self.requests)

    async def _send_json(self, send: Any, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = await read_body(receive)
        headers = lower_headers(scope)
        record = {
            "method": scope["method"],
            "path": scope["path"],
            "authorization": headers.get("authorization"),
            "body": json.loads(raw) if raw else None,
        }
        self.requests.append(record)
        if headers.get("authorization") != f"Bearer {self.api_key}":
            await self._send_json(
                send, 401, {"error": {"message": "bad key", "type": "invalid_request_error"}}
            )
            return
        if self.stall_calls > 0:
            self.stall_calls -= 1
            await asyncio.sleep(self.stall_seconds)
        if self.fail_statuses:
            await self._send_json(send, self.fail_statuses.pop(0), {"error": {"message": "try again"}})
            return
        if scope["path"] == "/v1/models" and scope["method"] == "GET":
            await self._send_json(
                send,
                200,
                {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "fake"}]},
            )
            return
        if scope["path"] != "/v1/chat/completions" or scope["method"] != "POST":
            await self._send_json(send, 404, {"error": {"message": "not found"}})
            return
        body = record["body"] or {}
        out = self.reply(body)
        if body.get("tools") and self.supports_tools and "tool_calls" not in out:
            wanted = body["tools"][0]["function"]["name"]
            if any("call the ping tool" in (m.get("content") or "").lower() for m in body["messages"]):
                out = {"tool_calls": [{"name": wanted, "arguments": "{}"}]}
        if not self.supports_tools:
            out.pop("tool_calls", None)
        if body.get("stream"):
            await self._stream(send, out)
        else:
            await self._send_json(send, 200, self._completion(out))

    def _completion(self, out: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": out.get("content")}
        if out.get("tool_calls"):
            message["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for i, c in enumerate(out["tool_calls"])
            ]
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if out.get("tool_calls") else "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    async def _stream(self, send: Any, out: dict[str, Any]) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )

        async def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            payload = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await send(
                {
                    "type": "http.response.body",
                    "body": f"data: {json.dumps(payload)}\n\n".encode(),
                    "more_body": True,
                }
            )

        await chunk({"role": "assistant", "content": ""})
        content = out.get("content") or ""
        for start in range(0, len(content), 4):
            await chunk({"content": content[start : start + 4]})
        for i, call in enumerate(out.get("tool_calls") or []):
            args = call["arguments"]
            half = len(args) // 2
            await chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": call["name"], "arguments": args[:half]},
                        }
                    ]
                }
            )
            await chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]})
        await chunk({}, "tool_calls" if out.get("tool_calls") else "stop")
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    async def start(self) -> FakeOpenAI:
        self._loop = Loopback(self.app, interface="asgi3")
        self.port = await self._loop.start()
        return self

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()
