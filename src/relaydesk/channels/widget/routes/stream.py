"""The visitor's WebSocket: `WS /widget/{public id}/ws`.

Frames are JSON objects `{type, ...}`. The visitor opens with `hello{token, last_seen_seq}` (the token
never rides in the URL); the server answers `hello{seq}` after replaying every message of the visitor's
conversations numbered after `last_seen_seq`, then streams live:

    server -> visitor   message{seq, message}, message.updated{seq, message}, conversation{seq, ...},
                        typing{on, name}, ack{client_msg_id, message}, error{status, message, ...}, pong
    visitor -> server   message.create{client_msg_id, text, prechat?, attributes?}, typing{on},
                        read{message_ids}, ping

Sequence numbers are the workspace's event numbers (realtime/events.py), so the visitor's stream is a
monotonic subsequence of the database's event log: a reconnecting visitor asks for what follows the last
number it saw and misses nothing, and the gateway's gap rule (a live event that is not the next number
means something was lost: read the database) works unchanged. Only messages a visitor may see (theirs and
the replies, never notes) and only their own conversations are sent. Typing is ephemeral, over the bus:
the visitor's `typing{on}` reaches agents at once and is switched off by the server when no refresh comes
for `TYPING_EXPIRY` seconds or the socket closes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import sqlalchemy as sa
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from relaydesk.actions import offline_fallback
from relaydesk.actions.messages import update_delivery
from relaydesk.channels.widget.config import WidgetConfig, widget_config
from relaydesk.channels.widget.identity import Visitor
from relaydesk.channels.widget.routes import door as routes
from relaydesk.channels.widget.routes import rate
from relaydesk.channels.widget.routes.visitors import VISIBLE_TYPES, WidgetInbox, find_contact, messages_view
from relaydesk.errors import DomainError, NotFound
from relaydesk.models.conversations import Conversation
from relaydesk.models.events import Event as EventRow
from relaydesk.models.messages import Message
from relaydesk.models.workspaces import Workspace
from relaydesk.realtime import catalogue
from relaydesk.realtime.bus import RESYNC
from relaydesk.realtime.catalogue import acting_as
from relaydesk.realtime.events import event_message
from relaydesk.realtime.gateway import until_one_ends
from relaydesk.runtime import Runtime

PAGE = 500
HELLO_TIMEOUT = 10.0
#: Seconds without a refresh after which a visitor's "typing" is switched off by the server.
TYPING_EXPIRY = 8.0
REVALIDATE_SECONDS = 30.0
MESSAGE_EVENTS = ("message.created", "message.updated")
MAX_READ_IDS = 100


class VisitorStream:
    def __init__(
        self, socket: WebSocket, runtime: Runtime, inbox: WidgetInbox, config: WidgetConfig, visitor: Visitor
    ) -> None:
        self.socket = socket
        self.runtime = runtime
        self.inbox = inbox
        self.config = config
        self.visitor = visitor
        self.cursor = 0
        self.contact_id: str | None = None
        self.conversations: set[str] = set()
        self.current: str | None = None  # the open conversation typing belongs to
        self.lock = asyncio.Lock()
        self.typing_until = 0.0
        self.token = ""

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.lock:
            await self.socket.send_json(frame)

    async def membership(self) -> None:
        """The visitor's contact and every conversation of theirs on this inbox."""
        async with self.runtime.db.read() as session:
            contact_id = await find_contact(session, self.inbox, self.visitor)
            if contact_id is None:
                return
            self.contact_id = str(contact_id)
            rows = (
                await session.execute(
                    sa.select(Conversation.id, Conversation.status)
                    .where(
                        Conversation.workspace_id == self.inbox.workspace_id,
                        Conversation.inbox_id == self.inbox.id,
                        Conversation.contact_id == contact_id,
                    )
                    .order_by(Conversation.created_at)
                )
            ).all()
        self.conversations = {str(cid) for cid, _ in rows}
        open_ = [str(cid) for cid, status in rows if status != "resolved"]
        self.current = open_[-1] if open_ else None

    async def current_seq(self) -> int:
        async with self.runtime.db.read() as session:
            return (
                await session.execute(
                    sa.select(Workspace.event_seq).where(Workspace.id == self.inbox.workspace_id)
                )
            ).scalar_one()

    async def catch_up(self) -> None:
        """Everything after `cursor` from the database, sending what is the visitor's."""
        while True:
            async with self.runtime.db.read() as session:
                rows = list(
                    (
                        await session.execute(
                            sa.select(EventRow)
                            .where(
                                EventRow.workspace_id == self.inbox.workspace_id, EventRow.seq > self.cursor
                            )
                            .order_by(EventRow.seq)
                            .limit(PAGE)
                        )
                    ).scalars()
                )
            for row in rows:
                await self.handle(
                    event_message(
                        row.workspace_id, row.seq, row.type, row.payload, row.created_at.isoformat()
                    )
                )
                self.cursor = row.seq
            if len(rows) < PAGE:
                return

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        payload = event.get("payload") or {}
        if kind == "conversation.created":
            if self.contact_id is None:
                await self.membership()  # the visitor's first message may have created their contact
            elif payload.get("contact_id") == self.contact_id:
                self.conversations.add(payload["conversation_id"])
                self.current = payload["conversation_id"]
            return
        conversation = payload.get("conversation_id")
        if conversation not in self.conversations:
            return
        if kind in MESSAGE_EVENTS and payload.get("message_type") in VISIBLE_TYPES:
            async with self.runtime.db.read() as session:
                message = await session.get(Message, uuid.UUID(payload["message_id"]))
                if message is None or message.workspace_id != self.inbox.workspace_id:
                    return
                [view] = await messages_view(session, [message])
            view["seq"] = event["seq"]
            await self.send(
                {
                    "type": "message" if kind == "message.created" else "message.updated",
                    "seq": event["seq"],
                    "message": view,
                }
            )
        elif kind == "conversation.updated" and "status" in payload.get("changed", []):
            if payload["status"] == "resolved" and self.current == conversation:
                self.current = None
            elif payload["status"] != "resolved":
                self.current = conversation
            await self.send(
                {
                    "type": "conversation",
                    "seq": event["seq"],
                    "conversation": {"id": conversation, "status": payload["status"]},
                }
            )

    async def pump(self, sub: Any) -> None:
        while True:
            event = await sub.queue.get()
            if sub.overflowed:
                sub.overflowed = False
                await self.catch_up()
            if event is RESYNC:
                continue
            seq = event.get("seq")
            if seq is None:
                payload = event.get("payload") or {}
                if (
                    event.get("type") == "typing"
                    and payload.get("conversation_id") in self.conversations
                    and payload.get("user_id")  # an agent's, not this visitor's own echo
                ):
                    await self.send(
                        {"type": "typing", "on": bool(payload.get("on")), "name": payload.get("name")}
                    )
                continue
            if seq <= self.cursor:
                continue
            if seq == self.cursor + 1:
                await self.handle(event)
                self.cursor = seq
            else:
                await self.catch_up()

    async def typing(self, on: bool) -> None:
        if self.current is None:
            return
        if on:
            self.typing_until = time.monotonic() + TYPING_EXPIRY
        elif not self.typing_until:
            return
        else:
            self.typing_until = 0.0
        await self.publish_typing(on)

    async def publish_typing(self, on: bool) -> None:
        await self.runtime.bus.publish(
            [
                {
                    "workspace_id": str(self.inbox.workspace_id),
                    "seq": None,
                    "type": "typing",
                    "payload": {
                        "conversation_id": self.current,
                        "user_id": None,
                        "contact_id": self.contact_id,
                        "name": "The visitor",
                        "on": on,
                    },
                }
            ]
        )

    async def expire_typing(self) -> None:
        """The server's half of typing: a visitor who stops refreshing (or vanishes) stops typing."""
        while True:
            await asyncio.sleep(1.0)
            if self.typing_until and time.monotonic() > self.typing_until:
                self.typing_until = 0.0
                await self.publish_typing(False)

    async def guard(self) -> None:
        """Close the socket once its token would no longer be accepted: expired, the secret rotated, the
        inbox deactivated, or the site removed from the allowed origins. Checked every REVALIDATE_SECONDS,
        which also refreshes the visitor's presence (offline_fallback.PRESENCE_TIMEOUT is longer)."""
        while True:
            await asyncio.sleep(REVALIDATE_SECONDS)
            try:
                inbox = await routes.load_inbox(self.runtime, self.inbox.public_id)
                routes.authenticate(inbox, widget_config(inbox.settings), self.token)
            except DomainError as exc:
                await self.send({"type": "error", "status": exc.status, "message": str(exc)})
                await self.socket.close(code=4000 + exc.status, reason=str(exc)[:120])
                return
            await self.presence(True)

    async def presence(self, here: bool) -> None:
        """The visitor is here (socket open) or has left (socket closed): replies to a visitor who left go
        by e-mail where the inbox names an e-mail inbox (actions/offline_fallback.py)."""
        async with self.runtime.db.write() as session:
            await offline_fallback.mark_presence(
                session, self.inbox.workspace_id, self.inbox.id, self.visitor.key, present=here
            )

    async def read(self) -> None:
        while True:
            frame = await self.socket.receive_json()
            if not isinstance(frame, dict):
                await self.send({"type": "error", "status": 400, "message": "frames are JSON objects"})
                continue
            kind = frame.get("type")
            if kind == "ping":
                await self.send({"type": "pong", "seq": self.cursor})
            elif kind == "typing":
                await self.typing(frame.get("on") is True)
            elif kind == "message.create":
                await self.create(frame)
            elif kind == "read":
                await self.read_up(frame.get("message_ids"))
            else:
                await self.send(
                    {"type": "error", "status": 400, "message": f"unknown frame type {str(kind)[:40]!r}"}
                )

    async def read_up(self, raw: Any) -> None:
        """The visitor has these replies on screen: mark them read (agents see it on the message). Only
        replies of the visitor's own conversations; unknown ids are ignored, malformed frames refused."""
        try:
            ids = [uuid.UUID(str(value)) for value in raw][:MAX_READ_IDS] if isinstance(raw, list) else None
        except ValueError:
            ids = None
        if ids is None:
            await self.send(
                {"type": "error", "status": 400, "message": "read needs message_ids: a list of ids"}
            )
            return
        if not ids or not self.conversations:
            return
        async with self.runtime.db.write() as session:
            rows = (
                (
                    await session.execute(
                        sa.select(Message)
                        .where(
                            Message.workspace_id == self.inbox.workspace_id,
                            Message.id.in_(ids),
                            Message.conversation_id.in_([uuid.UUID(c) for c in self.conversations]),
                            Message.message_type == "outgoing",
                            Message.status != "read",
                        )
                        .with_for_update()  # against the delivery job's "sent" (jobs/handlers/outbound.py)
                    )
                )
                .scalars()
                .all()
            )
            with acting_as(catalogue.contact(self.contact_id or uuid.UUID(int=0))):
                for message in rows:
                    await update_delivery(session, message, "read")

    async def create(self, frame: dict[str, Any]) -> None:
        client_msg_id = frame.get("client_msg_id")
        try:
            client_msg_id = routes.check_client_msg_id(client_msg_id)
            text = routes.check_text(frame.get("text"))
            if not (text and text.strip()):
                raise routes.InvalidInput("a message needs text")
            await rate.new_message(self.runtime, routes.client_address(self.socket), self.visitor.key)
            message = await routes.store_message(
                self.runtime,
                self.inbox,
                self.config,
                self.visitor,
                client_msg_id,
                text,
                frame.get("prechat"),
                attributes=frame.get("attributes"),
            )
        except DomainError as exc:
            await self.send(
                {
                    "type": "error",
                    "status": exc.status,
                    "message": str(exc),
                    "client_msg_id": client_msg_id if isinstance(client_msg_id, str) else None,
                }
            )
            return
        message.pop("_created", None)
        if message["conversation_id"] not in self.conversations:
            await self.membership()
        self.typing_until = 0.0
        await self.presence(True)  # a first message creates the identity: the visitor is here now
        await self.send({"type": "ack", "client_msg_id": client_msg_id, "message": message})


@websocket("/widget/{public_id:str}/ws")
async def visitor_socket(socket: WebSocket, public_id: str, runtime: Runtime) -> None:
    if not routes.own_origin(socket.headers):
        await socket.close(code=4403, reason="origin not allowed")
        return
    try:
        inbox = await routes.load_inbox(runtime, public_id)
    except NotFound:
        await socket.close(code=4404, reason="no such widget")
        return
    config = widget_config(inbox.settings)
    await socket.accept()
    try:
        try:
            hello = await asyncio.wait_for(socket.receive_json(), timeout=HELLO_TIMEOUT)
        except TimeoutError:
            await socket.close(code=4408, reason="send hello first")
            return
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            await socket.close(code=4400, reason="the first frame must be hello{token, last_seen_seq}")
            return
        try:
            visitor = routes.authenticate(
                inbox, config, hello.get("token") if isinstance(hello.get("token"), str) else None
            )
        except DomainError as exc:
            await socket.send_json({"type": "error", "status": exc.status, "message": str(exc)})
            await socket.close(code=4000 + exc.status, reason=str(exc)[:120])
            return
        stream = VisitorStream(socket, runtime, inbox, config, visitor)
        stream.token = hello["token"]
        sub = runtime.bus.subscribe(inbox.workspace_id)
        try:
            await stream.membership()
            current = await stream.current_seq()
            last = hello.get("last_seen_seq")
            # No (or an impossible) position: start from now; the frame reads the thread over REST first.
            valid = isinstance(last, int) and not isinstance(last, bool) and 0 <= last <= current
            stream.cursor = last if valid else current
            await stream.catch_up()
            await stream.presence(True)
            await stream.send({"type": "hello", "seq": stream.cursor, "identified": visitor.identified})
            await until_one_ends(stream.pump(sub), stream.read(), stream.expire_typing(), stream.guard())
        finally:
            sub.close()
            if stream.typing_until:
                await stream.publish_typing(False)
            await stream.presence(False)
    except WebSocketDisconnect:
        pass
