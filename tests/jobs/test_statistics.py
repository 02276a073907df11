"""The periodic statistics job leaves SQLite planner statistics for the list and search indexes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from relaydesk.jobs.handlers.maintenance import refresh_statistics
from relaydesk.jobs.registry import JobContext, periodic_jobs
from relaydesk.models.jobs import Job


async def test_refresh_statistics_fills_sqlite_stat1(runtime, make_workspace):  # type: ignore[no-untyped-def]
    if not runtime.db.is_sqlite:
        pytest.skip("PostgreSQL's autovacuum keeps statistics; the job does nothing there")
    await make_workspace()  # some rows: ANALYZE writes no statistics for empty tables
    async with runtime.db.write() as session:
        await session.execute(sa.text("DROP TABLE IF EXISTS sqlite_stat1"))
    assert "db.refresh_statistics" in periodic_jobs()
    await refresh_statistics(
        JobContext(services=runtime.services, job=Job(kind="db.refresh_statistics", payload={}))
    )
    async with runtime.db.read() as session:
        tables = set((await session.execute(sa.text("SELECT tbl FROM sqlite_stat1"))).scalars())
    assert {"workspaces", "users", "memberships", "inboxes"} <= tables
