"""Job handlers by kind. A handler takes ids from the payload and calls actions; it must be idempotent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from relaydesk.jobs.services import Services
    from relaydesk.models.jobs import Job


class LeaseLost(Exception):
    """Another worker holds the job now (our lease lapsed): this worker's transaction must not commit."""


@dataclass
class JobContext:
    """What a handler gets. `job` is the job to run; for a kind registered with `coalesce=True`, `jobs`
    holds every job of that kind and workspace claimed together (`job` is the first), for the handler to
    do in one go. `services` is what the handler may use of the process (jobs/services.py)."""

    services: Services
    job: Job
    batch: list[Job] = field(default_factory=list)
    completed: bool = False

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def jobs(self) -> list[Job]:
        return self.batch or [self.job]

    async def complete(self, session: AsyncSession) -> None:
        """Mark the job done inside the handler's own transaction.

        A job whose work is only database writes then commits its work and its "done" together: a crash
        can neither leave the work applied with the job still pending (to be applied twice) nor cost a
        separate write transaction. If the lease was lost meanwhile, raises `LeaseLost` so nothing commits.
        """
        from relaydesk.db.base import utcnow
        from relaydesk.models.jobs import Job

        ids = [job.id for job in self.jobs]
        jobs = Job.__table__
        result = await session.execute(
            sa.update(jobs)
            .where(jobs.c.id.in_(ids), jobs.c.locked_by == self.job.locked_by)
            .values(state="done", locked_by=None, locked_until=None, last_error=None, finished_at=utcnow())
        )
        if result.rowcount != len(ids):  # type: ignore[attr-defined]
            raise LeaseLost(f"job {self.job.id} (or one coalesced with it) is held by another worker now")
        self.completed = True


Handler = Callable[[JobContext], Awaitable[None]]

_handlers: dict[str, Handler] = {}


@dataclass(frozen=True)
class Coalescing:
    """How a coalescing kind's jobs are grouped: at most `limit` units of work per call, a job weighing
    `weight(job)` units (an inbound batch job weighs its number of events)."""

    limit: int
    weight: Callable[[Job], int]


_coalesced: dict[str, Coalescing] = {}


class PermanentError(Exception):
    """Retrying cannot help (bad payload, 4xx from a provider): dead-letter at once."""


class RetryLater(Exception):
    """Retry after the given number of seconds (a provider's Retry-After), not the usual backoff."""

    def __init__(self, message: str, after: float) -> None:
        super().__init__(message)
        self.after = after


def handler(
    kind: str,
    *,
    coalesce: bool = False,
    coalesce_limit: int = 32,
    weight: Callable[[Job], int] | None = None,
) -> Callable[[Handler], Handler]:
    """Register the handler of a job kind. With `coalesce`, jobs of this kind and one workspace that a
    dispatcher claims together run as one call (`ctx.jobs`): for work that is cheaper in bulk, such as
    storing inbound messages, where one job per request would mean one transaction per request.

    `coalesce_limit` bounds one call to that many units of work (`weight(job)`, 1 per job by default):
    on SQLite the call's transaction holds the one writer, and on the in-loop writer the event loop,
    so an unbounded batch would make every acknowledgement wait behind it."""

    def register(fn: Handler) -> Handler:
        if kind in _handlers:
            raise ValueError(f"two handlers for job kind {kind!r}")
        _handlers[kind] = fn
        if coalesce:
            _coalesced[kind] = Coalescing(max(1, coalesce_limit), weight or (lambda _job: 1))
        return fn

    return register


_periodic: dict[str, float] = {}


def periodic(kind: str, every_seconds: float) -> Callable[[Handler], Handler]:
    """A handler the dispatchers enqueue every `every_seconds`, once per period across all processes."""

    def register(fn: Handler) -> Handler:
        _periodic[kind] = every_seconds
        return handler(kind)(fn)

    return register


def periodic_jobs() -> dict[str, float]:
    return dict(_periodic)


def coalesces(kind: str) -> bool:
    return kind in _coalesced


def coalescing(kind: str) -> Coalescing | None:
    return _coalesced.get(kind)


def get_handler(kind: str) -> Handler | None:
    return _handlers.get(kind)


StartHook = Callable[["Services"], Awaitable[None]]

_start_hooks: list[StartHook] = []


def on_worker_start(fn: StartHook) -> StartHook:
    """Register work a job process does in the background when its dispatcher starts (loading models
    before the first job needs them, say). A hook is best effort: the dispatcher runs jobs meanwhile, and
    a hook that fails is logged, never fatal."""
    _start_hooks.append(fn)
    return fn


def start_hooks() -> list[StartHook]:
    return list(_start_hooks)
