"""Every table that holds workspace data carries `workspace_id` (and on PostgreSQL every such table has a
row-level security policy). A new table fails here until it is scoped or allow-listed with a reason."""

from __future__ import annotations

import sqlalchemy as sa

import relaydesk.models  # noqa: F401  (registers every table)
from relaydesk.db.base import Base
from relaydesk.db.tenancy import GLOBAL_TABLES, POLICIES, tenant_tables

# Tables whose workspace_id is nullable on purpose, with the reason.
NULLABLE_SCOPE = {
    "jobs": "platform jobs (periodic housekeeping) belong to no workspace",
    "user_sessions": "a session exists before a workspace is chosen",
}


def _referenced_tenant_tables(table: sa.Table) -> set[str]:
    return {fk.column.table.name for fk in table.foreign_keys}


def test_every_table_with_workspace_data_has_a_workspace_id():
    missing, nullable = [], []
    for table in Base.metadata.sorted_tables:
        if table.name in GLOBAL_TABLES:
            continue
        column = table.c.get("workspace_id")
        if column is None:
            missing.append(table.name)
        elif column.nullable and table.name not in NULLABLE_SCOPE:
            nullable.append(table.name)
    assert missing == [], f"tables without workspace_id (add it, or allow-list with a reason): {missing}"
    assert nullable == [], f"tables with a nullable workspace_id: {nullable}"


def test_the_allow_list_names_only_real_global_tables():
    tables = {t.name for t in Base.metadata.sorted_tables}
    for name in GLOBAL_TABLES:
        if name == "alembic_version":
            continue
        assert name in tables, f"{name} is allow-listed but no longer exists"
        assert "workspace_id" not in Base.metadata.tables[name].c, (
            f"{name} is scoped now: drop it from the list"
        )


def test_a_table_pointing_at_tenant_rows_is_itself_scoped():
    scoped = {t.name for t in Base.metadata.sorted_tables if "workspace_id" in t.c}
    offenders = [
        t.name
        for t in Base.metadata.sorted_tables
        if t.name not in scoped and t.name not in GLOBAL_TABLES and _referenced_tenant_tables(t) & scoped
    ]
    assert offenders == []


def test_row_level_security_covers_every_tenant_table():
    scoped = {t.name for t in Base.metadata.sorted_tables if "workspace_id" in t.c}
    assert set(tenant_tables(Base.metadata)) == scoped
    assert {"contacts", "messages", "attachments", "contact_keys", "search_tokens", "jobs"} <= scoped
    assert set(POLICIES) <= scoped, "a special policy names a table that is not a tenant table"
    assert all(reason for *_rule, reason in POLICIES.values())
    assert all(reason for reason in GLOBAL_TABLES.values())


async def test_every_tenant_table_has_its_policy_on_postgresql(runtime, backend):
    if backend != "postgresql":
        return  # SQLite has no row-level security: the application filters are the only line there
    names = tenant_tables(Base.metadata)
    async with runtime.db.read() as session:
        rows = (
            await session.execute(
                sa.text(
                    "SELECT c.relname, c.relrowsecurity, p.polname FROM pg_class c "
                    "LEFT JOIN pg_policy p ON p.polrelid = c.oid WHERE c.relname = ANY(:names)"
                ),
                {"names": names},
            )
        ).all()
    found = {name: (enabled, policy) for name, enabled, policy in rows}
    assert {name: found.get(name) for name in names} == {
        name: (True, "workspace_isolation") for name in names
    }
