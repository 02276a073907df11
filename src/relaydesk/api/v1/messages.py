"""Messages of a conversation: read the thread, reply or add a private note, search, attachments."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
import uuid
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import Response, get, post
from litestar.params import Parameter

from relaydesk.actions.messages import NewAttachment, post_message
from relaydesk.auth.guards import requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.errors import InvalidInput, NotFound
from relaydesk.models.messages import Attachment, Message
from relaydesk.privacy import storage
from relaydesk.queries.messages import get_message, hydrate, list_messages
from relaydesk.runtime import Runtime

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


class AttachmentIn(msgspec.Struct, forbid_unknown_fields=True):
    filename: str
    data_base64: str
    content_type: str = "application/octet-stream"


class MessageCreate(msgspec.Struct, forbid_unknown_fields=True):
    content: str | None = None
    private: bool = False
    attachments: list[AttachmentIn] = []
    reply_to_id: uuid.UUID | None = None


def _attachments(items: list[AttachmentIn]) -> list[NewAttachment]:
    if len(items) > 10:
        raise InvalidInput("at most 10 attachments per message")
    result = []
    for item in items:
        try:
            data = base64.b64decode(item.data_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"attachment {item.filename!r}: data_base64 is not valid base64") from None
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise InvalidInput(f"attachment {item.filename!r} is larger than 10 MiB")
        if not item.filename.strip() or len(item.filename) > 255:
            raise InvalidInput("attachment filename must be 1-255 characters")
        result.append(NewAttachment(filename=item.filename, content_type=item.content_type[:120], data=data))
    return result


@get("/conversations/{conversation_id:uuid}/messages", guards=[requires_agent])
async def messages_index(
    conversation_id: uuid.UUID,
    principal: Principal,
    runtime: Runtime,
    cursor: str | None = None,
    limit: int = Parameter(default=50, ge=1, le=100),
) -> dict[str, Any]:
    """The latest `limit` messages in chronological order; `next_cursor` pages to older ones."""
    async with runtime.db.read(inline=True) as session:
        items, next_cursor = await list_messages(
            session, principal.workspace_id, conversation_id, cursor=cursor, limit=limit
        )
    return {"items": items, "next_cursor": next_cursor}


@post("/conversations/{conversation_id:uuid}/messages", guards=[requires_agent])
async def messages_create(
    conversation_id: uuid.UUID, data: MessageCreate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Reply to the customer (delivered by a job, with retries) or add a private note (`private: true`)."""
    attachments = _attachments(data.attachments)
    async with runtime.db.write() as session:
        msg = await post_message(
            session,
            principal.workspace_id,
            conversation_id,
            text=data.content,
            private=data.private,
            sender_user_id=principal.user_id,
            attachments=attachments,
            reply_to_id=data.reply_to_id,
        )
    async with runtime.db.read() as session:
        return await get_message(session, principal.workspace_id, msg.id)


@get("/messages/search", guards=[requires_agent])
async def messages_search(
    principal: Principal,
    runtime: Runtime,
    q: str = Parameter(min_length=1, max_length=200),
    cursor: str | None = None,
    limit: int = Parameter(default=20, ge=1, le=100),
) -> dict[str, Any]:
    """Every word must match (case and accents ignored); no time window; newest first."""
    before = None
    if cursor:
        try:
            before = uuid.UUID(cursor)
        except ValueError:
            raise InvalidInput("invalid cursor") from None
    async with runtime.db.read() as session:
        ids = await storage.search_messages(
            session, principal.workspace_id, q, before=before, limit=limit + 1
        )
        more = len(ids) > limit
        ids = ids[:limit]
        rows = list(
            (
                await session.execute(
                    sa.select(Message)
                    .where(Message.workspace_id == principal.workspace_id, Message.id.in_(ids))
                    .order_by(Message.id.desc())
                )
            ).scalars()
        )
        items = await hydrate(session, rows)
    return {"items": items, "next_cursor": str(ids[-1]) if more and ids else None}


def _content_disposition(name: str) -> str:
    """`attachment` with the file name as a quoted ASCII fallback and, for any other name, RFC 6266's
    `filename*` in UTF-8 (a header value must be Latin-1, so a name like "résumé.pdf" cannot go in as is).
    A shredded contact's attachment has no name left and is offered as "attachment"."""
    name = name or "attachment"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    header = f'attachment; filename="{fallback}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
    return header


@get("/attachments/{attachment_id:uuid}", guards=[requires_agent], media_type="application/octet-stream")
async def attachments_download(
    attachment_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> Response[bytes]:
    async with runtime.db.read() as session:
        att = (
            await session.execute(
                sa.select(Attachment)
                .where(Attachment.workspace_id == principal.workspace_id, Attachment.id == attachment_id)
                .options(sa.orm.undefer(Attachment.data))
            )
        ).scalar_one_or_none()
        if att is None:
            raise NotFound("attachment not found")
        data = storage.read_attachment(att)
        name = storage.read_attachment_name(att)
    return Response(
        data,
        media_type=att.content_type,
        headers={"content-disposition": _content_disposition(name), "cache-control": "private, no-store"},
    )


SCOPE_FAMILY = "conversations"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [messages_index, messages_create, messages_search, attachments_download]
