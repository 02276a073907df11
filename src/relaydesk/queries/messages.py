"""A conversation's thread, newest page first, in three queries (messages, attachments, sender names)."""

from __future__ import annotations

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
    conds = [Message.workspace_id == workspace_id, Message.conversation_id == conversation_id]
    before = decode_cursor(cursor, 1)
    if before:
        try:
            conds.append(Message.id < uuid.UUID(before[0]))
        except ValueError:
            raise InvalidInput("invalid cursor") from None
    rows = list(
        (
            await session.execute(
                sa.select(Message).where(*conds).order_by(Message.id.desc()).limit(limit + 1)
            )
        ).scalars()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    next_cursor = encode_cursor([str(rows[0].id)]) if more and rows else None
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
