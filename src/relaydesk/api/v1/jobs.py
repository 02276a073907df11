"""The workspace's background jobs for admins: see what is queued, running, done or dead, and retry dead ones.

Payloads hold ids only, but they are still filtered here so a secret-looking key never reaches the API.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

import sqlalchemy as sa
from litestar import get, post
from litestar.params import Parameter

from relaydesk.actions.jobs import retry_dead_job
from relaydesk.api.v1._common import Cursor, Limit, keyset_page
from relaydesk.auth.guards import requires_admin
from relaydesk.auth.principal import Principal
from relaydesk.db.scoping import get_scoped
from relaydesk.models.jobs import Job
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime

State = Literal["pending", "running", "done", "dead"]
SECRET_KEY = re.compile(r"secret|token|password|key|credential|signature", re.IGNORECASE)


def _safe_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if SECRET_KEY.search(k) else v) for k, v in payload.items()}


def job_json(job: Job, default_max_attempts: int) -> dict[str, Any]:
    """`max_attempts` shows the limit in force: the job's own, or the configured default."""
    return {
        "id": str(job.id),
        "kind": job.kind,
        "state": job.state,
        "payload": _safe_payload(dict(job.payload or {})),
        "attempts": job.attempts,
        "max_attempts": job.max_attempts or default_max_attempts,
        "run_at": iso(job.run_at),
        "last_error": job.last_error,
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at),
    }


@get("/jobs", guards=[requires_admin])
async def jobs_index(
    principal: Principal,
    runtime: Runtime,
    job_state: State | None = Parameter(query="state", default=None),
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Newest first; system jobs that belong to no workspace are not listed."""
    stmt = sa.select(Job).where(Job.workspace_id == principal.workspace_id)
    if job_state:
        stmt = stmt.where(Job.state == job_state)
    async with runtime.db.read() as session:
        rows, next_cursor = await keyset_page(
            session, stmt, id_column=Job.id, cursor=cursor, limit=limit, descending=True
        )
    return {
        "items": [job_json(j, runtime.settings.job_max_attempts) for j in rows],
        "next_cursor": next_cursor,
    }


@get("/jobs/{job_id:uuid}", guards=[requires_admin])
async def jobs_show(job_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return job_json(
            await get_scoped(session, Job, principal.workspace_id, job_id), runtime.settings.job_max_attempts
        )


@post("/jobs/{job_id:uuid}/retry", guards=[requires_admin], status_code=200)
async def jobs_retry(job_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.write() as session:
        return job_json(
            await retry_dead_job(session, principal.workspace_id, job_id), runtime.settings.job_max_attempts
        )


SCOPE_FAMILY = "jobs"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [jobs_index, jobs_show, jobs_retry]
