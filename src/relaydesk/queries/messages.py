"""A conversation's thread, newest page first, in three queries (messages, attachments, sender names).

Thread order is (`ordered_at`, id): the customer's own send time when it is given and plausible, else the
time Relaydesk stored the message (actions/incoming.py: thread_time)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import InvalidInput, NotFound
from relaydesk.models.conversations import Conversation
from relaydesk.models.messages import Attachment, Message
from relaydesk.models.users import User
from relaydesk.queries.pagination import decode_cursor, encode_cursor
from relaydesk.queries.serializers import message_json


async def hydrate(session: AsyncSession, messages: list[Message]) -> list[dict[str, Any]]:
    ids = [m.id for m in messages]
    attachments: dict[uuid.UUID, list[Attachment]] = {i: [] for i in ids}
    if ids:
        for att in (
            await session.execute(
                sa.select(Attachment).where(Attachment.message_id.in_(ids)).order_by(Attachment.created_at)
            )
        ).scalars():
            attachments[att.message_id].append(att)
    user_ids = {m.sender_user_id for m in messages if m.sender_user_id}
    names: dict[uuid.UUID, str] = {}
    if user_ids:
        names = dict(
            (await session.execute(sa.select(User.id, User.name).where(User.id.in_(user_ids)))).all()
        )
    return [
        message_json(m, attachments[m.id], names.get(m.sender_user_id) if m.sender_user_id else None)
        for m in messages
    ]


async def list_messages(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    exists = (
        await session.execute(
            sa.select(Conversation.id).where(
                Conversation.workspace_id == workspace_id, Conversation.id == conversation_id
            )
        )
    ).first()
    if exists is None:
        raise NotFound("conversation not found")
    # Thread order: `ordered_at` (the customer's send time when plausible, else when stored), then id.
    conds = [Message.workspace_id == workspace_id, Message.conversation_id == conversation_id]
    before = decode_cursor(cursor, 2)
    if before:
        try:
            at, mid = dt.datetime.fromisoformat(str(before[0])), uuid.UUID(str(before[1]))
        except ValueError:
            raise InvalidInput("invalid cursor") from None
        if at.tzinfo is None:
            raise InvalidInput("invalid cursor")
        conds.append(
            sa.tuple_(Message.ordered_at, Message.id)
            < sa.tuple_(sa.literal(at, Message.ordered_at.type), sa.literal(mid, Message.id.type))
        )
    rows = list(
        (
            await session.execute(
                sa.select(Message)
                .where(*conds)
                .order_by(Message.ordered_at.desc(), Message.id.desc())
                .limit(limit + 1)
            )
        ).scalars()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    next_cursor = encode_cursor([rows[0].ordered_at.isoformat(), str(rows[0].id)]) if more and rows else None
    return await hydrate(session, rows), next_cursor


async def get_message(
    session: AsyncSession, workspace_id: uuid.UUID, message_id: uuid.UUID
) -> dict[str, Any]:
    msg = (
        await session.execute(
            sa.select(Message).where(Message.workspace_id == workspace_id, Message.id == message_id)
        )
    ).scalar_one_or_none()
    if msg is None:
        raise NotFound("message not found")
    return (await hydrate(session, [msg]))[0]


async def reply_context(
    session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> tuple[Message, Attachment | None] | None:
    """The customer's latest message in a conversation (thread order) and the provider original kept with
    it (`content_attributes["original_attachment"]`), for a reply threaded on it (e-mail). Two queries."""
    latest = (
        await session.execute(
            sa.select(Message)
            .where(
                Message.workspace_id == workspace_id,
                Message.conversation_id == conversation_id,
                Message.message_type == "incoming",
            )
            .order_by(Message.ordered_at.desc(), Message.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if latest is None:
        return None
    index = (latest.content_attributes or {}).get("original_attachment")
    if not isinstance(index, int) or index < 0:
        return latest, None
    original = (
        await session.execute(
            sa.select(Attachment)
            .where(Attachment.workspace_id == workspace_id, Attachment.message_id == latest.id)
            .order_by(Attachment.created_at, Attachment.id)
            .offset(index)
            .limit(1)
            .options(sa.orm.undefer(Attachment.data))
        )
    ).scalar_one_or_none()
    return latest, original
