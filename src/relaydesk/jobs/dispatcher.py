"""Claim ready jobs, run their handlers, retry with backoff, dead-letter when attempts run out.

A claim marks the job `running` with a lease (`locked_until`) and counts the attempt. A process that
dies mid-job (kill -9) simply lets the lease lapse: another dispatcher claims the job again. Handlers are
idempotent and every external call carries the job's idempotency key, so a retried job repeats nothing
the receiver has not already seen. Live dispatchers renew the leases of the jobs they run.

On PostgreSQL the claim uses `FOR UPDATE SKIP LOCKED`, so many workers never take the same row; on
SQLite the writer lock serialises claims.

Claiming and recording outcomes span workspaces, so the dispatcher itself is system work. A handler of
a job that belongs to a workspace runs under that workspace's row-level security scope (db/tenancy.py),
like an API request: a query in a handler that forgot its `workspace_id` filter still sees only the
job's workspace. Jobs without a workspace (the periodic housekeeping, which spans workspaces by design)
run as system work.
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
from relaydesk.db.tenancy import tenant
from relaydesk.jobs.outbox import enqueue
from relaydesk.jobs.registry import (
    JobContext,
    LeaseLost,
    PermanentError,
    RetryLater,
    StartHook,
    coalesces,
    coalescing,
    get_handler,
    periodic_jobs,
    start_hooks,
)
from relaydesk.models.jobs import Job

if TYPE_CHECKING:
    from relaydesk.jobs.services import Services

log = logging.getLogger(__name__)


def backoff_seconds(attempts: int, base: float, ceiling: float) -> float:
    """Exponential backoff with full jitter on the upper half: base * 2^(n-1), capped."""
    delay = min(ceiling, base * (2 ** max(0, attempts - 1)))
    return delay / 2 + random.random() * delay / 2


_jobs = Job.__table__
# Built once: these run for every claim, and building SQLAlchemy statements costs more than SQLite does.
_READY = (
    sa.select(_jobs.c.id)
    .where(
        sa.or_(
            sa.and_(
                _jobs.c.state == "pending", _jobs.c.run_at <= sa.bindparam("now", type_=_jobs.c.run_at.type)
            ),
            sa.and_(
                _jobs.c.state == "running",
                _jobs.c.locked_until < sa.bindparam("now", type_=_jobs.c.run_at.type),
            ),
        )
    )
    .order_by(_jobs.c.run_at)
)
_CLAIM = (
    sa.update(_jobs)
    .where(_jobs.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(
        state="running",
        locked_by=sa.bindparam("worker"),
        locked_until=sa.bindparam("until", type_=_jobs.c.locked_until.type),
        attempts=_jobs.c.attempts + 1,
    )
    .returning(*_jobs.c)
)


def coalesce(jobs: list[Job]) -> list[list[Job]]:
    """Group claimed jobs for execution: jobs of a coalescing kind (`@handler(..., coalesce=True)`) and the
    same workspace run together, up to the kind's `coalesce_limit` of work per group (a single job over
    the limit still runs, alone); every other job runs alone."""
    groups: dict[tuple[str, uuid.UUID | None], list[list[Job]]] = {}
    loads: dict[tuple[str, uuid.UUID | None], int] = {}
    alone: list[list[Job]] = []
    for job in jobs:
        rule = coalescing(job.kind)
        if rule is None:
            alone.append([job])
            continue
        key = (job.kind, job.workspace_id)
        weight = rule.weight(job)
        chain = groups.setdefault(key, [])
        if not chain or loads[key] + weight > rule.limit:
            chain.append([])
            loads[key] = 0
        chain[-1].append(job)
        loads[key] += weight
    return alone + [group for chain in groups.values() for group in chain]


class Dispatcher:
    def __init__(
        self,
        services: Services,
        *,
        concurrency: int = 8,
        poll_interval: float = 1.0,
        worker_id: str | None = None,
    ) -> None:
        self.services = services
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self.start_tasks: list[asyncio.Task[None]] = []
        self._periodic_seen: dict[str, str] = {}
        self._adopted: list[Job] = []
        self._busy: set[tuple[str, uuid.UUID | None]] = set()
        self._claim_wanted = True
        self._backlog = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="job-dispatcher")
        self._heartbeat = asyncio.create_task(self._renew_leases(), name="job-leases")
        self._scheduler = asyncio.create_task(self._schedule_periodic(), name="job-scheduler")
        self.start_tasks = [
            asyncio.create_task(self._run_start_hook(hook), name=f"start-{hook.__name__}")
            for hook in start_hooks()
        ]

    async def _run_start_hook(self, hook: StartHook) -> None:
        try:
            await hook(self.services)
        except Exception:
            log.warning("start hook %s failed", hook.__name__, exc_info=True)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in (self._task, self._heartbeat, self._scheduler, *self.start_tasks):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def run(self) -> None:
        while not self._stopping:
            free = self.concurrency - len(self._running)
            adopted = self._take_adopted(free)
            free -= len(adopted)
            claimed: list[Job] = []
            if free > 0 and self._claim_wanted:
                self._claim_wanted = False
                try:
                    claimed = await self.claim(free)
                except Exception:
                    log.exception("claiming jobs failed")
                    await asyncio.sleep(self.poll_interval)
                # A full claim may have left more behind: claim again as soon as a slot frees up.
                self._backlog = len(claimed) == free
            waiting: list[Job] = []
            for group in coalesce(adopted) + coalesce(claimed):
                key = (group[0].kind, group[0].workspace_id)
                if coalesces(group[0].kind) and key in self._busy:
                    # One group per kind and workspace at a time (they would race for the same rows);
                    # the rest waits, already claimed, oldest first, and coalesces with what comes next.
                    waiting.extend(group)
                    continue
                task = asyncio.create_task(self._execute_group(group), name=f"job-{group[0].kind}")
                self._busy.add((group[0].kind, group[0].workspace_id))
                for job in group:
                    self._running[job.id] = task
                    task.add_done_callback(lambda _t, jid=job.id: self._on_done(jid))
                task.add_done_callback(
                    lambda _t, key=(group[0].kind, group[0].workspace_id): self._busy.discard(key)
                )
            if waiting:
                self._adopted[:0] = waiting
                self._backlog = False  # claim more once these have run, not while they wait
            if self._backlog and self.concurrency > len(self._running):
                self._claim_wanted = True
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except TimeoutError:
                self._claim_wanted = True  # poll: jobs whose run_at arrived, leases that lapsed

    def wake(self) -> None:
        """A commit enqueued jobs: claim them."""
        self._claim_wanted = True
        self._wake.set()

    @property
    def lease_seconds(self) -> float:
        return float(self.services.settings.job_lease_seconds)

    def adopt(self, jobs: list[Job]) -> None:
        """Run jobs that a committed transaction of this process inserted already claimed by this worker
        (state running, our lease): the inbound intake hands its batches over this way, which saves a
        claim transaction per batch. If this process dies first, the lease lapses and any worker claims
        them as usual."""
        if self._stopping:
            return
        self._adopted.extend(jobs)
        self._wake.set()

    def _take_adopted(self, free: int) -> list[Job]:
        """Adopted jobs to start now; those of a coalescing kind wait while a group of their kind and
        workspace runs, so they pile up and run as one bigger group next."""
        if not self._adopted or free <= 0:
            return []
        take, keep = [], []
        for job in self._adopted:
            busy = coalesces(job.kind) and (job.kind, job.workspace_id) in self._busy
            (keep if busy or len(take) >= free else take).append(job)
        self._adopted = keep
        return take

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
            await asyncio.gather(*(self._execute_group(group) for group in coalesce(jobs)))
            ran += len(jobs)
        raise TimeoutError("jobs still pending after run_until_idle timeout")

    async def claim(self, limit: int) -> list[Job]:
        now = utcnow()
        lease = dt.timedelta(seconds=self.services.settings.job_lease_seconds)
        async with self.services.db.write() as session:
            conn = await session.connection()
            stmt = _READY.limit(limit)
            if not self.services.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            ids = list((await conn.execute(stmt, {"now": now})).scalars())
            if not ids:
                return []
            rows = await conn.execute(_CLAIM, {"ids": ids, "worker": self.worker_id, "until": now + lease})
            return [Job(**row._mapping) for row in rows]

    async def enqueue_periodic(self, now: float | None = None, *, skip_seen: bool = False) -> int:
        """Enqueue each periodic job for the current period; the idempotency key makes it once per period."""
        now = time.time() if now is None else now
        added = 0
        for kind, every in periodic_jobs().items():
            key = f"{kind}@{int(now // every)}"
            if skip_seen and self._periodic_seen.get(kind) == key:
                continue  # this process already saw it enqueued for this period
            try:
                async with self.services.db.write() as session:
                    await enqueue(session, kind, {}, workspace_id=None, idempotency_key=key, max_attempts=3)
                added += 1
            except IntegrityError:
                pass  # another process enqueued it first
            self._periodic_seen[kind] = key
        return added

    async def _schedule_periodic(self) -> None:
        while True:
            try:
                await self.enqueue_periodic(skip_seen=True)
            except Exception:
                log.warning("scheduling periodic jobs failed", exc_info=True)
            await asyncio.sleep(5.0)

    async def _renew_leases(self) -> None:
        interval = max(0.5, self.services.settings.job_lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            # Claimed jobs waiting for their turn (adopted, or behind a running group) hold a lease too.
            held = [*self._running, *(job.id for job in self._adopted)]
            if not held:
                continue
            try:
                until = utcnow() + dt.timedelta(seconds=self.services.settings.job_lease_seconds)
                async with self.services.db.write() as session:
                    await session.execute(
                        sa.update(_jobs)
                        .where(_jobs.c.id.in_(held), _jobs.c.locked_by == self.worker_id)
                        .values(locked_until=until)
                    )
            except Exception:
                log.warning("renewing job leases failed", exc_info=True)

    async def _execute(self, job: Job) -> None:
        await self._execute_group([job])

    async def _execute_group(self, jobs: list[Job]) -> None:
        """Run one job, or several of a coalescing kind in one handler call; record each one's outcome."""
        handler = get_handler(jobs[0].kind)
        runnable = []
        for job in jobs:
            if handler is None:
                await self._failed(job, PermanentError(f"no handler for job kind {job.kind!r}"))
            elif job.attempts > self.max_attempts(job):
                # Only a lapsed lease gets a job here: the processes running it died every time (a job
                # that crashes its worker must not loop forever).
                await self._failed(
                    job,
                    PermanentError(
                        f"gave up after {job.attempts - 1} attempts; "
                        "the last was abandoned by a worker that stopped"
                    ),
                )
            else:
                runnable.append(job)
        if handler is None or not runnable:
            return
        ctx = JobContext(self.services, runnable[0], batch=runnable if len(runnable) > 1 else [])
        try:
            with _scope_of(ctx.job):
                await handler(ctx)
        except LeaseLost as exc:
            log.warning("job %s (%s): %s; its work was rolled back", ctx.job.id, ctx.job.kind, exc)
        except Exception as exc:
            for job in runnable:
                await self._failed(job, exc)
        else:
            if not ctx.completed:  # handlers that call ctx.complete() recorded "done" in their transaction
                for job in runnable:
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
        async with self.services.db.write() as session:
            result = await session.execute(
                sa.update(_jobs)
                .where(_jobs.c.id == job.id, _jobs.c.locked_by == self.worker_id)
                .values(**values)
            )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            log.warning(
                "job %s (%s): lease lost to another worker; outcome %s not recorded", job.id, job.kind, state
            )
            return False
        return True

    def max_attempts(self, job: Job) -> int:
        """The job's own limit if it was enqueued with one, else the configured `job_max_attempts`."""
        return job.max_attempts if job.max_attempts is not None else self.services.settings.job_max_attempts

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
                    with _scope_of(job):
                        await dead_handler(JobContext(self.services, job))
                except Exception:
                    log.exception("dead-letter hook of job %s failed", job.id)
            return
        settings = self.services.settings
        delay = (
            exc.after
            if isinstance(exc, RetryLater)
            else backoff_seconds(job.attempts, settings.job_backoff_base, settings.job_backoff_max)
        )
        log.info("job %s (%s) failed, retry in %.1fs: %s", job.id, job.kind, delay, error)
        await self._finish(job, state="pending", error=error, run_at=utcnow() + dt.timedelta(seconds=delay))


def _scope_of(job: Job) -> contextlib.AbstractContextManager[None]:
    """The row-level security scope a handler of `job` runs under: its workspace's, or none (system work)
    for a job that belongs to no workspace. Jobs run together share one workspace (`coalesce`)."""
    return tenant(job.workspace_id) if job.workspace_id is not None else contextlib.nullcontext()
