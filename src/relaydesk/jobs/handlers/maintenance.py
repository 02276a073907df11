"""Housekeeping that runs on a schedule: wake snoozed conversations, prune finished jobs."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from relaydesk.actions.conversations import wake_snoozed
from relaydesk.db.base import utcnow
from relaydesk.jobs.registry import JobContext, periodic
from relaydesk.models.jobs import Job

FINISHED_JOB_RETENTION = dt.timedelta(days=7)


@periodic("conversations.wake_snoozed", every_seconds=30)
async def wake_snoozed_conversations(ctx: JobContext) -> None:
    async with ctx.runtime.db.write() as session:
        await wake_snoozed(session)


@periodic("jobs.prune", every_seconds=3600)
async def prune_finished_jobs(ctx: JobContext) -> None:
    """Done jobs are kept a week for inspection; dead ones stay until an admin retries or deletes them."""
    cutoff = utcnow() - FINISHED_JOB_RETENTION
    async with ctx.runtime.db.write() as session:
        await session.execute(sa.delete(Job).where(Job.state == "done", Job.finished_at < cutoff))
