"""What every door of the widget checks: the inbox behind a public id, the caller's origin, the visitor
token, the body's shape; and the one way a visitor's post is stored (shared by REST and the socket)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from litestar import Request, Response

from relaydesk.channels.envelopes import NewAttachment
from relaydesk.channels.widget import identity, limits
from relaydesk.channels.widget.config import WidgetConfig
from relaydesk.channels.widget.identity import InvalidToken, Visitor
from relaydesk.channels.widget.routes.visitors import WidgetInbox, messages_view, receive_visitor_message
from relaydesk.db import tenancy
from relaydesk.db.tenancy import outside_tenant
from relaydesk.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound, TooLarge
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Message
from relaydesk.privacy import storage
from relaydesk.runtime import Runtime

CHANNEL = "widget"
MAX_JSON_BYTES = 64 * 1024


async def load_inbox(runtime: Runtime, public_id: str) -> WidgetInbox:
    """The active widget inbox with this public id, and the rest of the request under its workspace."""
    if len(public_id) > 40:
        raise NotFound("no such widget")
    with outside_tenant():
        async with runtime.db.read() as session:
            row = (
                await session.execute(
                    sa.select(Inbox).where(
                        Inbox.public_id == public_id, Inbox.channel_type == CHANNEL, Inbox.is_active.is_(True)
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                raise NotFound("no such widget")
            inbox = WidgetInbox(
                row.id,
                row.workspace_id,
                row.public_id,
                row.name,
                dict(row.settings or {}),
                storage.read_inbox_credentials(row),
            )
    tenancy.enter(inbox.workspace_id)
    return inbox


def own_origin(headers: Any) -> bool:
    """Calls must come from our own frame: a browser's `Origin` (sent on every POST and WebSocket) must be
    Relaydesk's. Without one (a server-side client) the token alone decides; it never rides in a cookie,
    so there is nothing for another site to forge a request with."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == headers.get("host")


def client_address(connection: Any) -> str:
    """The caller's address as the server sees it (behind a proxy: run uvicorn with --proxy-headers)."""
    return connection.client.host if connection.client else "unknown"


def check_origin(request: Request) -> None:
    if not own_origin(request.headers):
        raise Forbidden("this API answers the Relaydesk chat frame only (wrong Origin)")


def authenticate(inbox: WidgetInbox, config: WidgetConfig, token: str | None) -> Visitor:
    try:
        visitor = identity.read_token(
            inbox.credentials.get("visitor_token_secret", ""), inbox.public_id, token
        )
    except InvalidToken as exc:
        raise NotAuthenticated(str(exc)) from None
    if not identity.origin_allowed(visitor.host_origin, config.allowed_origins):
        raise Forbidden("the site this chat was opened on is no longer allowed for this widget")
    return visitor


async def json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise TooLarge(f"the request body is limited to {MAX_JSON_BYTES // 1024} KiB")
    try:
        data = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


def check_text(text: Any) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidInput("text must be a string")
    if len(text) > limits.MAX_MESSAGE_CHARS:
        raise TooLarge(f"a message is limited to {limits.MAX_MESSAGE_CHARS} characters")
    return text


def check_client_msg_id(value: Any) -> str:
    if not isinstance(value, str) or not limits.CLIENT_MSG_ID.fullmatch(value):
        raise InvalidInput("client_msg_id must be 8-64 letters, digits, '-' or '_'")
    return value


def private_answer(content: Any, status: int = 200) -> Response[Any]:
    """Visitor data is never cached by the browser or a proxy."""
    return Response(content, status_code=status, headers={"cache-control": "no-store"})


async def store_message(
    runtime: Runtime,
    inbox: WidgetInbox,
    config: WidgetConfig,
    visitor: Visitor,
    client_msg_id: str,
    text: str | None,
    prechat: Any = None,
    attachment: NewAttachment | None = None,
    attributes: Any = None,
) -> dict[str, Any]:
    """Store and describe a visitor's post (shared by the REST routes and the socket)."""
    async with runtime.db.write() as session:
        message, created = await receive_visitor_message(
            session,
            inbox,
            config,
            visitor,
            client_msg_id=client_msg_id,
            text=text,
            prechat=prechat,
            attachment=attachment,
            attributes=attributes,
        )
    async with runtime.db.read() as session:
        fresh = await session.get(Message, message.id)
        assert fresh is not None
        [view] = await messages_view(session, [fresh])
    view["_created"] = created
    return view
