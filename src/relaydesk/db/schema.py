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
from relaydesk.db.tenancy import APP_ROLE, RLS_TABLES, SETTING

# Functions run after the tables exist (each checks the dialect): row-level security policies and the like.
# The Alembic history runs the same functions, so both paths agree. Every statement is idempotent.


def _app_role(connection: Connection) -> None:
    """The restricted role requests switch to (db/tenancy.py): ordinary DML, but audit rows append-only."""
    if connection.dialect.name != "postgresql":
        return
    # APP_ROLE is a module constant, never input.
    connection.exec_driver_sql(
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$"""  # noqa: S608
    )
    # The connecting role (table owner) must be allowed to SET ROLE to it; superusers already may.
    connection.exec_driver_sql(
        f"""DO $$ BEGIN
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
            END IF;
        END $$"""  # noqa: S608
    )
    connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    connection.exec_driver_sql(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}"
    )
    connection.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    connection.exec_driver_sql(f"REVOKE UPDATE, DELETE ON audit_events FROM {APP_ROLE}")
    # Tables a later migration creates (as the same owner) get the same grants without anyone remembering.
    connection.exec_driver_sql(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )


def _audit_append_only(connection: Connection) -> None:
    """No UPDATE or DELETE on audit rows for anyone short of disabling the trigger (an owner's act, which
    `relaydesk audit verify` would then expose through the hash chain)."""
    if connection.dialect.name != "postgresql":
        return
    connection.exec_driver_sql(
        """CREATE OR REPLACE FUNCTION relaydesk_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP USING ERRCODE = '42501';
        END $$"""
    )
    connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
    connection.exec_driver_sql(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION relaydesk_audit_append_only()"
    )


def _row_level_security(connection: Connection) -> None:
    """Per-workspace policies for the restricted role on the sensitive tables (db/tenancy.py)."""
    if connection.dialect.name != "postgresql":
        return
    same_workspace = f"workspace_id = NULLIF(current_setting('{SETTING}', true), '')::uuid"
    for table in RLS_TABLES:
        connection.exec_driver_sql(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        connection.exec_driver_sql(f'DROP POLICY IF EXISTS workspace_isolation ON "{table}"')
        connection.exec_driver_sql(
            f'CREATE POLICY workspace_isolation ON "{table}" TO {APP_ROLE} '
            f"USING ({same_workspace}) WITH CHECK ({same_workspace})"
        )


EXTRA_DDL: list[Callable[[Connection], None]] = [_app_role, _audit_append_only, _row_level_security]


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
