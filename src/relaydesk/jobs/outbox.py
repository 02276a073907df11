"""Enqueue a job in the caller's transaction: it exists if and only if the write it follows commits."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.models.jobs import Job

WAKE_KEY = "relaydesk.jobs"


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    workspace_id: uuid.UUID | None,
    idempotency_key: str | None = None,
    run_at: dt.datetime | None = None,
    max_attempts: int | None = None,
) -> uuid.UUID:
    """Add a job; with an idempotency key, a second enqueue of the same key is a no-op."""
    job = Job(kind=kind, payload=payload, workspace_id=workspace_id, idempotency_key=idempotency_key)
    if run_at is not None:
        job.run_at = run_at
    if max_attempts is not None:
        job.max_attempts = max_attempts
    if idempotency_key is not None:
        existing = (
            await session.execute(sa.select(Job.id).where(Job.idempotency_key == idempotency_key))
        ).scalar_one_or_none()
        if existing is not None:
            return existing
    session.add(job)
    session.info[WAKE_KEY] = True
    return job.id


async def enqueue_many(
    session: AsyncSession, kind: str, items: list[tuple[dict[str, Any], str]], *, workspace_id: uuid.UUID
) -> None:
    """Many jobs of one kind, each `(payload, idempotency key)`, with one lookup and one insert; keys
    already present are skipped like `enqueue` does."""
    if not items:
        return
    keys = [key for _payload, key in items]
    existing = set(
        (await session.execute(sa.select(Job.idempotency_key).where(Job.idempotency_key.in_(keys)))).scalars()
    )
    rows = [
        {"kind": kind, "payload": payload, "workspace_id": workspace_id, "idempotency_key": key}
        for payload, key in dict((key, (payload, key)) for payload, key in items).values()
        if key not in existing
    ]
    if rows:
        await session.execute(sa.insert(Job.__table__), rows)
        session.info[WAKE_KEY] = True


def took_jobs(session: AsyncSession) -> bool:
    return bool(session.info.pop(WAKE_KEY, False))
