"""Process stored inbound provider events, a batch at once (the work itself is actions/inbound_events.py).

The intake (inbound/intake.py) stores the requests that arrive together in one transaction and enqueues one
`inbound.process` job for them (inbound/handover.py); the dispatcher runs the jobs it claims together as
one call (the kind coalesces), so under load one call carries hundreds of events and stores them with one
`receive_incoming_batch` per inbox (a fixed number of statements per batch). The jobs are marked done in
the same transaction as the messages.

If the batch fails (one poisoned event, or two workers racing on the same new contact), nothing of it
commits and the job splits into one `inbound.process_event` job per event (a kind that does not coalesce):
each then retries or dead-letters on its own, so one bad event cannot hold the others back. A database
refusal of the event's data (a data exception, SQLSTATE class 22: a value no column can hold) can never succeed, so it dead-letters
at once; a dead-lettered event is marked `failed` with the reason and counted on its inbox (`fail_events`).
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DataError, DBAPIError

from relaydesk.actions.inbound_events import fail_events, process_events
from relaydesk.inbound.handover import (
    BATCH_EVENTS,
    PROCESS_KIND,
    PROCESS_ONE_KIND,
    event_ids,
    job_payload,
    prepared_of,
)
from relaydesk.jobs.outbox import enqueue
from relaydesk.jobs.registry import JobContext, PermanentError, handler

log = logging.getLogger(__name__)


@handler(
    PROCESS_KIND,
    coalesce=True,
    coalesce_limit=BATCH_EVENTS,
    weight=lambda job: len(job.payload.get("inbound_event_ids") or ()) or 1,
)
async def process_inbound(ctx: JobContext) -> None:
    ids = [event_id for job in ctx.jobs for event_id in event_ids(job.payload)]
    # Jobs the intake handed over in this process carry the requests it already parsed (first attempt:
    # their events cannot have been processed yet); jobs claimed from the table read them back.
    prepared = prepared_of(ctx.jobs)
    try:
        async with ctx.services.db.write() as session:
            await process_events(session, ids, prepared)
            await ctx.complete(session)
    except Exception as exc:
        if len(ids) == 1:
            _raise_permanent_if_data(exc)
            raise
        log.warning("inbound batch of %d events failed; retrying each on its own", len(ids), exc_info=True)
        async with ctx.services.db.write() as session:
            for event_id in ids:
                await enqueue(
                    session, PROCESS_ONE_KIND, job_payload([str(event_id)]), workspace_id=ctx.job.workspace_id
                )
            await ctx.complete(session)


@handler(PROCESS_ONE_KIND)
async def process_inbound_event(ctx: JobContext) -> None:
    """One event of a batch that failed, on its own: a separate kind, so it never coalesces into a batch
    again, and retries and dead-letters alone."""
    try:
        async with ctx.services.db.write() as session:
            await process_events(session, event_ids(ctx.payload))
            await ctx.complete(session)
    except Exception as exc:
        _raise_permanent_if_data(exc)
        raise


def _raise_permanent_if_data(exc: Exception) -> None:
    """A data exception (SQLSTATE class 22, e.g. NUL in text on PostgreSQL) fails the same way every time."""
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")
    if isinstance(exc, DataError) or (isinstance(exc, DBAPIError) and sqlstate.startswith("22")):
        # The statement's parameters stay out of the message (the engines hide them): only the reason.
        raise PermanentError(f"the database refused the event's data: {exc.orig}") from exc


@handler(f"{PROCESS_KIND}:dead")
@handler(f"{PROCESS_ONE_KIND}:dead")
async def inbound_dead(ctx: JobContext) -> None:
    """Dead-letter: the job's events are marked `failed` with its last error and shown on their inbox."""
    async with ctx.services.db.write() as session:
        await fail_events(session, event_ids(ctx.payload), ctx.job.last_error or "processing failed")
