"""Housekeeping that runs on a schedule: wake snoozed conversations, prune finished jobs, and the
retention purges of the audit log and raw inbound bodies (actions/retention.py)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from relaydesk.actions import retention
from relaydesk.actions.conversations import wake_snoozed
from relaydesk.db.base import utcnow
from relaydesk.jobs.registry import JobContext, periodic
from relaydesk.models.jobs import Job
from relaydesk.models.workspaces import Workspace
from relaydesk.privacy import audit

FINISHED_JOB_RETENTION = dt.timedelta(days=7)
# Rows ANALYZE samples per index (SQLite's advice is 100-1000): about 60 ms on a 2 GB database, where a
# full ANALYZE holds the write lock for ~17 s (bench/README.md, "Conversation list").
ANALYSIS_LIMIT = 1000


@periodic("conversations.wake_snoozed", every_seconds=30)
async def wake_snoozed_conversations(ctx: JobContext) -> None:
    async with ctx.services.db.write() as session:
        await wake_snoozed(session)


@periodic("jobs.prune", every_seconds=3600)
async def prune_finished_jobs(ctx: JobContext) -> None:
    """Done jobs are kept a week for inspection; dead ones stay until an admin retries or deletes them."""
    cutoff = utcnow() - FINISHED_JOB_RETENTION
    async with ctx.services.db.write() as session:
        await session.execute(sa.delete(Job).where(Job.state == "done", Job.finished_at < cutoff))


@periodic("audit.retention", every_seconds=3600)
async def purge_old_audit_rows(ctx: JobContext) -> None:
    """Each chain (and the platform chain) loses its rows past retention, one transaction per chain."""
    now = utcnow()
    async with ctx.services.db.read() as session:
        chains = await audit.chains(session)
    for workspace_id in chains:
        async with ctx.services.db.write() as session:
            await retention.purge_audit(session, workspace_id, now=now)


@periodic("inbound.purge_bodies", every_seconds=3600)
async def purge_raw_inbound_bodies(ctx: JobContext) -> None:
    """Processed raw bodies past retention are dropped in batches, one transaction per batch."""
    now = utcnow()
    async with ctx.services.db.read() as session:
        workspace_ids = list((await session.execute(sa.select(Workspace.id))).scalars())
    for workspace_id in workspace_ids:
        while True:
            async with ctx.services.db.write() as session:
                dropped = await retention.purge_raw_bodies(session, workspace_id, now=now)
            if dropped < retention.RAW_BODY_BATCH:
                break


@periodic("db.refresh_statistics", every_seconds=6 * 3600)
async def refresh_statistics(ctx: JobContext) -> None:
    """SQLite plans from `sqlite_stat1`, which nothing fills unless ANALYZE runs; without it some
    queries pick a worse index (docs/conversation-list-and-search.md). Sampling bounds the write lock to
    milliseconds. PostgreSQL needs nothing: autovacuum keeps its statistics."""
    if not ctx.services.db.is_sqlite:
        return
    async with ctx.services.db.write() as session:
        await session.execute(sa.text(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}"))
        await session.execute(sa.text("ANALYZE"))
