"""The SQLite writer runs on the event loop's thread: it must wait for another process's lock with the
loop free, never inside SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import make_url

from relaydesk.models import Workspace


async def test_a_write_waits_for_another_connections_lock_while_the_loop_keeps_running(runtime, backend):
    if backend != "sqlite":
        pytest.skip("SQLite's single-writer lock")
    path = make_url(runtime.db.url).database
    held = threading.Event()
    release = threading.Event()

    def hold_the_lock() -> None:  # another process, as far as SQLite can tell
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(5)
        conn.execute("ROLLBACK")
        conn.close()

    other = threading.Thread(target=hold_the_lock)
    other.start()
    assert await asyncio.to_thread(held.wait, 5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    asyncio.get_running_loop().call_later(0.4, release.set)
    started = time.monotonic()
    try:
        async with runtime.db.write() as session:
            await session.execute(sa.select(sa.func.count()).select_from(Workspace))
    finally:
        ticking.cancel()
        other.join(5)
    waited = time.monotonic() - started
    assert waited >= 0.35  # it really waited for the other writer...
    assert ticks >= 10  # ...while the loop went on serving everything else


async def test_an_acknowledgement_goes_before_queued_background_writes(runtime, backend):
    """Writers queued behind a running transaction: the urgent one (an intake commit) is next, whatever
    the order they arrived in; the background ones follow in their own order."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL writers do not queue for one connection")
    order: list[str] = []
    release = asyncio.Event()

    async def writer(name: str, *, urgent: bool = False, hold: bool = False) -> None:
        async with runtime.db.write(urgent=urgent) as session:
            await session.execute(sa.select(Workspace.id).limit(1))
            order.append(name)
            if hold:
                await release.wait()

    first = asyncio.create_task(writer("running", hold=True))
    while not order:
        await asyncio.sleep(0)
    queued = [asyncio.create_task(writer(f"job-{i}")) for i in range(3)]
    await asyncio.sleep(0.01)
    ack = asyncio.create_task(writer("ack", urgent=True))
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.gather(first, *queued, ack)
    assert order == ["running", "ack", "job-0", "job-1", "job-2"]


async def test_a_writer_cancelled_while_queued_leaves_the_gate_usable(runtime, backend):
    if backend != "sqlite":
        pytest.skip("PostgreSQL writers do not queue for one connection")
    release = asyncio.Event()

    async def hold() -> None:
        async with runtime.db.write():
            await release.wait()

    async def quick() -> None:
        async with runtime.db.write() as session:
            await session.execute(sa.select(Workspace.id).limit(1))

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(quick())
    await asyncio.sleep(0.01)
    waiting.cancel()
    release.set()
    await holder
    await asyncio.wait_for(quick(), 2)  # the cancelled waiter did not keep the writer
