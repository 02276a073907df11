"""A loopback HTTP server standing in for an integrator's webhook endpoint.

It verifies Standard Webhooks signatures like a careful integrator would, records what it received, drops
redeliveries by webhook-id, and can be scripted to fail (HTTP status) or stall, to exercise retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from relaydesk.outbound.signing import SignatureError, verify


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    secret: str | None = None
    fail_next: list[int] = field(default_factory=list)
    stall_seconds: float = 0.0
    received: list[Received] = field(default_factory=list)
    accepted_ids: list[str] = field(default_factory=list)
    rejected: int = 0
    port: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    got_one: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append(Received(headers, body))
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        status = self.fail_next.pop(0) if self.fail_next else 200
        if status == 200 and self.secret is not None:
            try:
                verify(self.secret, headers, body)
            except SignatureError:
                self.rejected += 1
                status = 401
        if status == 200:
            msg_id = headers.get("webhook-id", "")
            if msg_id not in self.accepted_ids:
                self.accepted_ids.append(msg_id)
            self.got_one.set()
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"no"})

    async def start(self) -> WebhookReceiver:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", interface="asgi3"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
