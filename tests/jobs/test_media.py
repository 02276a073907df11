"""Provider-hosted media (WhatsApp media ids, Twilio MediaUrls): the message is stored at once with its
references, a job fetches each file from the provider's own hosts over the guarded client and attaches it
sealed; a gone file, an oversized one and refused credentials are shown, a temporary failure is retried,
and a reference to a host that is not the provider's is refused at the door.

The channel is defined here; its media server is a loopback HTTP server."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
import pytest

from relaydesk.channels.api.tests.support import drain
from relaydesk.channels.envelopes import IncomingMessage, MediaRef, NewAttachment
from relaydesk.channels.loopback import Loopback, lower_headers, read_body
from relaydesk.channels.spec import (
    ChannelSpec,
    FieldSpec,
    InboundRequest,
    InvalidSignature,
    Parsed,
    download,
    require_provider_host,
)
from relaydesk.models import Inbox
from tests.support.channels import registered

API = "/api/v1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class MediaServer:
    """The provider's media host: answers by path, and counts what it was asked."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.port = 0
        self._loop: Loopback | None = None

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        path = scope["path"]
        self.hits[path] = self.hits.get(path, 0) + 1
        auth = lower_headers(scope).get("authorization")
        status, headers, chunks = 200, [(b"content-type", b"image/png")], [PNG]
        if auth != "Bearer media-token":
            status, chunks = 401, [b"bad token"]
        elif path == "/media/gone":
            status, chunks = 404, [b"no such media"]
        elif path == "/media/flaky" and self.hits[path] == 1:
            status, chunks = 503, [b"busy"]
        elif path == "/media/huge":
            chunks = [b"\x00" * (1024 * 1024)] * 11  # 11 MiB, no content-length
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for i, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(chunks) - 1})

    async def start(self) -> MediaServer:
        self._loop = Loopback(self.app, interface="asgi3")
        self.port = await self._loop.start()
        return self

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()


class MediaChannel(ChannelSpec):
    name = "mediatest"
    label = "Media test channel"
    credentials = (FieldSpec("token", "Token", kind="secret", required=True),)
    content_types = ("application/json",)
    media_hosts = ("127.0.0.1",)
    fake = "relaydesk.channels.api.fake:WebhookReceiver"

    def verify(self, request: InboundRequest, credentials: Mapping[str, Any], *, tolerance: int) -> None:
        if request.headers.get("x-token") != "hook":
            raise InvalidSignature("no")

    def dedupe_key(self, request: InboundRequest) -> str | None:
        return json.loads(request.body)["id"]

    def parse(self, request: InboundRequest) -> Parsed:
        data = json.loads(request.body)
        media = []
        for url in data.get("media", []):
            require_provider_host(url, self.media_hosts)
            media.append(
                MediaRef(ref=url, content_type="image/png", filename=url.rsplit("/", 1)[-1] + ".png")
            )
        return Parsed(
            messages=[
                IncomingMessage(
                    external_contact_id=data["from"],
                    provider_message_id=data["id"],
                    text=data.get("text"),
                    media=media,
                )
            ]
        )

    async def fetch_media(
        self, http: httpx.AsyncClient, ref: MediaRef, credentials: Mapping[str, Any]
    ) -> NewAttachment:
        require_provider_host(ref.ref, self.media_hosts)
        data, content_type = await download(
            http, ref.ref, headers={"authorization": f"Bearer {credentials['token']}"}
        )
        return NewAttachment(
            ref.filename or "file", content_type or ref.content_type or "application/octet-stream", data
        )


@pytest.fixture
def channel() -> Iterator[ChannelSpec]:
    with registered(MediaChannel()) as spec:
        yield spec


@pytest.fixture
async def media() -> AsyncIterator[MediaServer]:
    server = await MediaServer().start()
    yield server
    await server.stop()


async def _setup(client: httpx.AsyncClient, ws: Any, token: str = "media-token") -> dict[str, Any]:
    made = await client.post(
        f"{API}/inboxes",
        json={"name": "Media", "channel_type": "mediatest", "credentials": {"token": token}},
        headers=ws.admin.headers,
    )
    assert made.status_code == 201, made.text
    return made.json()


async def _post(client: httpx.AsyncClient, inbox: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    return await client.post(
        f"/inbound/mediatest/{inbox['public_id']}",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-token": "hook"},
    )


async def _thread(client: httpx.AsyncClient, ws: Any) -> list[dict[str, Any]]:
    [conv] = (await client.get(f"{API}/conversations", headers=ws.agent.headers)).json()["items"]
    return (await client.get(f"{API}/conversations/{conv['id']}/messages", headers=ws.agent.headers)).json()[
        "items"
    ]


async def test_referenced_media_is_fetched_attached_and_failures_are_shown(
    client, runtime, run_jobs, make_workspace, channel, media
):
    ws = await make_workspace()
    inbox = await _setup(client, ws)
    base = f"http://127.0.0.1:{media.port}/media"
    urls = [f"{base}/ok", f"{base}/gone", f"{base}/flaky", f"{base}/huge"]
    resp = await _post(client, inbox, {"id": "w1", "from": "+1555", "media": urls})
    assert resp.status_code == 202, resp.text
    await run_jobs()

    async def fetched() -> bool:
        return "pending_media" not in (await _thread(client, ws))[0]["content_attributes"]

    await drain(runtime, fetched)  # the 503 is retried after a backoff
    [message] = await _thread(client, ws)
    assert sorted(a["filename"] for a in message["attachments"]) == ["flaky.png", "ok.png"]
    assert all(a["content_type"] == "image/png" and a["size"] == len(PNG) for a in message["attachments"])
    attributes = message["content_attributes"]
    assert "pending_media" not in attributes
    reasons = {e["filename"]: e["reason"] for e in attributes["media_errors"]}
    assert set(reasons) == {"gone.png", "huge.png"}
    assert "HTTP 404" in reasons["gone.png"] and "larger than" in reasons["huge.png"]
    assert media.hits["/media/flaky"] == 2  # a 503 retried the job
    download_url = message["attachments"][0]["url"]
    got = await client.get(download_url, headers=ws.agent.headers)
    assert got.status_code == 200 and got.content == PNG


async def test_a_media_host_that_is_not_the_providers_is_refused_at_the_door(client, make_workspace, channel):
    ws = await make_workspace()
    inbox = await _setup(client, ws)
    resp = await _post(
        client, inbox, {"id": "w2", "from": "+1555", "media": ["http://169.254.169.254/latest"]}
    )
    assert resp.status_code == 400 and "not one of the provider's hosts" in resp.text


async def test_refused_media_credentials_mark_the_inbox(
    client, runtime, run_jobs, make_workspace, channel, media
):
    ws = await make_workspace()
    inbox = await _setup(client, ws, token="expired")
    resp = await _post(
        client,
        inbox,
        {
            "id": "w3",
            "from": "+1555",
            "text": "see photo",
            "media": [f"http://127.0.0.1:{media.port}/media/ok"],
        },
    )
    assert resp.status_code == 202
    await run_jobs()
    [message] = await _thread(client, ws)
    assert (
        message["attachments"] == []
        and "refused the credentials" in message["content_attributes"]["media_errors"][0]["reason"]
    )
    async with runtime.db.read() as session:
        stored = await session.get(Inbox, uuid.UUID(inbox["id"]))
    assert stored is not None and stored.reauth_since is not None
