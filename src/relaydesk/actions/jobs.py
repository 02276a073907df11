"""Admin operations on the job outbox: put a dead-lettered job back in the queue."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import Conflict
from relaydesk.models.jobs import Job


async def retry_dead_job(session: AsyncSession, workspace_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    """A fresh set of attempts, at once; the last error stays visible until the next run replaces it.

    Only dead jobs: retrying a pending or running one would run it twice, a done one would repeat work.
    """
    job = await get_scoped(session, Job, workspace_id, job_id, for_update=True)
    if job.state != "dead":
        raise Conflict(f"only dead jobs can be retried (this one is {job.state})")
    job.state = "pending"
    job.attempts = 0
    job.run_at = utcnow()
    job.finished_at = None
    job.locked_by = None
    job.locked_until = None
    session.info["relaydesk.jobs"] = True  # wake the dispatcher after commit (see jobs.outbox)
    return job
