"""The inbox list and the thread cost a fixed number of SQL statements whatever the page size.

An N+1 (a query per conversation for its labels, contact, last message or decryption key, a query per
message for its attachments or sender) makes a 50-row page cost ten times a 5-row one and only shows
with real data volumes; counting statements catches it with 60 rows. Statements are counted on the
engines with `before_cursor_execute`, so ORM lazy loads and the storage layer's key look-ups count too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from relaydesk.actions.conversations import assign, set_labels
from relaydesk.actions.incoming import receive_incoming
from relaydesk.actions.library import create_label
from relaydesk.actions.messages import post_message
from relaydesk.channels.envelopes import IncomingMessage, NewAttachment
from relaydesk.models.inboxes import Inbox
from relaydesk.queries.conversations import ConversationFilter, list_conversations
from relaydesk.queries.messages import list_messages

ROWS = 60
# The list is one query for conversations + contact + last message and one for labels (see
# queries/conversations.py); the thread one for the conversation, messages, attachments and senders.
# Anything the storage layer adds must be per page, not per row; this ceiling keeps it small.
MAX_STATEMENTS = 6


@contextmanager
def counting(runtime: Any) -> Iterator[list[str]]:
    """Collect every SQL statement sent on the runtime's engines (BEGIN/COMMIT/PRAGMA/SAVEPOINT excluded)."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if head not in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE"):
            statements.append(statement)

    engines = {id(e): e for e in (runtime.db.read_engine, runtime.db.write_engine)}.values()
    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", record)


async def _statements(runtime: Any, call: Callable[[], Awaitable[int]]) -> tuple[int, int]:
    """(rows returned, statements run) for one call, after a warm-up call (caches, compiled SQL)."""
    await call()
    with counting(runtime) as statements:
        rows = await call()
    return rows, len(statements)


@pytest.fixture
async def busy_workspace(runtime, make_workspace):  # type: ignore[no-untyped-def]
    """ROWS conversations from distinct customers, each labelled twice, half assigned to the agent, and
    one thread of ROWS messages mixing customer messages and agent/admin replies with attachments."""
    ws = await make_workspace()
    async with runtime.db.write() as session:
        inbox = await session.get(Inbox, ws.api_inbox_id)
        assert inbox is not None
        labels = [(await create_label(session, ws.id, f"label-{i}")).id for i in range(3)]
        conversations = []
        for n in range(ROWS):
            msg, _ = await receive_incoming(
                session,
                inbox,
                IncomingMessage(
                    external_contact_id=f"cust-{n}",
                    provider_message_id=f"m-{n}",
                    text=f"Order {n} is late",
                    contact_name=f"Customer {n}",
                    contact_email=f"c{n}@example.com",
                ),
            )
            conversations.append(msg.conversation_id)
            await set_labels(session, ws.id, msg.conversation_id, [labels[n % 3], labels[(n + 1) % 3]])
            if n % 2:
                await assign(session, ws.id, msg.conversation_id, assignee_id=ws.agent.user_id)
        thread = conversations[0]
        for n in range(ROWS):
            if n % 3 == 0:
                await receive_incoming(
                    session,
                    inbox,
                    IncomingMessage(
                        external_contact_id="cust-0", provider_message_id=f"t-{n}", text=f"More {n}"
                    ),
                )
            else:
                await post_message(
                    session,
                    ws.id,
                    thread,
                    text=f"Reply {n}",
                    private=n % 3 == 2,
                    sender_user_id=ws.agent.user_id if n % 2 else ws.admin.user_id,
                    attachments=[NewAttachment(f"f{n}.txt", "text/plain", b"x" * n)],
                )
    return ws, thread, labels


VIEWS = {
    "open": ConversationFilter(),
    "mine": ConversationFilter(assignee="me"),
    "all, waiting first": ConversationFilter(status="all", sort="waiting"),
}


async def _http_statements(
    runtime: Any, client: Any, path: str, params: dict[str, Any], headers: Any
) -> dict[int, tuple[int, int]]:
    """{limit: (rows, statements)} for the API page at limit 5 and 50."""

    def get(limit: int) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            resp = await client.get(path, params={**params, "limit": limit}, headers=headers)
            assert resp.status_code == 200, resp.text
            return len(resp.json()["items"])

        return call

    return {limit: await _statements(runtime, get(limit)) for limit in (5, 50)}


async def test_pages_cost_the_same_statements_whatever_their_size(runtime, client, busy_workspace):
    """One test for the list's views and the thread: seeding the workspace is the expensive part."""
    await _check_conversation_list(runtime, client, busy_workspace)
    await _check_thread(runtime, client, busy_workspace)


async def _check_conversation_list(runtime: Any, client: Any, busy_workspace: Any) -> None:
    ws, _thread, labels = busy_workspace
    views = {**VIEWS, "label": ConversationFilter(label_id=labels[0])}
    for name, f in views.items():

        def page(limit: int, f: ConversationFilter = f) -> Callable[[], Awaitable[int]]:
            async def call() -> int:
                async with runtime.db.read() as session:
                    items, _ = await list_conversations(
                        session, ws.id, ws.agent.user_id, f, cursor=None, limit=limit
                    )
                assert all(item["contact"] and item["last_message"] and item["labels"] for item in items)
                return len(items)

            return call

        small_rows, small = await _statements(runtime, page(5))
        big_rows, big = await _statements(runtime, page(50))
        assert small_rows == 5, name
        assert big_rows >= 25, name  # enough rows that a per-row query could not hide
        assert big == small, f"{name}: {small} statements for 5 rows but {big} for {big_rows}"
        assert small <= MAX_STATEMENTS, name

    # The same through the API: authentication and serialisation add no per-row statement either.
    counts = await _http_statements(
        runtime, client, "/api/v1/conversations", {"status": "all"}, ws.agent.headers
    )
    assert counts[5][0] == 5 and counts[50][0] == 50
    assert counts[5][1] == counts[50][1], counts


async def _check_thread(runtime: Any, client: Any, busy_workspace: Any) -> None:
    ws, thread, _labels = busy_workspace

    def page(limit: int) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            async with runtime.db.read() as session:
                items, _ = await list_messages(session, ws.id, thread, cursor=None, limit=limit)
            assert any(item["attachments"] for item in items)
            assert any(item["sender_name"] for item in items)
            return len(items)

        return call

    small_rows, small = await _statements(runtime, page(5))
    big_rows, big = await _statements(runtime, page(50))
    assert (small_rows, big_rows) == (5, 50)
    assert big == small, f"{small} statements for 5 messages but {big} for 50"
    assert small <= MAX_STATEMENTS

    counts = await _http_statements(
        runtime, client, f"/api/v1/conversations/{thread}/messages", {}, ws.agent.headers
    )
    assert counts[5][0] == 5 and counts[50][0] == 50
    assert counts[5][1] == counts[50][1], counts


def test_counting_sees_a_per_row_query() -> None:
    """The counter itself must notice an N+1, or the tests above could not fail."""
    import sqlalchemy as sa
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")

    class Runtime:
        class db:
            read_engine = write_engine = type("E", (), {"sync_engine": engine})()

    with counting(Runtime) as statements, engine.connect() as conn:
        for i in range(3):
            conn.execute(sa.text("SELECT :i"), {"i": i})
    assert len(statements) == 3
