"""Serving ASGI apps on loopback inside the running event loop, for every channel fake and test server.

Every channel's loopback fake (`channels/<x>/fake.py`), the fake OpenAI server, the realtime and browser
test servers need the same thing: uvicorn on 127.0.0.1 with a port the OS picks, started and stopped in
the running loop. A shared module of the channels package, used only by fakes and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import uvicorn


class Loopback:
    def __init__(self, app: Any, **config: Any) -> None:
        self.app = app
        self.config = config
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Start serving and return the port."""
        options = {"host": "127.0.0.1", "port": 0, "log_level": "warning", "lifespan": "off", **self.config}
        self._server = uvicorn.Server(uvicorn.Config(self.app, **options))
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(1000):
            if self._server.started:
                break
            if self._task.done():
                self._task.result()  # raises the start-up error
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("loopback server did not start within 10 s")
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=10)


async def read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def lower_headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode().lower(): v.decode() for k, v in scope["headers"]}
