"""The agents' WebSocket: `/api/v1/realtime?after=<last seen seq>`.

On connect the server replays every event after `after` from the database, then streams live events from
the bus. A gap in the live stream (an event lost, or reordered between processes) or a full queue makes
it read the database again, so a client never misses an event and never sees one twice. Typing
indicators are ephemeral: they go over the bus only and carry no sequence number.

Messages from the server: `{"type": "hello", "seq": N}` once caught up, then events
`{"seq", "type", "payload", "at", "workspace_id"}`, and `{"type": "pong"}`. From the client:
`{"type": "ping"}` and `{"type": "typing", "conversation_id": "...", "on": true|false}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from relaydesk.auth.middleware import still_valid
from relaydesk.auth.principal import Principal
from relaydesk.models.workspaces import Workspace
from relaydesk.realtime.bus import RESYNC
from relaydesk.realtime.events import events_since
from relaydesk.runtime import Runtime

PAGE = 500
REVALIDATE_SECONDS = 15.0


def _same_origin(socket: WebSocket) -> bool:
    """Cookie-authenticated sockets must come from our own pages (cross-site WebSocket hijacking)."""
    origin = socket.headers.get("origin")
    if not origin:
        return False
    return urlsplit(origin).netloc == socket.headers.get("host")


async def until_one_ends(*jobs: Coroutine[Any, Any, Any]) -> None:
    """Run a socket's loops (pump, reader, guards) until the first ends; cancel the rest and re-raise the
    first real error. A disconnect is how a socket normally ends, so it is swallowed."""
    tasks = [asyncio.create_task(job) for job in jobs]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await task
    for task in done:
        exc = task.exception()
        if exc is not None and not isinstance(exc, WebSocketDisconnect):
            raise exc


class _Stream:
    def __init__(self, socket: WebSocket, runtime: Runtime, principal: Principal, last: int) -> None:
        self.socket = socket
        self.runtime = runtime
        self.principal = principal
        self.last = last
        self.recheck = asyncio.Event()

    async def catch_up(self) -> None:
        while True:
            async with self.runtime.db.read() as session:
                events = await events_since(session, self.principal.workspace_id, self.last, PAGE)
            for event in events:
                await self.socket.send_json(event)
                self.last = event["seq"]
            if len(events) < PAGE:
                return

    async def guard(self) -> None:
        """Close the socket once its session or token stops being valid (logout, deactivation, revocation).

        Checked every REVALIDATE_SECONDS, and at once when an event about this member arrives."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.recheck.wait(), timeout=REVALIDATE_SECONDS)
            self.recheck.clear()
            if not await still_valid(self.runtime, self.principal):
                await self.socket.close(code=4401, reason="session ended")
                return

    async def pump(self, sub: Any) -> None:
        while True:
            event = await sub.queue.get()
            if (
                event is not RESYNC
                and str(event.get("type", "")).startswith("member.")
                and event.get("payload", {}).get("user_id") == str(self.principal.user_id)
            ):
                self.recheck.set()
            if sub.overflowed:
                sub.overflowed = False
                await self.catch_up()
            if event is RESYNC:
                continue
            seq = event.get("seq")
            if seq is None:
                if event.get("payload", {}).get("user_id") != str(self.principal.user_id):
                    await self.socket.send_json(event)
                continue
            if seq <= self.last:
                continue
            if seq == self.last + 1:
                await self.socket.send_json(event)
                self.last = seq
            else:
                await self.catch_up()

    async def read(self) -> None:
        while True:
            message = await self.socket.receive_json()
            if not isinstance(message, dict):
                continue
            kind = message.get("type")
            if kind == "ping":
                await self.socket.send_json({"type": "pong", "seq": self.last})
            elif kind == "typing":
                try:
                    conversation_id = str(uuid.UUID(str(message.get("conversation_id"))))
                except ValueError:
                    continue
                await self.runtime.bus.publish(
                    [
                        {
                            "workspace_id": str(self.principal.workspace_id),
                            "seq": None,
                            "type": "typing",
                            "payload": {
                                "conversation_id": conversation_id,
                                "user_id": str(self.principal.user_id),
                                "name": self.principal.name,
                                "on": bool(message.get("on", True)),
                            },
                        }
                    ]
                )


@websocket("/realtime")
async def realtime(socket: WebSocket, runtime: Runtime, after: int | None = None) -> None:
    principal = socket.user
    if not isinstance(principal, Principal):
        await socket.close(code=4401)
        return
    if principal.via == "session" and not _same_origin(socket):
        await socket.close(code=4403, reason="origin not allowed")
        return
    await socket.accept()
    sub = runtime.bus.subscribe(principal.workspace_id)
    try:
        async with runtime.db.read() as session:
            current = (
                await session.execute(
                    sa.select(Workspace.event_seq).where(Workspace.id == principal.workspace_id)
                )
            ).scalar_one()
        # No `after` means "from now". An `after` beyond the current sequence (a client that remembers
        # a restored or reset database) would make every live event look already seen: start from now.
        if after is None or after < 0 or after > current:
            after = current
        stream = _Stream(socket, runtime, principal, after)
        await stream.catch_up()
        await socket.send_json({"type": "hello", "seq": stream.last})
        await until_one_ends(stream.pump(sub), stream.read(), stream.guard())
    except WebSocketDisconnect:
        pass
    finally:
        sub.close()
