"""Engines and sessions for SQLite (embedded) and PostgreSQL (scale-out).

SQLite allows one writer at a time. Writers use `BEGIN IMMEDIATE` so a transaction that reads first and
writes later cannot fail with SQLITE_BUSY half-way; in one process they also share a single pooled
connection, so they queue in asyncio instead of spinning on the busy timeout, in two lanes (`WriterGate`): a
provider waiting for its acknowledgement goes before background jobs. That connection runs on the
event loop's thread (`sqlite_inloop.py` says why); readers use their own deferred aiosqlite connections
and never wait for writers (WAL).

After a write commits, `Database.committed` runs: it publishes the realtime events and wakes the job
dispatcher that the transaction recorded in `session.info` (events and jobs are rows in the same
transaction; this is only the fast path).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from relaydesk.db import sqlite_inloop

log = logging.getLogger(__name__)


class WriterGate:
    """SQLite's one write transaction at a time, handed out urgent lane first.

    The pool alone would queue writers first come, first served, so an inbound acknowledgement could wait
    behind several job transactions queued before it; with the gate it waits for the one in flight at
    most. Background work cannot starve: urgent writes are the intake's group commits, which take
    everything queued at once and are short."""

    def __init__(self) -> None:
        self._held = False
        self._lanes: tuple[collections.deque[asyncio.Future[None]], ...] = (
            collections.deque(),
            collections.deque(),
        )

    async def acquire(self, *, urgent: bool) -> None:
        if not self._held and not any(self._lanes):
            self._held = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane = self._lanes[0 if urgent else 1]
        lane.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            else:
                lane.remove(future)
            raise

    def release(self) -> None:
        for lane in self._lanes:
            while lane:
                future = lane.popleft()
                if not future.done():
                    future.set_result(None)  # stays held, by the next writer
                    return
        self._held = False


# Seconds between WAL checkpoints while writes happen (SQLite).
CHECKPOINT_EVERY = 1.0

AfterCommit = Callable[[AsyncSession], Awaitable[None]]


def _sqlite_pragmas(engine: AsyncEngine, *, immediate: bool, inloop: bool | None = None) -> None:
    inloop = immediate if inloop is None else inloop

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if inloop:
            # In-loop connections wait for locks with asyncio sleeps (sqlite_inloop.py), never inside
            # SQLite, and leave WAL checkpoints to `Database._checkpoint` on a reader thread.
            cursor.execute("PRAGMA busy_timeout=0")
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        else:
            cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """Owns the engines; `write()` and `read()` are the only ways code gets a session."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        # Every engine hides statement parameters from its errors: a failed job's stored `last_error` and
        # the logs must never carry the personal data a statement was writing.
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._after_commit: list[AfterCommit] = []
        if self.is_sqlite:
            self.write_engine = create_async_engine(
                url,
                echo=echo,
                hide_parameters=True,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                async_creator=sqlite_inloop.creator(make_url(url).database or ""),
            )
            self.read_engine = create_async_engine(
                url, echo=echo, hide_parameters=True, pool_size=8, max_overflow=8
            )
            # Short reads on the request path (a page of the inbox, a thread) cost less on the loop's
            # own thread than the hand-offs to aiosqlite's; see `read(inline=True)`.
            self.inline_read_engine = create_async_engine(
                url,
                echo=echo,
                hide_parameters=True,
                pool_size=2,
                max_overflow=2,
                async_creator=sqlite_inloop.creator(make_url(url).database or ""),
            )
            _sqlite_pragmas(self.write_engine, immediate=True)
            _sqlite_pragmas(self.read_engine, immediate=False)
            _sqlite_pragmas(self.inline_read_engine, immediate=False, inloop=True)
        else:
            self.write_engine = create_async_engine(
                url, echo=echo, hide_parameters=True, pool_size=10, max_overflow=20
            )
            self.read_engine = self.write_engine
            self.inline_read_engine = self.write_engine
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._checkpointed_at = time.monotonic()
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._gate = WriterGate() if self.is_sqlite else None
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._inline_reader = async_sessionmaker(self.inline_read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def on_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)

    @asynccontextmanager
    async def write(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends and then runs the after-commit hooks.

        `urgent`: on SQLite, go before queued non-urgent writers (for acknowledgements a sender waits on)."""
        if self._gate is None:
            async with self._writer() as session:
                async with session.begin():
                    yield session
                for hook in self._after_commit:
                    await hook(session)
            return
        gate = self._gate
        await gate.acquire(urgent=urgent)
        held = True
        try:
            async with self._writer() as session:
                try:
                    async with session.begin():
                        yield session
                finally:  # committed or rolled back: the connection is back in the pool
                    held = False
                    gate.release()
                for hook in self._after_commit:
                    await hook(session)
        finally:
            if held:
                gate.release()
        self._maybe_checkpoint()

    def _maybe_checkpoint(self) -> None:
        """At most once a second, copy the WAL back into the database file on a reader's thread (the
        in-loop writer has automatic checkpoints off, so its commits never wait for the disk)."""
        now = time.monotonic()
        if now - self._checkpointed_at < CHECKPOINT_EVERY or (
            self._checkpoint_task is not None and not self._checkpoint_task.done()
        ):
            return
        self._checkpointed_at = now
        self._checkpoint_task = asyncio.get_running_loop().create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        try:
            async with self.read_engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                # Fetch and close: an unfinished statement would keep a read snapshot open on this
                # pooled connection, and no later checkpoint could then get past it.
                async with driver.execute("PRAGMA wal_checkpoint(PASSIVE)") as cursor:
                    await cursor.fetchall()
        except Exception:  # a missed checkpoint only lets the WAL grow until the next one
            log.warning("WAL checkpoint failed", exc_info=True)

    @asynccontextmanager
    async def read(self, *, inline: bool = False) -> AsyncIterator[AsyncSession]:
        """A read-only transaction. `inline=True` (SQLite) runs it on the event loop's thread: only for
        reads known to be short and bounded — a page of a list, a thread — where aiosqlite's thread
        hand-offs cost more than the query. Anything that may scan (exports, reports) keeps the default."""
        async with (self._inline_reader if inline else self._reader)() as session:
            async with session.begin():
                yield session

    async def dispose(self) -> None:
        if self._checkpoint_task is not None:
            await asyncio.gather(self._checkpoint_task, return_exceptions=True)
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
            await self.inline_read_engine.dispose()
