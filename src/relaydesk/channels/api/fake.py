"""The API channel's loopback fake: both halves of an integrator, speaking the real wire format.

- Receiver half (`WebhookReceiver`, `ScriptedReceiver`): the integrator's endpoint on 127.0.0.1 that our
  outbound deliveries reach. It verifies the Standard Webhooks signature like a careful integrator would,
  records what it received, drops redeliveries by webhook-id, and can be scripted to fail (HTTP status,
  `Retry-After`) or stall, to exercise retries. The workspace's outgoing webhooks use the same signing, so
  their tests use it too.
- Driver half (`post_signed_request`): what the integrator's server does to send us a message: sign the
  exact body bytes with the inbox's inbound secret and a timestamp, and POST them to the inbox's door.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from relaydesk.channels.api.client import signed_request_headers
from relaydesk.channels.loopback import Loopback, lower_headers, read_body
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


class ScriptedReceiver(WebhookReceiver):
    """The loopback integrator endpoint, with per-request answers: status, extra headers, or a hold.

    `script` entries are consumed one per request: an int status, a (status, headers) pair, or "hold" to
    keep the request open until `release` is set (a stalled receiver a worker can be killed against).
    After the script runs out every request gets 200 (subject to the signature check).
    """

    def __init__(self, script: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script: list[Any] = list(script or [])
        self.release = asyncio.Event()
        self.holding = asyncio.Event()

    async def decide(self) -> tuple[int, dict[str, str]]:
        step = self.script.pop(0) if self.script else 200
        if step == "hold":
            self.holding.set()
            await self.release.wait()
            step = 200
        if isinstance(step, tuple):
            return int(step[0]), dict(step[1])
        return int(step), {}

    async def stop(self) -> None:
        self.release.set()  # a held request must not keep the server from shutting down
        await super().stop()


async def post_signed_request(
    client: httpx.AsyncClient,
    public_id: str,
    secret: str,
    body: bytes | dict[str, Any],
    *,
    timestamp: int | None = None,
) -> httpx.Response:
    """The driver half: sign `body` (bytes as given, or a dict as JSON) and POST it to the inbox's door
    on `client` (an app client, or one pointed at a live server)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = signed_request_headers(secret, raw, timestamp)
    return await client.post(f"/inbound/api/{public_id}", content=raw, headers=headers)


class ApiIntegrator:
    """An integrator of one API inbox, both halves together: `endpoint` receives our signed deliveries
    (verified with the outbound secret) and `send` posts customer messages signed with the inbound secret.
    Start it, point the inbox's `webhook_url` at `endpoint.url`, then `bind` the inbox's two secrets."""

    def __init__(self, script: list[Any] | None = None) -> None:
        self.inbound_secret = ""
        self.endpoint = ScriptedReceiver(script)

    def bind(self, inbound_secret: str, outbound_secret: str) -> ApiIntegrator:
        self.inbound_secret = inbound_secret
        self.endpoint.secret = outbound_secret
        return self

    async def start(self) -> ApiIntegrator:
        await self.endpoint.start()
        return self

    async def stop(self) -> None:
        await self.endpoint.stop()

    async def send(
        self,
        client: httpx.AsyncClient,
        public_id: str,
        body: bytes | dict[str, Any],
        *,
        timestamp: int | None = None,
    ) -> httpx.Response:
        return await post_signed_request(client, public_id, self.inbound_secret, body, timestamp=timestamp)
