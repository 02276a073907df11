"""PostgreSQL row-level security: a query that forgets its workspace filter still sees only its own
workspace when run for a request, while system work (no workspace in context) sees everything."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from relaydesk.actions.contacts import create_contact
from relaydesk.db.tenancy import tenant
from relaydesk.models import Contact, ContactKey, Conversation, Message, SearchToken
from tests.privacy.seeding import seed


@pytest.fixture
def postgresql_only(backend):  # type: ignore[no-untyped-def]
    if backend != "postgresql":
        pytest.skip("row-level security exists on PostgreSQL only (SQLite relies on the application filters)")


async def _count(session, model):  # type: ignore[no-untyped-def]
    return (await session.execute(sa.select(sa.func.count()).select_from(model))).scalar_one()


async def test_a_query_without_workspace_filter_sees_only_its_workspace(
    postgresql_only, client, runtime, make_workspace, run_jobs
):
    a = await make_workspace("Alpha")
    b = await make_workspace("Beta")
    await seed(client, a, run_jobs)
    await seed(client, b, run_jobs)
    async with runtime.db.read() as session:  # system context: everything
        everything = {
            m: await _count(session, m) for m in (Contact, Conversation, Message, ContactKey, SearchToken)
        }
    assert all(v > 0 for v in everything.values())
    with tenant(a.id):
        async with runtime.db.read() as session:
            # Deliberately unfiltered queries, the mistake the policies are there to catch.
            rows = (await session.execute(sa.select(Message.workspace_id))).scalars().all()
            assert rows and set(rows) == {a.id}
            for model in (Contact, Conversation, ContactKey, SearchToken):
                ws_ids = set((await session.execute(sa.select(model.workspace_id))).scalars())
                assert ws_ids == {a.id}, model.__tablename__
            assert await _count(session, Message) < everything[Message]
        # Writing into the other workspace is refused by the policy's WITH CHECK.
        with pytest.raises(DBAPIError, match="row-level security"):
            async with runtime.db.write() as session:
                session.add(Contact(workspace_id=b.id))
                await session.flush()
        # Updating the other workspace's rows silently touches nothing.
        async with runtime.db.write() as session:
            result = await session.execute(
                sa.update(Message).where(Message.workspace_id == b.id).values(status="read")
            )
            assert result.rowcount == 0
    # The normal path in the same workspace still works under the policies.
    with tenant(a.id):
        async with runtime.db.write() as session:
            contact = await create_contact(session, a.id, name="Inside Alpha")
        assert contact.workspace_id == a.id


async def test_api_requests_run_under_the_policies(
    postgresql_only, client, runtime, make_workspace, run_jobs
):
    a = await make_workspace("Alpha")
    await seed(client, a, run_jobs)
    async with runtime.db.read() as session:
        seen: list[str] = []

        def capture(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
            seen.append(statement)

        engine = runtime.db.write_engine.sync_engine
        sa.event.listen(engine, "before_cursor_execute", capture)
        try:
            resp = await client.get("/api/v1/conversations", headers=a.agent.headers)
        finally:
            sa.event.remove(engine, "before_cursor_execute", capture)
        assert resp.status_code == 200 and resp.json()["items"]
        assert any("set_config('role'" in s for s in seen)
        assert (await _count(session, Message)) > 0
