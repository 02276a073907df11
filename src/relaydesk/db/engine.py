"""Engines and sessions for SQLite (embedded) and PostgreSQL (scale-out).

SQLite allows one writer at a time. Writers use `BEGIN IMMEDIATE` so a transaction that reads first and
writes later cannot fail with SQLITE_BUSY half-way; in one process they also share a single pooled
connection, so they queue in asyncio instead of spinning on the busy timeout. Readers use their own
deferred connections and never wait for writers (WAL).

After a write commits, `Database.committed` runs: it publishes the realtime events and wakes the job
dispatcher that the transaction recorded in `session.info` (events and jobs are rows in the same
transaction; this is only the fast path).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

AfterCommit = Callable[[AsyncSession], Awaitable[None]]


def _sqlite_pragmas(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """Owns the engines; `write()` and `read()` are the only ways code gets a session."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._after_commit: list[AfterCommit] = []
        if self.is_sqlite:
            self.write_engine = create_async_engine(
                url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=60
            )
            self.read_engine = create_async_engine(url, echo=echo, pool_size=8, max_overflow=8)
            _sqlite_pragmas(self.write_engine, immediate=True)
            _sqlite_pragmas(self.read_engine, immediate=False)
        else:
            self.write_engine = create_async_engine(url, echo=echo, pool_size=10, max_overflow=20)
            self.read_engine = self.write_engine
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def on_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends and then runs the after-commit hooks."""
        async with self._writer() as session:
            async with session.begin():
                yield session
            for hook in self._after_commit:
                await hook(session)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            async with session.begin():
                yield session

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
