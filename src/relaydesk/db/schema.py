"""Build the schema straight from the models, plus the database-specific extras the models cannot say.

Tests use this for speed; `relaydesk migrate` uses Alembic. tests/test_migrations.py checks that the
migration history and this function produce the same schema.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import relaydesk.models  # noqa: F401  (registers every table)
from relaydesk.db.base import Base
from relaydesk.db.tenancy import (
    APP_ROLE,
    MEMBER_WORKSPACES_FN,
    POLICY,
    USER_SETTING,
    policy_for,
    tenant_tables,
)

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


PURGE_SETTING = "relaydesk.audit_purge"


def _audit_append_only(connection: Connection) -> None:
    """No UPDATE or DELETE on audit rows or checkpoints, with one narrow exception: the retention purge.

    A DELETE of an audit row passes only when (1) the transaction has set `relaydesk.audit_purge` to the
    row's workspace (only `privacy.audit.purge_before` does, with `set_config(..., true)`) and (2) a
    checkpoint of that workspace already covers the row's seq. So a stray or injected DELETE is refused,
    and every removal the trigger allows is accounted for by a checkpoint that `relaydesk audit verify`
    checks (its MAC needs the master key, which the database does not hold). The request role has no
    DELETE privilege at all. The setting is not a secret: it guards against mistakes and ties deletions
    to checkpoints; an owner able to disable the trigger could always rewrite rows, which the chain and
    exported checkpoints then expose (docs/encryption.md §6 explains the choice over SECURITY DEFINER)."""
    if connection.dialect.name != "postgresql":
        return
    connection.exec_driver_sql(
        f"""CREATE OR REPLACE FUNCTION relaydesk_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_events'
               AND current_setting('{PURGE_SETTING}', true) = OLD.workspace_id::text
               AND EXISTS (SELECT 1 FROM audit_checkpoints c
                           WHERE c.workspace_id = OLD.workspace_id AND c.seq >= OLD.seq) THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = '42501';
        END $$"""  # noqa: S608 (PURGE_SETTING is a module constant)
    )
    existing = set(sa.inspect(connection).get_table_names())
    for table in ("audit_events", "audit_checkpoints"):
        if table not in existing:
            continue
        connection.exec_driver_sql(f'DROP TRIGGER IF EXISTS {table}_append_only ON "{table}"')
        connection.exec_driver_sql(
            f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION relaydesk_audit_append_only()"
        )
    if "audit_checkpoints" in existing:
        # Requests never write checkpoints: only the purge (system work, owner role) does.
        connection.exec_driver_sql(f"REVOKE INSERT, UPDATE, DELETE ON audit_checkpoints FROM {APP_ROLE}")


def _row_level_security(connection: Connection) -> None:
    """A policy for the restricted role on every tenant table that exists now (db/tenancy.py).

    Derived from the metadata, so a new table with a `workspace_id` is covered without a list to keep.
    Only tables already created are touched: this runs after every Alembic upgrade that applied a
    revision (migrations/env.py), and the first revisions run it before later tables exist."""
    if connection.dialect.name != "postgresql":
        return
    existing = set(sa.inspect(connection).get_table_names())
    if "memberships" in existing:
        connection.exec_driver_sql(
            f"""CREATE OR REPLACE FUNCTION {MEMBER_WORKSPACES_FN}() RETURNS SETOF uuid
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
                SELECT workspace_id FROM memberships
                WHERE user_id = NULLIF(current_setting('{USER_SETTING}', true), '')::uuid AND is_active
            $$"""  # noqa: S608 (module constants, not input)
        )
        connection.exec_driver_sql(f"REVOKE ALL ON FUNCTION {MEMBER_WORKSPACES_FN}() FROM PUBLIC")
        connection.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION {MEMBER_WORKSPACES_FN}() TO {APP_ROLE}")
    for table in tenant_tables(Base.metadata):
        if table not in existing:
            continue
        using, check = policy_for(table)
        connection.exec_driver_sql(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        connection.exec_driver_sql(f'DROP POLICY IF EXISTS {POLICY} ON "{table}"')
        connection.exec_driver_sql(
            f'CREATE POLICY {POLICY} ON "{table}" TO {APP_ROLE} USING ({using}) WITH CHECK ({check})'
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
