"""Build the schema straight from the models, plus the database-specific extras the models cannot say.

Tests use this for speed; `relaydesk migrate` uses Alembic. tests/test_migrations.py checks that the
migration history and this function produce the same schema.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import relaydesk.models  # noqa: F401  (registers every table)
from relaydesk.db.base import Base

# Functions run after the tables exist, with the dialect name: row-level security policies and the like.
# The Alembic history runs the same functions, so both paths agree.
EXTRA_DDL: list[Callable[[Connection], None]] = []


def apply_extra_ddl(connection: Connection) -> None:
    for step in EXTRA_DDL:
        step(connection)


async def create_schema(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(apply_extra_ddl)
    finally:
        await engine.dispose()
