"""Alembic environment: one migration history for SQLite and PostgreSQL (batch mode for SQLite ALTERs)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

import relaydesk.models  # noqa: F401  (registers every table)
from relaydesk.db.base import Base
from relaydesk.db.schema import apply_extra_ddl

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        before = context.get_context().get_current_heads()
        context.run_migrations()
        if context.get_context().get_current_heads() != before:
            # A revision may have created a tenant table: give it its row-level security policy without
            # every revision having to remember (db/schema.py; idempotent, touches existing tables only).
            apply_extra_ddl(connection)


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    asyncio.run(_run_async(config.get_main_option("sqlalchemy.url")))


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
