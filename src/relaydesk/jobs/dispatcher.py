"""Claim ready jobs, run their handlers, retry with backoff, dead-letter when attempts run out.

A claim marks the job `running` with a lease (`locked_until`) and counts the attempt. A process that
dies mid-job (kill -9) simply lets the lease lapse: another dispatcher claims the job again. Handlers are
idempotent and every external call carries the job's idempotency key, so a retried job repeats nothing
the receiver has not already seen. Live dispatchers renew the leases of the jobs they run.

On PostgreSQL the claim uses `FOR UPDATE SKIP LOCKED`, so many workers never take the same row; on
SQLite the writer lock serialises claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import socket
import time
import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from relaydesk.db.base import utcnow
from relaydesk.jobs.outbox import enqueue
from relaydesk.jobs.registry import JobContext, PermanentError, RetryLater, get_handler, periodic_jobs
from relaydesk.models.jobs import Job

if TYPE_CHECKING:
    from relaydesk.runtime import Runtime

log = logging.getLogger(__name__)


def backoff_seconds(attempts: int, base: float, ceiling: float) -> float:
    """Exponential backoff with full jitter on the upper half: base * 2^(n-1), capped."""
    delay = min(ceiling, base * (2 ** max(0, attempts - 1)))
    return delay / 2 + random.random() * delay / 2


class Dispatcher:
    def __init__(
        self,
        runtime: Runtime,
        *,
        concurrency: int = 8,
        poll_interval: float = 1.0,
        worker_id: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._scheduler: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="job-dispatcher")
        self._heartbeat = asyncio.create_task(self._renew_leases(), name="job-leases")
        self._scheduler = asyncio.create_task(self._schedule_periodic(), name="job-scheduler")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in (self._task, self._heartbeat, self._scheduler):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def run(self) -> None:
        while not self._stopping:
            free = self.concurrency - len(self._running)
            claimed: list[Job] = []
            if free > 0:
                try:
                    claimed = await self.claim(free)
                except Exception:
                    log.exception("claiming jobs failed")
                    await asyncio.sleep(self.poll_interval)
            for job in claimed:
                task = asyncio.create_task(self._execute(job), name=f"job-{job.kind}")
                self._running[job.id] = task
                task.add_done_callback(lambda _t, jid=job.id: self._on_done(jid))
            if claimed and len(claimed) == free:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    def _on_done(self, job_id: uuid.UUID) -> None:
        self._running.pop(job_id, None)
        self._wake.set()

    async def run_until_idle(self, timeout: float = 30.0) -> int:
        """Run ready jobs until none are left (tests and `relaydesk jobs run-once`); returns how many ran."""
        ran = 0
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            jobs = await self.claim(self.concurrency)
            if not jobs:
                return ran
            await asyncio.gather(*(self._execute(j) for j in jobs))
            ran += len(jobs)
        raise TimeoutError("jobs still pending after run_until_idle timeout")

    async def claim(self, limit: int) -> list[Job]:
        now = utcnow()
        lease = dt.timedelta(seconds=self.runtime.settings.job_lease_seconds)
        async with self.runtime.db.write() as session:
            ready = sa.or_(
                sa.and_(Job.state == "pending", Job.run_at <= now),
                sa.and_(Job.state == "running", Job.locked_until < now),
            )
            stmt = sa.select(Job.id).where(ready).order_by(Job.run_at).limit(limit)
            if not self.runtime.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            ids = list((await session.execute(stmt)).scalars())
            if not ids:
                return []
            result = await session.execute(
                sa.update(Job)
                .where(Job.id.in_(ids))
                .values(
                    state="running",
                    locked_by=self.worker_id,
                    locked_until=now + lease,
                    attempts=Job.attempts + 1,
                )
                .returning(Job)
                .execution_options(synchronize_session=False)
            )
            return list(result.scalars())

    async def enqueue_periodic(self, now: float | None = None) -> int:
        """Enqueue each periodic job for the current period; the idempotency key makes it once per period."""
        now = time.time() if now is None else now
        added = 0
        for kind, every in periodic_jobs().items():
            key = f"{kind}@{int(now // every)}"
            try:
                async with self.runtime.db.write() as session:
                    await enqueue(session, kind, {}, workspace_id=None, idempotency_key=key, max_attempts=3)
                added += 1
            except IntegrityError:
                pass  # another process enqueued it first
        return added

    async def _schedule_periodic(self) -> None:
        while True:
            try:
                await self.enqueue_periodic()
            except Exception:
                log.warning("scheduling periodic jobs failed", exc_info=True)
            await asyncio.sleep(5.0)

    async def _renew_leases(self) -> None:
        interval = max(0.5, self.runtime.settings.job_lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            if not self._running:
                continue
            try:
                until = utcnow() + dt.timedelta(seconds=self.runtime.settings.job_lease_seconds)
                async with self.runtime.db.write() as session:
                    await session.execute(
                        sa.update(Job)
                        .where(Job.id.in_(list(self._running)), Job.locked_by == self.worker_id)
                        .values(locked_until=until)
                    )
            except Exception:
                log.warning("renewing job leases failed", exc_info=True)

    async def _execute(self, job: Job) -> None:
        handler = get_handler(job.kind)
        try:
            if handler is None:
                raise PermanentError(f"no handler for job kind {job.kind!r}")
            if job.attempts > self.max_attempts(job):
                # Only a lapsed lease gets a job here: the processes running it died every time (a job
                # that crashes its worker must not loop forever).
                raise PermanentError(
                    f"gave up after {job.attempts - 1} attempts; the last was abandoned by a worker that stopped"
                )
            await handler(JobContext(self.runtime, job))
        except Exception as exc:
            await self._failed(job, exc)
        else:
            await self._finish(job, state="done", error=None)

    async def _finish(
        self, job: Job, *, state: str, error: str | None, run_at: dt.datetime | None = None
    ) -> bool:
        """Record the outcome if this worker still holds the job; False if the lease was lost meanwhile."""
        values: dict[str, object] = {
            "state": state,
            "locked_by": None,
            "locked_until": None,
            "last_error": error,
        }
        if state in ("done", "dead"):
            values["finished_at"] = utcnow()
        if run_at is not None:
            values["run_at"] = run_at
        async with self.runtime.db.write() as session:
            result = await session.execute(
                sa.update(Job).where(Job.id == job.id, Job.locked_by == self.worker_id).values(**values)
            )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            log.warning(
                "job %s (%s): lease lost to another worker; outcome %s not recorded", job.id, job.kind, state
            )
            return False
        return True

    def max_attempts(self, job: Job) -> int:
        """The job's own limit if it was enqueued with one, else the configured `job_max_attempts`."""
        return job.max_attempts if job.max_attempts is not None else self.runtime.settings.job_max_attempts

    async def _failed(self, job: Job, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        permanent = isinstance(exc, PermanentError)
        if permanent or job.attempts >= self.max_attempts(job):
            log.warning("job %s (%s) dead after %d attempts: %s", job.id, job.kind, job.attempts, error)
            if not await self._finish(job, state="dead", error=error):
                return  # another worker owns the job now; its outcome counts, not ours
            job.last_error = error
            dead_handler = get_handler(f"{job.kind}:dead")
            if dead_handler is not None:
                try:
                    await dead_handler(JobContext(self.runtime, job))
                except Exception:
                    log.exception("dead-letter hook of job %s failed", job.id)
            return
        settings = self.runtime.settings
        delay = (
            exc.after
            if isinstance(exc, RetryLater)
            else backoff_seconds(job.attempts, settings.job_backoff_base, settings.job_backoff_max)
        )
        log.info("job %s (%s) failed, retry in %.1fs: %s", job.id, job.kind, delay, error)
        await self._finish(job, state="pending", error=error, run_at=utcnow() + dt.timedelta(seconds=delay))
