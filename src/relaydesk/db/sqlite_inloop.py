"""The SQLite writer connection, run on the event loop's own thread instead of aiosqlite's worker thread.

Why: aiosqlite runs every cursor call (open, execute, fetch, close) on a helper thread and hands the result
back through the event loop, so one statement costs four thread hand-offs — 0.1 to 0.5 ms each on a busy
2-core machine, far more than SQLite needs to run the statement. Inbound processing writes ~20 statements
per batch; with the hand-offs the writer spent most of its time switching threads (bench/README.md,
"ingest"). Statements on the writer are short (indexed single-row or batch writes into a WAL database
with `synchronous=NORMAL`, so a commit does not wait for the disk), so running them inline costs the loop
less than handing them off.

What keeps the loop from stalling:
* Lock waits never block: the connection's busy timeout is 0 and a statement refused with "database is
  locked" (another process holds the write lock) is retried after an `asyncio.sleep`, with back-off, for
  up to `busy_timeout` seconds.
* WAL checkpoints (which write and fsync the database file) are not done by the writer's commits
  (`wal_autocheckpoint=0`); `Database` runs them from a reader connection, off the loop.
* Readers keep aiosqlite: long queries (lists, search, exports) run on their threads.

The class implements the part of aiosqlite's connection and cursor API that SQLAlchemy's aiosqlite dialect
calls, as coroutines that finish without suspending (except to wait out a lock).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

_LOCKED = ("database is locked", "database table is locked")


async def _retrying(call: Callable[[], Any], busy_timeout: float) -> Any:
    deadline = time.monotonic() + busy_timeout
    delay = 0.001
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if not str(exc).startswith(_LOCKED) or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


class InloopCursor:
    def __init__(self, cursor: sqlite3.Cursor, busy_timeout: float) -> None:
        self._cursor = cursor
        self._busy_timeout = busy_timeout

    async def __aenter__(self) -> InloopCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> InloopCursor:
        await _retrying(lambda: self._cursor.execute(sql, parameters), self._busy_timeout)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InloopCursor:
        rows = list(parameters)
        await _retrying(lambda: self._cursor.executemany(sql, rows), self._busy_timeout)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Inline:
    """Stands in for aiosqlite's request queue, which the dialect uses to set `isolation_level`: the
    request runs at once, on this thread."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class InloopConnection:
    def __init__(self, path: str, *, busy_timeout: float = 30.0) -> None:
        # check_same_thread=False: the pool may close a connection from a finaliser on another thread.
        self._conn: sqlite3.Connection | None = sqlite3.connect(path, check_same_thread=False, timeout=0)
        self._busy_timeout = busy_timeout
        self._tx = _Inline()

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._live().isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._live().isolation_level = value

    def cursor(self) -> InloopCursor:
        return InloopCursor(self._live().cursor(), self._busy_timeout)

    async def execute(self, sql: str, parameters: Any = ()) -> InloopCursor:
        cursor = self.cursor()
        return await cursor.execute(sql, parameters)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._live().create_function(*args, **kwargs)

    async def commit(self) -> None:
        await _retrying(self._live().commit, self._busy_timeout)

    async def rollback(self) -> None:
        self._live().rollback()

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def creator(path: str, *, busy_timeout: float = 30.0) -> Callable[[], Any]:
    """`async_creator` for `create_async_engine`: a fresh in-loop connection to the database file."""

    async def connect() -> InloopConnection:
        return InloopConnection(path, busy_timeout=busy_timeout)

    return connect
