"""Run Alembic programmatically (`relaydesk migrate`, the demo and the tests all go through here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(url: str, revision: str = "head") -> list[tuple[str, str]]:
    """Bring the database to `revision`; safe to run at every start. Returns the revisions applied, oldest
    first, as (id, first line of the migration's docstring), so `relaydesk migrate` can say what it did."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql("PRAGMA journal_mode=WAL")

            def _upgrade(sync_conn) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
                cfg = alembic_config(url)
                cfg.attributes["connection"] = sync_conn
                before = MigrationContext.configure(sync_conn).get_current_revision()
                command.upgrade(cfg, revision)
                after = MigrationContext.configure(sync_conn).get_current_revision()
                if after == before:
                    return []
                script = ScriptDirectory.from_config(cfg)
                applied = script.iterate_revisions(after, before)  # newest first
                return [(r.revision, (r.doc or "").strip()) for r in reversed(list(applied))]

            return await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


def upgrade_sync(url: str, revision: str = "head") -> list[tuple[str, str]]:
    return asyncio.run(upgrade(url, revision))
