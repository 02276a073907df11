"""The Alembic history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from relaydesk.db.base import Base
from relaydesk.db.migrate import upgrade
from relaydesk.models.workspaces import Workspace


async def _fresh_url(backend: str) -> tuple[str, object]:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'migrated.db'}", None
    name = f"relaydesk_mig_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", (admin, name)


async def test_migrations_match_models(backend):
    url, cleanup = await _fresh_url(backend)
    try:
        await upgrade(url)
        await upgrade(url)  # running it again is a no-op
        engine = create_async_engine(url)
        async with engine.connect() as conn:

            def diff(sync_conn):  # type: ignore[no-untyped-def]
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return compare_metadata(ctx, Base.metadata)

            differences = await conn.run_sync(diff)
        await engine.dispose()
        assert differences == []
    finally:
        if cleanup is not None:
            admin, name = cleanup
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.dispose()


async def test_0012_removes_the_retired_private_targets_setting(backend):
    """The workspace switch is gone; a stored value must not linger where a reader could trust it."""
    url, cleanup = await _fresh_url(backend)
    table = Workspace.__table__
    try:
        await upgrade(url, "0011")
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(
                table.insert(),
                [
                    {"name": "A", "slug": "a", "settings": {"allow_private_webhook_targets": True, "x": 1}},
                    {"name": "B", "slug": "b", "settings": {}},
                ],
            )
        await upgrade(url)
        async with engine.connect() as conn:
            rows = dict((await conn.execute(sa.select(table.c.slug, table.c.settings))).all())
        await engine.dispose()
        assert rows == {"a": {"x": 1}, "b": {}}
    finally:
        if cleanup is not None:
            admin, name = cleanup
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.dispose()


async def test_0016_links_existing_api_messages_to_their_raw_events(backend):
    """Erasure now finds raw events through `messages.inbound_event_id`; rows stored before it existed are
    linked by the API channel's key format, the only one stored until then."""
    from relaydesk.models import Contact, Conversation, InboundEvent, Inbox, Message

    url, cleanup = await _fresh_url(backend)
    ids = {k: uuid.uuid4() for k in ("ws", "inbox", "contact", "conv", "m1", "m2", "e1", "e2")}
    try:
        await upgrade(url, "0015")
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(Workspace.__table__.insert(), [{"id": ids["ws"], "name": "A", "slug": "a"}])
            await conn.execute(
                Inbox.__table__.insert(),
                [
                    {
                        "id": ids["inbox"],
                        "workspace_id": ids["ws"],
                        "name": "API",
                        "channel_type": "api",
                        "public_id": "p",
                    }
                ],
            )
            await conn.execute(
                Contact.__table__.insert(), [{"id": ids["contact"], "workspace_id": ids["ws"]}]
            )
            await conn.execute(
                Conversation.__table__.insert(),
                [
                    {
                        "id": ids["conv"],
                        "workspace_id": ids["ws"],
                        "inbox_id": ids["inbox"],
                        "contact_id": ids["contact"],
                        "display_number": 1,
                    }
                ],
            )
            base = {"workspace_id": ids["ws"], "inbox_id": ids["inbox"], "conversation_id": ids["conv"]}
            await conn.execute(
                Message.__table__.insert(),
                [
                    {
                        **base,
                        "id": ids["m1"],
                        "message_type": "incoming",
                        "sender_kind": "customer",
                        "provider_message_id": "crm-1",
                    },
                    {
                        **base,
                        "id": ids["m2"],
                        "message_type": "outgoing",
                        "sender_kind": "agent",
                        "provider_message_id": "crm-2",
                    },
                ],
            )
            await conn.execute(
                InboundEvent.__table__.insert(),
                [
                    {
                        "id": ids["e1"],
                        "workspace_id": ids["ws"],
                        "inbox_id": ids["inbox"],
                        "channel_type": "api",
                        "dedupe_key": "message:crm-1",
                    },
                    {
                        "id": ids["e2"],
                        "workspace_id": ids["ws"],
                        "inbox_id": ids["inbox"],
                        "channel_type": "api",
                        "dedupe_key": "message:crm-2",
                    },
                ],
            )
        await upgrade(url)
        table = Message.__table__
        async with engine.connect() as conn:
            rows = dict((await conn.execute(sa.select(table.c.id, table.c.inbound_event_id))).all())
        await engine.dispose()
        assert rows == {ids["m1"]: ids["e1"], ids["m2"]: None}
    finally:
        if cleanup is not None:
            admin, name = cleanup
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.dispose()
