"""A loopback HTTP server standing in for an integrator's webhook endpoint.

It verifies Standard Webhooks signatures like a careful integrator would, records what it received, drops
redeliveries by webhook-id, and can be scripted to fail (HTTP status) or stall, to exercise retries.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from relaydesk.outbound.signing import SignatureError, verify
from tests.support.loopback import Loopback, lower_headers, read_body


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
    _loop: Loopback | None = None
    got_one: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def decide(self) -> tuple[int, dict[str, str]]:
        """The answer planned for the next request: status and extra headers (subclasses script it)."""
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        return (self.fail_next.pop(0) if self.fail_next else 200), {}

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = lower_headers(scope)
        self.received.append(Received(headers, body))
        status, extra = await self.decide()
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
        raw_headers = [(b"content-type", b"text/plain")] + [
            (k.encode(), v.encode()) for k, v in extra.items()
        ]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"no"})

    async def start(self) -> WebhookReceiver:
        self._loop = Loopback(self.app, interface="asgi3")
        self.port = await self._loop.start()
        return self

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()
