"""The conversation list and one conversation, in a fixed number of queries whatever the page size.

Page = 1 query for conversations joined to their contact and last message (denormalised
`last_message_id`), + 1 query for their labels. tests/test_query_counts.py holds this to 2.
How a page stays fast at 100,000 conversations: docs/conversation-list-and-search.md.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import InvalidInput, NotFound
from relaydesk.models.contacts import Contact
from relaydesk.models.conversations import STATUSES, Conversation, ConversationLabel, Label
from relaydesk.models.messages import Message
from relaydesk.queries.pagination import decode_cursor, encode_cursor
from relaydesk.queries.serializers import conversation_json

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


@dataclass(frozen=True)
class _Shape:
    """What a page's SQL depends on; the values go in as bound parameters. Statements are built once per
    shape (`_page_statement`): building and hashing an eight-walk UNION costs more than running it."""

    sort: str
    status: str
    assignee: str | None  # "user" (me or a given user) | "unassigned" | "assigned" | None
    inbox: bool
    team: bool
    label: bool
    contact: bool
    after: str | None  # the cursor's part: None, "w"/"a" (sort=waiting) or "k" (the other sorts)


# sort=waiting without waiting_since: the conversations nobody waits on follow, newest activity first.
_WAITING, _NOT_WAITING, _KEYSET = "w", "a", "k"


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput("invalid cursor") from None


def _uuid_param(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"{name} must be me, unassigned, assigned or a user id") from None


def _datetime(value: Any) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput("invalid cursor") from None


def _after(cursor: str | None, sort: str) -> tuple[str, dt.datetime, uuid.UUID] | None:
    """The cursor's (part, sort value, id); `part` says which half of sort=waiting it points into."""
    if sort != "waiting":
        values = decode_cursor(cursor, 2)
        return None if values is None else (_KEYSET, _datetime(values[0]), _uuid(values[1]))
    values = decode_cursor(cursor, 3)
    if values is None:
        return None
    if values[0] not in (_WAITING, _NOT_WAITING):
        raise InvalidInput("invalid cursor")
    return values[0], _datetime(values[1]), _uuid(values[2])


def _shape_and_params(
    workspace_id: uuid.UUID, f: ConversationFilter, me: uuid.UUID, cursor: str | None
) -> tuple[_Shape, dict[str, Any]]:
    """Validate the view and split it into the statement's shape and its bound values."""
    if f.status != "all" and f.status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)} or all")
    if f.sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}")
    params: dict[str, Any] = {"ws": workspace_id}
    assignee: str | None = None
    if f.assignee in ("unassigned", "assigned"):
        assignee = f.assignee
    elif f.assignee:
        assignee = "user"
        params["assignee"] = me if f.assignee == "me" else _uuid_param(f.assignee, "assignee")
    for name in ("inbox_id", "team_id", "label_id", "contact_id"):
        if getattr(f, name):
            params[name] = getattr(f, name)
    after = _after(cursor, f.sort)
    if after is not None:
        params["after_at"], params["after_id"] = after[1], after[2]
    shape = _Shape(
        sort=f.sort,
        status=f.status,
        assignee=assignee,
        inbox=f.inbox_id is not None,
        team=f.team_id is not None,
        label=f.label_id is not None,
        contact=f.contact_id is not None,
        after=None if after is None else after[0],
    )
    return shape, params


def _conditions(shape: _Shape) -> list[Any]:
    """The view's filters (all but status, which each walk adds), on bound parameters."""
    conds: list[Any] = [Conversation.workspace_id == sa.bindparam("ws")]
    if shape.assignee == "user":
        conds.append(Conversation.assignee_id == sa.bindparam("assignee"))
    elif shape.assignee == "unassigned":
        conds.append(Conversation.assignee_id.is_(None))
    elif shape.assignee == "assigned":
        conds.append(Conversation.assignee_id.is_not(None))
    if shape.inbox:
        conds.append(Conversation.inbox_id == sa.bindparam("inbox_id"))
    if shape.team:
        conds.append(Conversation.team_id == sa.bindparam("team_id"))
    if shape.contact:
        conds.append(Conversation.contact_id == sa.bindparam("contact_id"))
    if shape.label:
        conds.append(
            sa.exists().where(
                ConversationLabel.conversation_id == Conversation.id,
                ConversationLabel.label_id == sa.bindparam("label_id"),
            )
        )
    return conds


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


def _sort_columns(sort: str) -> list[str]:
    """The columns a page is ordered by (besides id), carried by every walk so the union can be cut."""
    if sort == "waiting":
        return ["waiting_since", "last_activity_at"]
    return ["last_activity_at" if sort == "last_activity" else "created_at"]


def _order(sort: str, cols: Any) -> list[Any]:
    """The page order over `cols` (the Conversation entity or a subquery's columns)."""
    if sort == "waiting":
        waiting = cols.waiting_since
        return [
            waiting.is_(None),
            waiting.asc(),
            sa.case((waiting.is_not(None), cols.id)).asc(),
            cols.last_activity_at.desc(),
            cols.id.desc(),
        ]
    column = cols.last_activity_at if sort == "last_activity" else cols.created_at
    return [column.desc(), cols.id.desc()]


def _walk(conds: list[Any], column: Any, *, ascending: bool, after: bool, carry: list[str]) -> Any:
    """One index walk: `conds` ordered by (column, id), after the cursor if `after`, at most :n rows of
    the id and the `carry` sort columns."""
    conds = list(conds)
    if after:
        at, last_id = sa.bindparam("after_at"), sa.bindparam("after_id")
        if ascending:
            conds.append(sa.or_(column > at, sa.and_(column == at, Conversation.id > last_id)))
        else:
            conds.append(sa.or_(column < at, sa.and_(column == at, Conversation.id < last_id)))
    order = [column.asc(), Conversation.id.asc()] if ascending else [column.desc(), Conversation.id.desc()]
    columns = [Conversation.id, *(getattr(Conversation, name) for name in carry)]
    # Wrapped so each arm keeps its own ORDER BY/LIMIT inside a UNION ALL (SQLite needs the subquery).
    inner = sa.select(*columns).where(*conds).order_by(*order).limit(sa.bindparam("n")).subquery()
    return sa.select(*inner.c)


def _page_ids(shape: _Shape) -> Any:
    """The page's ids (and sort columns) in page order, at most :n: a UNION ALL of index walks, cut.

    Each walk is an equality prefix of one list index followed by its sort column, so it reads about n
    index entries whatever the workspace's size. `status=all` is the four statuses walked separately
    (an index led by status serves each, whatever the other filters); sort=waiting is the waiting
    conversations oldest wait first (`ix_conversations_waiting`), then the others newest activity first.
    Several walks are merged and cut to n on their sort columns alone, so only the page's rows are
    joined to contacts and messages.
    """
    conds = _conditions(shape)
    carry = _sort_columns(shape.sort)
    # A contact has a handful of conversations: one walk of its own (ix_conversations_contact_id) is
    # cheaper than four status walks filtering on it.
    statuses: tuple[str | None, ...] = (
        (shape.status,) if shape.status != "all" else (None,) if shape.contact else STATUSES
    )

    def status_is(status: str | None) -> list[Any]:
        return [*conds] if status is None else [*conds, Conversation.status == status]

    walks: list[Any] = []
    if shape.sort == "waiting":
        waiting = Conversation.waiting_since
        if shape.after in (None, _WAITING):
            for status in statuses:
                walks.append(
                    _walk(
                        [*status_is(status), waiting.is_not(None)],
                        waiting,
                        ascending=True,
                        after=shape.after == _WAITING,
                        carry=carry,
                    )
                )
        for status in statuses:
            walks.append(
                _walk(
                    [*status_is(status), waiting.is_(None)],
                    Conversation.last_activity_at,
                    ascending=False,
                    after=shape.after == _NOT_WAITING,
                    carry=carry,
                )
            )
    else:
        column = getattr(Conversation, carry[0])
        for status in statuses:
            walks.append(
                _walk(status_is(status), column, ascending=False, after=shape.after == _KEYSET, carry=carry)
            )
    if len(walks) == 1:
        return walks[0]
    merged = sa.union_all(*walks).subquery("walks")
    return sa.select(*merged.c).order_by(*_order(shape.sort, merged.c)).limit(sa.bindparam("n"))


@functools.lru_cache(maxsize=512)
def _page_statement(shape: _Shape) -> Any:
    # Driven from the page's ids (joined, not `IN`): each walk is already scoped to the workspace, and
    # this way SQLite looks the few rows up by primary key even with no ANALYZE statistics, instead of
    # walking the workspace's conversations to test each against the list.
    page = _page_ids(shape).subquery("page")
    return (
        sa.select(Conversation, Contact, Message)
        .select_from(page)
        .join(Conversation, Conversation.id == page.c.id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(Message, Message.id == Conversation.last_message_id)
        .where(Conversation.workspace_id == sa.bindparam("ws"))
        .order_by(*_order(shape.sort, Conversation))
        .limit(sa.bindparam("n"))
    )


def _cursor_for(conv: Conversation, sort: str) -> str:
    if sort == "waiting":
        if conv.waiting_since is not None:
            return encode_cursor([_WAITING, conv.waiting_since.isoformat(), str(conv.id)])
        return encode_cursor([_NOT_WAITING, conv.last_activity_at.isoformat(), str(conv.id)])
    value = conv.last_activity_at if sort == "last_activity" else conv.created_at
    return encode_cursor([value.isoformat(), str(conv.id)])


async def list_conversations(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    me: uuid.UUID,
    f: ConversationFilter,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    shape, params = _shape_and_params(workspace_id, f, me, cursor)
    rows = (await session.execute(_page_statement(shape), {**params, "n": limit + 1})).all()
    more = len(rows) > limit
    rows = rows[:limit]
    labels = await labels_for(session, [r[0].id for r in rows])
    items = [conversation_json(conv, contact, last, labels[conv.id]) for conv, contact, last in rows]
    next_cursor = _cursor_for(rows[-1][0], f.sort) if more and rows else None
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
