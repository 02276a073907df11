"""Row-level security covers EVERY tenant table on PostgreSQL, whatever its content.

The tables come from the metadata (`tenant_tables`), so a table added tomorrow is exercised here without
editing this file: tables the seeding did not fill get a synthetic row per workspace from a generic row
factory (foreign keys resolved to rows of the same workspace). For each table, under workspace A's
context, a deliberately unfiltered SELECT sees only A's rows and an INSERT of a B row is refused.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import relaydesk.models  # noqa: F401
from relaydesk.db.base import Base, utcnow
from relaydesk.db.tenancy import tenant, tenant_tables
from relaydesk.jobs.outbox import enqueue
from relaydesk.jobs.registry import JobContext, handler
from relaydesk.models import Job
from tests.privacy.seeding import seed
from tests.realtime.support import LiveServer, connect
from tests.web.helpers import login


@pytest.fixture
def postgresql_only(backend):  # type: ignore[no-untyped-def]
    if backend != "postgresql":
        pytest.skip("row-level security exists on PostgreSQL only (SQLite relies on the application filters)")


def _value_for(column: sa.Column[Any]) -> Any:
    """A value of the column's type for a synthetic row (random where it may be unique)."""
    col_type: Any = column.type
    if isinstance(col_type, sa.TypeDecorator):
        col_type = col_type.impl_instance
    python_type: Any
    try:
        python_type = col_type.python_type
    except NotImplementedError:
        python_type = str
    if python_type is uuid.UUID:
        return uuid.uuid4()
    if python_type is bool:
        return False
    if python_type is int:
        return 1
    if python_type is float:
        return 0.0
    if python_type is dt.datetime:
        return utcnow()
    if python_type is bytes:
        return b"x"
    if python_type in (dict, list):
        return {}
    length = getattr(column.type, "length", None) or 32
    return uuid.uuid4().hex[: min(length, 32)]


async def _synthesise(conn: sa.ext.asyncio.AsyncConnection, table: sa.Table, ws: uuid.UUID) -> None:
    """Insert one row of `table` for workspace `ws`, pointing its foreign keys at rows of `ws`."""
    values: dict[str, Any] = {"workspace_id": ws}
    for column in table.c:
        if column.name in values:
            continue
        fks = list(column.foreign_keys)
        if fks:
            target = fks[0].column
            if target.table.name == "workspaces":
                values[column.name] = ws
                continue
            if column.nullable:
                continue
            stmt = sa.select(target).limit(1)
            if "workspace_id" in target.table.c:
                stmt = stmt.where(target.table.c.workspace_id == ws)
            found = (await conn.execute(stmt)).scalar()
            assert found is not None, f"{table.name}.{column.name}: no {target.table.name} row to point at"
            values[column.name] = found
        elif not column.nullable and column.default is None and column.server_default is None:
            values[column.name] = _value_for(column)
        elif column.primary_key and column.default is None:
            values[column.name] = _value_for(column)
    await conn.execute(table.insert().values(**values))


async def _fill_every_tenant_table(runtime, workspaces: list[uuid.UUID]) -> None:  # type: ignore[no-untyped-def]
    async with runtime.db.write_engine.begin() as conn:
        for table in Base.metadata.sorted_tables:  # dependency order: referenced tables first
            if "workspace_id" not in table.c:
                continue
            for ws in workspaces:
                count = (
                    await conn.execute(
                        sa.select(sa.func.count()).select_from(table).where(table.c.workspace_id == ws)
                    )
                ).scalar_one()
                if count == 0:
                    await _synthesise(conn, table, ws)


async def test_every_tenant_table_hides_and_refuses_other_workspaces(
    postgresql_only, client, runtime, make_workspace, run_jobs
):
    a = await make_workspace("Alpha")
    b = await make_workspace("Beta")
    await seed(client, a, run_jobs)
    await seed(client, b, run_jobs)
    await _fill_every_tenant_table(runtime, [a.id, b.id])
    async with runtime.db.write() as session:  # a platform job: no workspace at all
        session.add(Job(kind="platform.sweep", payload={}))

    tables = [Base.metadata.tables[name] for name in tenant_tables(Base.metadata)]
    assert len(tables) >= 30
    b_rows: dict[str, dict[str, Any]] = {}
    async with runtime.db.read() as session:  # system work sees every workspace
        for table in tables:
            seen = set((await session.execute(sa.select(table.c.workspace_id).distinct())).scalars())
            assert {a.id, b.id} <= seen, table.name
            row = (
                await session.execute(sa.select(table).where(table.c.workspace_id == b.id).limit(1))
            ).first()
            assert row is not None
            b_rows[table.name] = dict(row._mapping)

    for table in tables:
        with tenant(a.id):
            async with runtime.db.read() as session:
                # The mistake the policies are there to catch: no workspace filter at all.
                seen = set((await session.execute(sa.select(table.c.workspace_id).distinct())).scalars())
            assert seen == {a.id}, f"{table.name}: a query without filter saw {seen}"
            copy = dict(b_rows[table.name])
            if "id" in table.c and isinstance(copy.get("id"), uuid.UUID):
                copy["id"] = uuid.uuid4()
            # Refused by the policy's WITH CHECK, or earlier for want of the privilege (audit checkpoints
            # are written by system work only).
            with pytest.raises(DBAPIError, match=r"row-level security|permission denied"):
                async with runtime.db.write() as session:
                    await session.execute(table.insert().values(**copy))

    # Platform jobs (no workspace) are reachable by system work only.
    with tenant(a.id):
        async with runtime.db.read() as session:
            kinds = set((await session.execute(sa.select(Job.kind))).scalars())
        assert "platform.sweep" not in kinds
        with pytest.raises(DBAPIError, match="row-level security"):
            async with runtime.db.write() as session:
                session.add(Job(kind="platform.sweep", payload={}))
                await session.flush()


async def test_every_tenant_table_has_its_policy_after_the_migrations(postgresql_only):
    """The Alembic path (not only create_schema) leaves a policy on every tenant table."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from relaydesk.db.migrate import upgrade
    from tests.core.test_migrations import _fresh_url

    url, (admin, name) = await _fresh_url("postgresql")  # type: ignore[misc]
    try:
        await upgrade(url)
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text(
                        "SELECT c.relname, c.relrowsecurity, p.polname FROM pg_class c "
                        "LEFT JOIN pg_policy p ON p.polrelid = c.oid WHERE c.relname = ANY(:names)"
                    ),
                    {"names": tenant_tables(Base.metadata)},
                )
            ).all()
        await engine.dispose()
        found = {relname: (enabled, policy) for relname, enabled, policy in rows}
        assert found == {t: (True, "workspace_isolation") for t in tenant_tables(Base.metadata)}
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


class _Statements:
    """Capture the SQL the engine runs (to see the transaction-local tenant settings)."""

    def __init__(self, runtime) -> None:  # type: ignore[no-untyped-def]
        self.engine = runtime.db.write_engine.sync_engine
        self.seen: list[tuple[str, Any]] = []

    def _capture(self, _conn, _cursor, statement, parameters, *_args) -> None:  # type: ignore[no-untyped-def]
        self.seen.append((statement, parameters))

    def __enter__(self) -> _Statements:
        sa.event.listen(self.engine, "before_cursor_execute", self._capture)
        return self

    def __exit__(self, *_exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._capture)

    def scoped_to(self) -> set[str]:
        """Workspace ids the captured transactions were scoped to."""
        out = set()
        for statement, parameters in self.seen:
            if "set_config('role'" in statement:
                values = parameters if isinstance(parameters, tuple | list) else tuple(parameters.values())
                out.update(str(v) for v in values if _is_uuid(v))
        return out


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


async def test_web_pages_run_under_their_workspace(
    postgresql_only, client, runtime, make_workspace, run_jobs
):
    a = await make_workspace("Alpha")
    await seed(client, a, run_jobs)
    resp = await login(client, a.agent.email, a.agent.password)
    assert resp.status_code in (302, 303), resp.text
    with _Statements(runtime) as captured:
        page = await client.get("/inbox")
    assert page.status_code == 200
    assert str(a.id) in captured.scoped_to()
    # The scope ended with the request: test code (same task as the in-process client) is system work again.
    with _Statements(runtime) as after:
        async with runtime.db.read() as session:
            await session.execute(sa.select(1))
    assert after.scoped_to() == set()


async def test_the_realtime_socket_runs_under_its_workspace(postgresql_only, runtime, make_workspace):
    a = await make_workspace("Alpha")
    live = await LiveServer(runtime).start()
    try:
        with _Statements(runtime) as captured:
            socket = await connect(f"{live.ws_url}?after=0", headers=a.agent.headers)
            await socket.close()
        assert str(a.id) in captured.scoped_to()
    finally:
        await live.stop()


# A handler that forgets its workspace filter on purpose, registered once for this module.
_SEEN_BY_JOB: dict[str, set[str]] = {}
_UNFILTERED_KIND = "tests.unfiltered_read"


@handler(_UNFILTERED_KIND)
async def _unfiltered_read(ctx: JobContext) -> None:
    from relaydesk.models import Conversation

    async with ctx.services.db.read() as session:
        seen = (await session.execute(sa.select(Conversation.workspace_id).distinct())).scalars()
        _SEEN_BY_JOB[ctx.payload["tag"]] = {str(ws) for ws in seen}


async def test_job_handlers_run_under_their_jobs_workspace(
    postgresql_only, client, runtime, make_workspace, run_jobs
):
    a, b = await make_workspace("Alpha"), await make_workspace("Beta")
    await seed(client, a, run_jobs)
    await seed(client, b, run_jobs)
    async with runtime.db.write() as session:
        await enqueue(session, _UNFILTERED_KIND, {"tag": "alpha"}, workspace_id=a.id)
        await enqueue(session, _UNFILTERED_KIND, {"tag": "platform"}, workspace_id=None)
    _SEEN_BY_JOB.clear()
    await run_jobs()
    # The workspace's job sees its own rows only, although its query has no workspace filter.
    assert _SEEN_BY_JOB["alpha"] == {str(a.id)}
    # A job of no workspace (periodic housekeeping) is system work and spans workspaces by design.
    assert {str(a.id), str(b.id)} <= _SEEN_BY_JOB["platform"]
