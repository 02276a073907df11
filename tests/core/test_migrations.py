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
