"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL when RELAYDESK_TEST_DATABASE_URL
points at a server), a Runtime, an HTTP test client, and factories for workspaces with members and tokens.

Each test starts from empty tables (truncated), so tests are independent and order does not matter.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from relaydesk.config import Settings, load_settings
from relaydesk.db.base import Base
from relaydesk.db.schema import create_schema
from relaydesk.jobs.dispatcher import Dispatcher
from relaydesk.runtime import Runtime, build_runtime
from relaydesk.server.keys import generate_master_key

PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def _pg_url() -> str | None:
    return os.environ.get("RELAYDESK_TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def backend() -> str:
    return "postgresql" if _pg_url() else "sqlite"


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh database for this test session.

    The schema comes from the models (`create_schema`); tests/test_migrations.py proves the Alembic history
    builds the very same schema, so both paths stay honest.
    """
    base = _pg_url()
    if base is None:
        tmp = Path(tempfile.mkdtemp(prefix="relaydesk-test-"))
        url = f"sqlite+aiosqlite:///{tmp / 'test.db'}"
        await create_schema(url)
        yield url
        return
    name = f"relaydesk_test_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(base.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    await create_schema(url)
    try:
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Real argon2id with small parameters for the suite: tests create hundreds of users, and production
    parameters cost ~0.1-0.5 s per hash on these machines. tests/auth/test_password_hashing.py checks the
    production parameters themselves."""
    from argon2 import PasswordHasher

    from relaydesk.auth import passwords

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        yield


@pytest.fixture(scope="session", autouse=True)
def every_event_matches_the_catalogue() -> Iterator[None]:
    """Every event emitted anywhere in the suite is validated against its schema in
    realtime/catalogue.py: an action that emits an unknown type or a payload that drifted fails its test."""
    from relaydesk.realtime import events

    events.check_payloads(True)
    yield
    events.check_payloads(False)


@pytest.fixture(scope="session")
def master_key() -> str:
    return generate_master_key()


@pytest.fixture(scope="session")
def settings(database_url: str, master_key: str) -> Settings:
    return load_settings(
        environ={},
        database_url=database_url,
        master_key=master_key,
        inprocess_worker=False,
        job_backoff_base=0.01,
        job_backoff_max=0.05,
        job_max_attempts=3,
        job_lease_seconds=5.0,
    )


@pytest.fixture(scope="session")
async def session_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings)
    await runtime.start(with_dispatcher=False)
    runtime.dispatcher = Dispatcher(runtime.services, concurrency=4)
    yield runtime
    await runtime.stop()


async def truncate_all(runtime: Runtime) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with runtime.db.write_engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
        else:
            for table in tables:
                await conn.exec_driver_sql(f'DELETE FROM "{table}"')


@pytest.fixture
async def runtime(session_runtime: Runtime) -> AsyncIterator[Runtime]:
    await truncate_all(session_runtime)
    yield session_runtime


@pytest.fixture
async def run_jobs(runtime: Runtime):  # type: ignore[no-untyped-def]
    """Run every ready job now (tests drive the dispatcher explicitly instead of a background loop)."""

    async def _run(timeout: float = 20.0) -> int:
        assert runtime.dispatcher is not None
        return await runtime.dispatcher.run_until_idle(timeout=timeout)

    return _run


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in this event loop (the database connections live in it)."""
    from relaydesk.server.app import create_app

    app = create_app(runtime=runtime, manage_runtime=False)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as test_client:
        yield test_client


@dataclass
class Member:
    user_id: uuid.UUID
    email: str
    password: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class WorkspaceFixture:
    id: uuid.UUID
    slug: str
    owner: Member
    admin: Member
    agent: Member
    api_inbox_id: uuid.UUID
    api_inbox_public_id: str
    inbound_secret: str
    outbound_secret: str


PASSWORD = "correct horse battery staple"


@pytest.fixture
async def make_workspace(runtime: Runtime):  # type: ignore[no-untyped-def]
    from relaydesk.actions.inboxes import create_inbox
    from relaydesk.actions.people import issue_api_token
    from relaydesk.actions.workspaces import add_member, create_user, create_workspace
    from relaydesk.privacy import storage

    async def _make(
        name: str = "Acme",
        *,
        webhook_url: str | None = None,
        allow_private: bool = True,
        audit_setup: bool = True,
    ) -> WorkspaceFixture:
        """`audit_setup=False` drops the audit rows the set-up itself wrote (workspace, members, tokens,
        inbox), for tests about the chain's own arithmetic that count rows from an empty chain."""
        slug = f"{name.lower()}-{uuid.uuid4().hex[:6]}"
        async with runtime.db.write() as session:
            ws = await create_workspace(session, name, slug)
            ws.settings = {"allow_private_webhook_targets": allow_private}
            members: dict[str, Member] = {}
            for role in ("owner", "admin", "agent"):
                email = f"{role}-{slug}@example.com"
                user = await create_user(session, email, f"{role.title()} of {name}", PASSWORD)
                await add_member(session, ws.id, user.id, role)
                _, raw = await issue_api_token(session, ws.id, user.id, "tests")
                members[role] = Member(user.id, email, PASSWORD, role, raw)
            inbox = await create_inbox(
                session,
                ws.id,
                name="API",
                channel_type="api",
                settings={"webhook_url": webhook_url} if webhook_url else {},
            )
            creds = storage.read_inbox_credentials(inbox)
        if not audit_setup:
            from relaydesk.models.audit import AuditEvent

            async with runtime.db.write() as session:
                if runtime.db.dialect == "postgresql":  # past the append-only trigger, as a DBA could
                    await session.execute(sa.text("SET LOCAL session_replication_role = replica"))
                await session.execute(sa.delete(AuditEvent).where(AuditEvent.workspace_id == ws.id))
        return WorkspaceFixture(
            id=ws.id,
            slug=slug,
            owner=members["owner"],
            admin=members["admin"],
            agent=members["agent"],
            api_inbox_id=inbox.id,
            api_inbox_public_id=inbox.public_id,
            inbound_secret=creds["inbound_secret"],
            outbound_secret=creds["outbound_secret"],
        )

    return _make


async def count_rows(runtime: Runtime, model: Any, **where: Any) -> int:
    async with runtime.db.read() as session:
        stmt = sa.select(sa.func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return (await session.execute(stmt)).scalar_one()
