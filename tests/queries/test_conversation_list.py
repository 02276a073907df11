"""The conversation list returns every view in its documented order, page after page.

The list is a UNION ALL of index walks (queries/conversations.py), so a mistake shows as a row missing,
repeated or out of place at a page boundary; each view is paged 3 rows at a time and compared with the
order computed in Python from the rows themselves.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from relaydesk.actions.conversations import assign, change_status, create_conversation, set_labels
from relaydesk.actions.incoming import receive_incoming
from relaydesk.actions.library import create_label
from relaydesk.actions.messages import post_message
from relaydesk.channels.envelopes import IncomingMessage
from relaydesk.db.base import utcnow
from relaydesk.errors import InvalidInput
from relaydesk.models.conversations import Conversation, ConversationLabel
from relaydesk.models.inboxes import Inbox
from relaydesk.queries.conversations import ConversationFilter, list_conversations
from relaydesk.queries.pagination import encode_cursor

COUNT = 24
PAGE = 3


@pytest.fixture
async def mixed(runtime, make_workspace):  # type: ignore[no-untyped-def]
    """COUNT conversations over every status, some waiting, some answered, some assigned and labelled, and
    four more for the first contact (a contact's own list takes another path)."""
    ws = await make_workspace()
    later = utcnow() + dt.timedelta(days=1)
    async with runtime.db.write() as session:
        inbox = await session.get(Inbox, ws.api_inbox_id)
        assert inbox is not None
        label = (await create_label(session, ws.id, "vip")).id
        for n in range(COUNT):
            msg, _ = await receive_incoming(
                session,
                inbox,
                IncomingMessage(external_contact_id=f"c-{n}", provider_message_id=f"m-{n}", text=f"hi {n}"),
            )
            conv_id = msg.conversation_id
            if n == 0:
                first_contact = msg.sender_contact_id
            if n % 4 == 0:  # answered: nobody waits on it any more
                await post_message(session, ws.id, conv_id, text="on it", sender_user_id=ws.agent.user_id)
            if n % 4 == 1:
                await assign(session, ws.id, conv_id, assignee_id=ws.agent.user_id)
            if n % 3 == 2:
                await set_labels(session, ws.id, conv_id, [label])
            status = ("open", "pending", "snoozed", "resolved", "open")[n % 5]
            if status != "open":
                await change_status(
                    session,
                    ws.id,
                    conv_id,
                    status,
                    snoozed_until=later if status == "snoozed" else None,
                )
        for status in ("open", "pending", "resolved", "resolved"):
            conv = await create_conversation(session, ws.id, inbox.id, first_contact)
            if status != "open":
                await change_status(session, ws.id, conv.id, status)
    return ws, label, first_contact


async def _all_pages(runtime: Any, ws: Any, f: ConversationFilter) -> list[uuid.UUID]:
    seen: list[uuid.UUID] = []
    cursor = None
    for _ in range(COUNT + 2):
        async with runtime.db.read() as session:
            items, cursor = await list_conversations(
                session, ws.id, ws.agent.user_id, f, cursor=cursor, limit=PAGE
            )
        assert len(items) <= PAGE
        seen += [uuid.UUID(item["id"]) for item in items]
        if cursor is None:
            return seen
    raise AssertionError("the cursor never ran out")


def _expected(
    rows: list[Conversation], f: ConversationFilter, me: uuid.UUID, labelled: set[Any]
) -> list[Any]:
    keep = [
        c
        for c in rows
        if (f.status == "all" or c.status == f.status)
        and (f.assignee != "me" or c.assignee_id == me)
        and (f.assignee != "unassigned" or c.assignee_id is None)
        and (f.label_id is None or c.id in labelled)
        and (f.contact_id is None or c.contact_id == f.contact_id)
    ]
    if f.sort == "waiting":
        waiting = sorted((c for c in keep if c.waiting_since), key=lambda c: (c.waiting_since, c.id))
        rest = sorted(
            (c for c in keep if not c.waiting_since), key=lambda c: (c.last_activity_at, c.id), reverse=True
        )
        return [c.id for c in waiting + rest]
    key = "last_activity_at" if f.sort == "last_activity" else "created_at"
    return [c.id for c in sorted(keep, key=lambda c: (getattr(c, key), c.id), reverse=True)]


@pytest.mark.parametrize("sort", ["last_activity", "created", "waiting"])
@pytest.mark.parametrize("status", ["open", "pending", "all"])
@pytest.mark.parametrize("assignee", [None, "me", "unassigned", "label", "contact"])
async def test_every_view_pages_in_order(runtime, mixed, sort, status, assignee):  # type: ignore[no-untyped-def]
    ws, label, contact = mixed
    f = ConversationFilter(
        status=status,
        assignee=assignee if assignee in ("me", "unassigned") else None,
        label_id=label if assignee == "label" else None,
        contact_id=contact if assignee == "contact" else None,
        sort=sort,
    )
    async with runtime.db.read() as session:
        rows = list(
            (
                await session.execute(sa.select(Conversation).where(Conversation.workspace_id == ws.id))
            ).scalars()
        )
        labelled = set(
            (
                await session.execute(
                    sa.select(ConversationLabel.conversation_id).where(ConversationLabel.label_id == label)
                )
            ).scalars()
        )
    expected = _expected(rows, f, ws.agent.user_id, labelled)
    assert expected, "the fixture should give every view some rows"
    assert await _all_pages(runtime, ws, f) == expected


async def test_waiting_sort_puts_waiting_conversations_first(runtime, mixed):  # type: ignore[no-untyped-def]
    """The fixture has both kinds in the open view; the page boundary between them must hold."""
    ws, _label, _contact = mixed
    ids = await _all_pages(runtime, ws, ConversationFilter(sort="waiting"))
    async with runtime.db.read() as session:
        waiting = dict(
            (
                await session.execute(
                    sa.select(Conversation.id, Conversation.waiting_since).where(Conversation.id.in_(ids))
                )
            ).all()
        )
    flags = [waiting[i] is not None for i in ids]
    assert True in flags and False in flags
    assert flags == sorted(flags, reverse=True)


@pytest.mark.parametrize(
    "sort,values",
    [
        ("last_activity", ["not a date", str(uuid.uuid4())]),
        ("waiting", ["x", "2025-01-01T00:00:00+00:00", str(uuid.uuid4())]),
        ("waiting", ["w", "2025-01-01T00:00:00+00:00", "not-a-uuid"]),
        ("waiting", ["2025-01-01T00:00:00+00:00", str(uuid.uuid4())]),  # a two-part cursor
    ],
)
async def test_bad_cursors_are_invalid_input(runtime, mixed, sort, values):  # type: ignore[no-untyped-def]
    ws, _label, _contact = mixed
    async with runtime.db.read() as session:
        with pytest.raises(InvalidInput):
            await list_conversations(
                session,
                ws.id,
                ws.agent.user_id,
                ConversationFilter(sort=sort),
                cursor=encode_cursor(values),
                limit=5,
            )
