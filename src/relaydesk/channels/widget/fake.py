"""The widget's loopback fakes: a host site on 127.0.0.1 that embeds the widget, and a scripted visitor.

* `HostSite` is what a customer's website is to the widget: an origin of its own (another port is
  another origin) serving a page with the one script tag, and a server side that signs its logged-in
  user's id the documented way (`identify` below), exactly as docs/widget.md tells integrators to.
* `VisitorClient` speaks the frame's wire protocol (REST with the token header, the WebSocket with
  `hello{token, last_seen_seq}`), with the `Origin` the browser would send, for API tests that need no
  browser.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
from typing import Any

import httpx
import jwt

from relaydesk.channels.widget.identity import TOKEN_HEADER, user_hash

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,">
<style>body {{ font: 16px/1.5 Georgia, serif; margin: 40px; background: #fdf6e3; color: #333 }}
/* A host page's own rules must not reach the widget */
button {{ background: red !important; font-size: 40px !important }}</style></head>
<body><h1>{title}</h1><p>Welcome to our shop. Questions? Use the chat button.</p>
{identify}
<script src="{relaydesk}/widget/{public_id}/loader.js" async></script>
</body></html>"""


def identify(identity_secret: str, user_id: str) -> dict[str, str]:
    """What a host site's server computes for its logged-in user (docs/widget.md, "Identity")."""
    return {"user_id": user_id, "user_hash": user_hash(identity_secret, user_id)}


def identify_jwt(identity_secret: str, user_id: str, *, lifetime: int = 600) -> dict[str, str]:
    exp = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lifetime)
    return {"jwt": jwt.encode({"sub": user_id, "exp": exp}, identity_secret, algorithm="HS256")}


class HostSite:
    """An ASGI app serving the host page; `identity` (computed server-side) is inlined for the loader."""

    def __init__(self, relaydesk: str, public_id: str, *, title: str = "Example Shop") -> None:
        self.relaydesk = relaydesk
        self.public_id = public_id
        self.title = title
        self.identity: dict[str, str] | None = None
        self.requests: list[str] = []

    def page(self) -> str:
        identify_script = ""
        if self.identity is not None:
            identify_script = (
                "<script>window.addEventListener('relaydesk:ready', function () {"
                f" window.Relaydesk.identify({json.dumps(self.identity)}); }});</script>"
            )
        return PAGE.format(
            title=self.title, relaydesk=self.relaydesk, public_id=self.public_id, identify=identify_script
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests.append(scope["path"])
        body = self.page().encode() if scope["path"] == "/" else b"not found"
        await send(
            {
                "type": "http.response.start",
                "status": 200 if scope["path"] == "/" else 404,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class VisitorClient:
    """A visitor driving the widget API as the chat frame does (same headers, same frames)."""

    def __init__(self, base_url: str, public_id: str, host_origin: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.public_id = public_id
        self.host = host_origin
        self.token: str | None = None
        self.http = httpx.AsyncClient(base_url=f"{self.base_url}/widget/{public_id}", timeout=10)

    @property
    def origin(self) -> str:
        """The frame's origin: Relaydesk's own."""
        return self.base_url

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"origin": self.origin, **extra}
        if self.token:
            headers[TOKEN_HEADER] = self.token
        return headers

    async def start(self, identity: dict[str, str] | None = None, *, privacy: bool = False) -> httpx.Response:
        body: dict[str, Any] = {"host": self.host, "privacy": privacy}
        if identity is not None:
            body["identity"] = identity
        response = await self.http.post("/api/session", json=body, headers=self.headers())
        if response.status_code == 201:
            self.token = response.json()["token"]
        return response

    async def say(
        self,
        text: str,
        *,
        prechat: dict[str, Any] | None = None,
        client_msg_id: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"client_msg_id": client_msg_id or secrets.token_hex(8), "text": text}
        if prechat is not None:
            body["prechat"] = prechat
        if attributes is not None:
            body["attributes"] = attributes
        return await self.http.post("/api/messages", json=body, headers=self.headers())

    async def history(self) -> httpx.Response:
        return await self.http.get("/api/messages", headers=self.headers())

    async def upload(self, data: bytes, content_type: str, filename: str = "file") -> httpx.Response:
        return await self.http.post(
            f"/api/uploads?client_msg_id={secrets.token_hex(8)}",
            content=data,
            headers=self.headers(**{"content-type": content_type, "x-filename": filename}),
        )

    async def socket(self, last_seen_seq: int | None = None) -> VisitorSocket:
        import websockets

        url = self.base_url.replace("http://", "ws://") + f"/widget/{self.public_id}/ws"
        ws = await websockets.connect(url, origin=self.origin)  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "hello", "token": self.token, "last_seen_seq": last_seen_seq}))
        return VisitorSocket(ws)

    async def close(self) -> None:
        await self.http.aclose()


def consent(version: str = "1", **fields: str) -> dict[str, Any]:
    """A filled-in pre-chat form: consent given, adult confirmed."""
    return {"fields": fields, "consent": True, "consent_version": version, "adult": True}


class VisitorSocket:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []  # everything received
        self.unread: list[dict[str, Any]] = []  # received, not returned by `next` yet

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self, kind: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame not taken yet (of `kind`: frames of other kinds stay for a later call)."""
        for i, frame in enumerate(self.unread):
            if kind is None or frame.get("type") == kind:
                return self.unread.pop(i)
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            self.frames.append(frame)
            if kind is None or frame.get("type") == kind:
                return frame
            self.unread.append(frame)

    async def close(self) -> None:
        await self.ws.close()
