"""A real HTTP/WebSocket server on loopback around the test runtime, and a small socket client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from relaydesk.channels.loopback import Loopback
from relaydesk.runtime import Runtime


class LiveServer:
    """uvicorn in this event loop, serving the app on the shared test runtime (same database and bus)."""

    def __init__(self, runtime: Runtime) -> None:
        from relaydesk.server.app import create_app

        self.app = create_app(runtime=runtime, manage_runtime=False)
        self.port = 0
        self._loop = Loopback(self.app)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/realtime"

    async def start(self) -> LiveServer:
        self.port = await self._loop.start()
        return self

    async def stop(self) -> None:
        await self._loop.stop()


class Socket:
    """A connected agent socket: `hello` has been read; `next()` returns the following server message."""

    def __init__(
        self, conn: Any, hello: dict[str, Any], replayed: list[dict[str, Any]] | None = None
    ) -> None:
        self.conn = conn
        self.hello = hello
        # Events the server replayed from the database before `hello` (a resume with ?after=N).
        self.replayed = replayed or []

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.conn.recv(), timeout))

    async def events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        return [await self.next(timeout) for _ in range(count)]

    async def nothing_pending(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        """Everything the server has sent so far: read up to a pong, then until the socket stays quiet.

        The pong alone is not a barrier: the server's reader may answer the ping while its event pump is
        still sending, so events may follow the pong.
        """
        await self.conn.send(json.dumps({"type": "ping"}))
        received = []
        ponged = False
        while True:
            try:
                message = await self.next(timeout=quiet if ponged else 5.0)
            except TimeoutError:
                return received
            if message.get("type") == "pong":
                ponged = True
            else:
                received.append(message)

    async def close(self) -> None:
        await self.conn.close()


async def connect(url: str, *, headers: dict[str, str] | None = None, until_hello: bool = True) -> Socket:
    conn = await websockets.connect(url, additional_headers=headers or {}, open_timeout=5)
    replay: list[dict[str, Any]] = []
    if not until_hello:
        return Socket(conn, {})
    while True:
        message = json.loads(await asyncio.wait_for(conn.recv(), 5))
        if message.get("type") == "hello":
            return Socket(conn, message, replay)
        replay.append(message)
