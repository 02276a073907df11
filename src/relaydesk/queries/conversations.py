"""The conversation list and one conversation, in a fixed number of queries whatever the page size.

Page = 1 query for conversations joined to their contact and last message (denormalised
`last_message_id`), + 1 query for their labels. tests/test_query_counts.py holds this to 2.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.api.pagination import decode_cursor, encode_cursor
from relaydesk.api.serializers import conversation_json
from relaydesk.errors import InvalidInput, NotFound
from relaydesk.models.contacts import Contact
from relaydesk.models.conversations import STATUSES, Conversation, ConversationLabel, Label
from relaydesk.models.messages import Message

SORTS = ("last_activity", "waiting", "created")


@dataclass
class ConversationFilter:
    status: str = "open"  # one of STATUSES or "all"
    assignee: str | None = None  # "me" | "unassigned" | "assigned" | user id
    inbox_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    label_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    sort: str = "last_activity"


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput("invalid cursor") from None


def _conditions(workspace_id: uuid.UUID, f: ConversationFilter, me: uuid.UUID) -> list[Any]:
    if f.status != "all" and f.status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)} or all")
    if f.sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}")
    conds: list[Any] = [Conversation.workspace_id == workspace_id]
    if f.status != "all":
        conds.append(Conversation.status == f.status)
    if f.assignee == "me":
        conds.append(Conversation.assignee_id == me)
    elif f.assignee == "unassigned":
        conds.append(Conversation.assignee_id.is_(None))
    elif f.assignee == "assigned":
        conds.append(Conversation.assignee_id.is_not(None))
    elif f.assignee:
        conds.append(Conversation.assignee_id == _uuid_param(f.assignee, "assignee"))
    if f.inbox_id:
        conds.append(Conversation.inbox_id == f.inbox_id)
    if f.team_id:
        conds.append(Conversation.team_id == f.team_id)
    if f.contact_id:
        conds.append(Conversation.contact_id == f.contact_id)
    if f.label_id:
        conds.append(
            sa.exists().where(
                ConversationLabel.conversation_id == Conversation.id, ConversationLabel.label_id == f.label_id
            )
        )
    return conds


def _uuid_param(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"{name} must be me, unassigned, assigned or a user id") from None


async def labels_for(
    session: AsyncSession, conversation_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Label]]:
    result: dict[uuid.UUID, list[Label]] = {cid: [] for cid in conversation_ids}
    if not conversation_ids:
        return result
    rows = await session.execute(
        sa.select(ConversationLabel.conversation_id, Label)
        .join(Label, Label.id == ConversationLabel.label_id)
        .where(ConversationLabel.conversation_id.in_(conversation_ids))
        .order_by(Label.name)
    )
    for conv_id, label in rows:
        result[conv_id].append(label)
    return result


async def list_conversations(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    me: uuid.UUID,
    f: ConversationFilter,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    conds = _conditions(workspace_id, f, me)
    if f.sort == "waiting":
        # Longest-waiting first; conversations nobody waits on come last, newest activity first.
        key = sa.func.coalesce(
            Conversation.waiting_since,
            sa.literal(dt.datetime(9999, 1, 1, tzinfo=dt.UTC), Conversation.waiting_since.type),
        )
        order = [key.asc(), Conversation.id.asc()]
        after = decode_cursor(cursor, 2)
        if after:
            at = dt.datetime.fromisoformat(after[0])
            conds.append(sa.or_(key > at, sa.and_(key == at, Conversation.id > _uuid(after[1]))))
    else:
        column = Conversation.last_activity_at if f.sort == "last_activity" else Conversation.created_at
        key = column
        order = [column.desc(), Conversation.id.desc()]
        after = decode_cursor(cursor, 2)
        if after:
            at = dt.datetime.fromisoformat(after[0])
            conds.append(sa.or_(column < at, sa.and_(column == at, Conversation.id < _uuid(after[1]))))
    stmt = (
        sa.select(Conversation, Contact, Message)
        .join(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(Message, Message.id == Conversation.last_message_id)
        .where(*conds)
        .order_by(*order)
        .limit(limit + 1)
    )
    rows = (await session.execute(stmt)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    labels = await labels_for(session, [r[0].id for r in rows])
    items = [conversation_json(conv, contact, last, labels[conv.id]) for conv, contact, last in rows]
    next_cursor = None
    if more and rows:
        last_conv = rows[-1][0]
        if f.sort == "waiting":
            value = last_conv.waiting_since or dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
        elif f.sort == "last_activity":
            value = last_conv.last_activity_at
        else:
            value = last_conv.created_at
        next_cursor = encode_cursor([value.isoformat(), str(last_conv.id)])
    return items, next_cursor


async def get_conversation(
    session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> dict[str, Any]:
    row = (
        await session.execute(
            sa.select(Conversation, Contact, Message)
            .join(Contact, Contact.id == Conversation.contact_id)
            .outerjoin(Message, Message.id == Conversation.last_message_id)
            .where(Conversation.workspace_id == workspace_id, Conversation.id == conversation_id)
        )
    ).first()
    if row is None:
        raise NotFound("conversation not found")
    conv, contact, last = row
    labels = await labels_for(session, [conv.id])
    return conversation_json(conv, contact, last, labels[conv.id])
