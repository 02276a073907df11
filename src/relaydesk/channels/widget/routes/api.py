"""The widget's doors: the loader script, the chat frame, the visitor API and the visitor WebSocket.

    GET  /widget/{public id}/loader.js        the one script a site embeds (renders the launcher only)
    GET  /widget/{public id}/frame?host=…     the chat, in an iframe on Relaydesk's origin
    POST /widget/{public id}/api/session      a visitor token (anonymous, or identified by the host site)
    GET  /widget/{public id}/api/messages     the visitor's thread (REST fallback of the socket)
    POST /widget/{public id}/api/messages     post a message (REST fallback; `client_msg_id` dedupes)
    POST /widget/{public id}/api/uploads      post a file as a message (raw body, size and type checked)
    GET  /widget/{public id}/api/attachments/{id}   a file of the visitor's own thread
    WS   /widget/{public id}/ws               realtime (stream.py)
    GET  /widget/assets/…                     the frame's script and styles

Origins: the frame's CSP `frame-ancestors` names only the host origin the loader announced, and only when
it is one of the inbox's `allowed_origins`, so the browser refuses the chat anywhere else; the visitor
token records that host origin and every call re-checks it against the current list. The API and the
socket answer only our own frame: a request whose `Origin` is another site is refused (403).

Everything runs under the inbox's workspace (row-level security on PostgreSQL); an inbox of another
channel, an inactive one or an unknown id is a 404, so widget ids never reach another channel's inbox.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa
from litestar import MediaType, Request, Response, get, post
from litestar.static_files import create_static_files_router

from relaydesk.actions import business_hours, offline_fallback
from relaydesk.channels.envelopes import NewAttachment
from relaydesk.channels.widget import identity, limits
from relaydesk.channels.widget.config import WidgetConfig, widget_config
from relaydesk.channels.widget.identity import TOKEN_HEADER, IdentityRefused
from relaydesk.channels.widget.routes import rate
from relaydesk.channels.widget.routes.door import (
    authenticate,
    check_client_msg_id,
    check_origin,
    check_text,
    client_address,
    json_body,
    load_inbox,
    private_answer,
    store_message,
)
from relaydesk.channels.widget.routes.visitors import (
    find_contact,
    thread,
    visible_conversations,
)
from relaydesk.db.base import utcnow
from relaydesk.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    TooLarge,
    UnsupportedMediaType,
)
from relaydesk.models.messages import Attachment, Message
from relaydesk.models.workspaces import Workspace
from relaydesk.privacy import storage
from relaydesk.runtime import Runtime
from relaydesk.server.headers import csp_nonce
from relaydesk.server.input_guards import BINARY_BODY

HERE = Path(__file__).parent.parent
STATIC = HERE / "static"
LOADER = (HERE / "templates" / "loader.js").read_text()
FRAME = (HERE / "templates" / "frame.html").read_text()


# ---- loader and frame -------------------------------------------------------------------------------


@get("/widget/{public_id:str}/loader.js", include_in_schema=False)
async def loader(request: Request, public_id: str, runtime: Runtime) -> Response[str]:
    """The embed script: draws the launcher and `window.Relaydesk`, and nothing else until the visitor
    opens the chat (no request, no cookie, no storage). Its configuration is inlined, so loading it is
    the only request the host page makes."""
    inbox = await load_inbox(runtime, public_id)
    config = widget_config(inbox.settings)
    _locale, texts = config.texts(request.headers.get("accept-language", ""))
    boot = {
        "id": inbox.public_id,
        "title": config.title,
        "accent_color": config.accent_color,
        "accent_text_color": config.accent_text_color,
        "position": config.position,
        "open_label": texts["open_chat"],
    }
    script = LOADER.replace("__RELAYDESK_BOOT__", json.dumps(boot).replace("<", "\\u003c"))
    return Response(
        script,
        media_type="text/javascript; charset=utf-8",
        headers={
            "cache-control": "public, max-age=300",
            # The launcher's label is in the visitor's language.
            "vary": "accept-language",
            # Loaded by other sites' pages by design.
            "cross-origin-resource-policy": "cross-origin",
        },
    )


def frame_csp(nonce: str, host_origin: str) -> str:
    return (
        "default-src 'none'; "
        "script-src 'self'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data: blob:; "
        "connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; "
        f"frame-ancestors {host_origin}"
    )


@get("/widget/{public_id:str}/frame", include_in_schema=False)
async def frame(request: Request, public_id: str, runtime: Runtime, host: str = "") -> Response[str]:
    """The chat itself. Framable by the announced host origin only, and only when the inbox allows it."""
    inbox = await load_inbox(runtime, public_id)
    config = widget_config(inbox.settings)
    origin = identity.normalise_origin(unquote(host)) if host else None
    if origin is None or not identity.origin_allowed(origin, config.allowed_origins):
        raise Forbidden(
            "this site is not allowed to show this chat: add its origin to the widget inbox's allowed origins"
        )
    return render_frame(request, inbox, config, origin)


def render_frame(
    request: Request, inbox: Any, config: WidgetConfig, host: str, *, preview: bool = False
) -> Response[str]:
    """The chat frame's page for `host` (the embedding site's origin, or our own for the admin's live
    preview, which renders the very same page with unsaved settings and `preview` set: the frame then
    shows sample messages and opens no session)."""
    nonce = csp_nonce(request.scope)
    locale, texts = config.texts(request.headers.get("accept-language", ""))
    hours = business_hours.from_settings(inbox.settings)
    boot = {
        "id": inbox.public_id,
        "host": host,
        **config.public(),
        "locale": locale,
        "texts": texts,
        "hours": hours.status(utcnow()) if hours is not None else None,
        "email_fallback": bool(inbox.settings.get(offline_fallback.SETTING)),
        "preview": preview,
    }
    html = (
        FRAME.replace("__NONCE__", nonce)
        .replace("__ACCENT__", config.accent_color)
        .replace("__ACCENT_TEXT__", config.accent_text_color)
        .replace("__LANG__", _escape(locale))
        .replace("__TITLE__", _escape(config.title))
        .replace("__BOOT__", json.dumps(boot).replace("<", "\\u003c"))  # a data block: no entities
    )
    ancestors = "'self'" if preview else host
    return Response(
        html,
        media_type=MediaType.HTML,
        headers={"cache-control": "no-store", "content-security-policy": frame_csp(nonce, ancestors)},
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ---- visitor API -----------------------------------------------------------------------------------


@post("/widget/{public_id:str}/api/session", include_in_schema=False)
async def start_session(request: Request, public_id: str, runtime: Runtime) -> Response[Any]:
    """A visitor token: anonymous (a new random visitor, or the caller's current one), or identified when
    the body carries the host site's proof (`identity`: `{user_id, user_hash}` or `{jwt}`).

    With Do Not Track or Global Privacy Control (the browser's headers, or `privacy: true` from the frame)
    the token is a session one: shorter-lived, and the frame keeps it in memory only."""
    check_origin(request)
    inbox = await load_inbox(runtime, public_id)
    config = widget_config(inbox.settings)
    await rate.new_session(runtime, client_address(request))
    data = await json_body(request)
    host = identity.normalise_origin(str(data.get("host") or ""))
    if host is None or not identity.origin_allowed(host, config.allowed_origins):
        raise Forbidden("this site is not allowed to show this chat")
    persistent = not (
        data.get("privacy") is True
        or request.headers.get("dnt") == "1"
        or request.headers.get("sec-gpc") == "1"
    )
    proof = data.get("identity")
    key: str | None = None
    if proof is not None:
        if not isinstance(proof, dict):
            raise InvalidInput("identity must be an object")
        try:
            user_id = identity.verified_user(
                inbox.credentials.get("identity_secret", ""), proof, enforce=config.enforce_identity
            )
        except IdentityRefused as exc:
            raise Forbidden(str(exc)) from None
        key = identity.user_key(user_id) if user_id else None
    if key is None:
        current = request.headers.get(TOKEN_HEADER)
        if current:
            # Keep the visitor the caller already is (a reload that had its token), unless it is invalid.
            # An identified visitor stays identified until the site calls reset().
            key = authenticate(inbox, config, current).key
        else:
            key = identity.new_anonymous_key()
    token, visitor = identity.issue_token(
        inbox.credentials.get("visitor_token_secret", ""), inbox.public_id, key, host, persistent=persistent
    )
    return private_answer(
        {
            "token": token,
            "persistent": persistent,
            "expires_at": visitor.expires_at,
            "identified": visitor.identified,
        },
        201,
    )


@get("/widget/{public_id:str}/api/messages", include_in_schema=False)
async def history(request: Request, public_id: str, runtime: Runtime) -> Response[Any]:
    """The visitor's conversations, newest first, with `seq`: the stream position to resume the socket from."""
    check_origin(request)
    inbox = await load_inbox(runtime, public_id)
    visitor = authenticate(inbox, widget_config(inbox.settings), request.headers.get(TOKEN_HEADER))
    async with runtime.db.read() as session:
        seq = (
            await session.execute(sa.select(Workspace.event_seq).where(Workspace.id == inbox.workspace_id))
        ).scalar_one()
        conversations = await thread(session, inbox, visitor)
    return private_answer({"seq": seq, "identified": visitor.identified, "conversations": conversations})


@post("/widget/{public_id:str}/api/messages", include_in_schema=False)
async def post_message(request: Request, public_id: str, runtime: Runtime) -> Response[Any]:
    check_origin(request)
    inbox = await load_inbox(runtime, public_id)
    config = widget_config(inbox.settings)
    visitor = authenticate(inbox, config, request.headers.get(TOKEN_HEADER))
    data = await json_body(request)
    client_msg_id = check_client_msg_id(data.get("client_msg_id"))
    text = check_text(data.get("text"))
    if not (text and text.strip()):
        raise InvalidInput("a message needs text")
    await rate.new_message(runtime, client_address(request), visitor.key)
    message = await store_message(
        runtime,
        inbox,
        config,
        visitor,
        client_msg_id,
        text,
        data.get("prechat"),
        attributes=data.get("attributes"),
    )
    return private_answer(message, 201 if message.pop("_created") else 200)


@post(
    "/widget/{public_id:str}/api/uploads",
    include_in_schema=False,
    request_max_body_size=limits.MAX_ATTACHMENT_BYTES,
    opt={BINARY_BODY: True},
)
async def upload(request: Request, public_id: str, runtime: Runtime) -> Response[Any]:
    """A file from the visitor, as a message of their open conversation: the raw bytes as the body, the
    file's type as `Content-Type`, its name URL-encoded in `X-Filename`, `client_msg_id` in the query."""
    check_origin(request)
    inbox = await load_inbox(runtime, public_id)
    config = widget_config(inbox.settings)
    visitor = authenticate(inbox, config, request.headers.get(TOKEN_HEADER))
    client_msg_id = check_client_msg_id(request.query_params.get("client_msg_id"))
    await rate.new_message(runtime, client_address(request), visitor.key)
    data = await request.body()
    try:
        media = limits.check_attachment(request.headers.get("content-type", ""), data)
    except limits.AttachmentRefused as exc:
        if exc.status == 413:
            raise TooLarge(str(exc)) from None
        raise UnsupportedMediaType(str(exc)) from None
    name = limits.clean_filename(unquote(request.headers.get("x-filename", "")))
    message = await store_message(
        runtime, inbox, config, visitor, client_msg_id, None, None, NewAttachment(name, media, data)
    )
    return private_answer(message, 201 if message.pop("_created") else 200)


@get("/widget/{public_id:str}/api/attachments/{attachment_id:str}", include_in_schema=False)
async def attachment(
    request: Request, public_id: str, attachment_id: str, runtime: Runtime
) -> Response[bytes]:
    """A file of one of the visitor's visible conversations (another's is a 404)."""
    check_origin(request)
    inbox = await load_inbox(runtime, public_id)
    visitor = authenticate(inbox, widget_config(inbox.settings), request.headers.get(TOKEN_HEADER))
    try:
        att_id = uuid.UUID(attachment_id)
    except ValueError:
        raise NotFound("no such file") from None
    async with runtime.db.read() as session:
        contact_id = await find_contact(session, inbox, visitor)
        conversations = (
            [c.id for c in await visible_conversations(session, inbox, contact_id, visitor)]
            if contact_id
            else []
        )
        row = (
            await session.execute(
                sa.select(Attachment, Message.message_type)
                .options(sa.orm.undefer(Attachment.data))
                .join(Message, Message.id == Attachment.message_id)
                .where(
                    Attachment.workspace_id == inbox.workspace_id,
                    Attachment.id == att_id,
                    Message.conversation_id.in_(conversations),
                )
            )
        ).first()
        if row is None or row[1] not in ("incoming", "outgoing"):
            raise NotFound("no such file")
        data = storage.read_attachment(row[0])
        media = row[0].content_type
    return Response(
        data,
        media_type=media if media in limits.ALLOWED_TYPES else "application/octet-stream",
        headers={"cache-control": "no-store", "content-disposition": "attachment"},
    )


assets = create_static_files_router(
    path="/widget/assets", directories=[STATIC], include_in_schema=False, cache_control=None
)


API_ROUTES: list[Any] = [loader, frame, start_session, history, post_message, upload, attachment, assets]
