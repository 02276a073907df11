"""Process stored inbound provider events: parse them and hand the results to the actions, a batch at once.

The intake (inbound/intake.py) stores the requests that arrive together in one transaction and enqueues one
`inbound.process` job for them; the dispatcher runs the jobs it claims together as one call (the kind
coalesces), so under load one call carries hundreds of events and stores them with one
`receive_incoming_batch` per inbox (a fixed number of statements per batch). The jobs are marked done in
the same transaction as the messages.

If the batch fails (one poisoned event, or two workers racing on the same new contact), nothing of it
commits and the job splits into one `inbound.process_event` job per event (a kind that does not coalesce):
each then retries or dead-letters on its own, so one bad event cannot hold the others back.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions.inboxes import record_inbox_events
from relaydesk.actions.incoming import InboxRef, receive_incoming_batch
from relaydesk.actions.messages import update_delivery
from relaydesk.channels.base import InvalidPayload, Parsed, StatusUpdate
from relaydesk.channels.envelopes import IncomingMessage
from relaydesk.channels.registry import adapter_for
from relaydesk.db.base import utcnow
from relaydesk.jobs.outbox import enqueue
from relaydesk.jobs.registry import JobContext, handler
from relaydesk.models.inbound import InboundEvent
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Message
from relaydesk.privacy import storage

log = logging.getLogger(__name__)

_events = InboundEvent.__table__
# Attribute of a Job object that carries its requests already parsed (set by inbound/intake.py).
PREPARED = "relaydesk_prepared"


@dataclass(frozen=True)
class Prepared:
    """An inbound event as the intake stored it, with the adapter's parse of its body."""

    id: uuid.UUID
    inbox_id: uuid.UUID
    workspace_id: uuid.UUID
    channel_type: str
    parsed: Parsed


_inboxes = Inbox.__table__
_PENDING_EVENTS = (
    sa.select(_events)
    .where(_events.c.id.in_(sa.bindparam("ids", expanding=True)), _events.c.state != "processed")
    .order_by(_events.c.received_at, _events.c.id)
)
_INBOXES = sa.select(_inboxes.c.id, _inboxes.c.workspace_id, _inboxes.c.settings).where(
    _inboxes.c.id.in_(sa.bindparam("ids", expanding=True))
)
_PROCESSED = (
    sa.update(_events)
    .where(_events.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(state="processed", processed_at=sa.bindparam("now", type_=_events.c.received_at.type))
)


#: Events per processing transaction. Each costs about a millisecond of writer time (bench/README.md,
#: "Ingest"), so a batch holds SQLite's one writer, and with it new acknowledgements, for tens of ms at most.
BATCH_EVENTS = 32


def event_ids(payload: dict) -> list[uuid.UUID]:
    """The batch's events (`inbound_event_id` is the one-event form jobs had before batching)."""
    raw = payload.get("inbound_event_ids") or [payload["inbound_event_id"]]
    return [uuid.UUID(value) for value in raw]


@handler(
    "inbound.process",
    coalesce=True,
    coalesce_limit=BATCH_EVENTS,
    weight=lambda job: len(job.payload.get("inbound_event_ids") or ()) or 1,
)
async def process_inbound(ctx: JobContext) -> None:
    ids = [event_id for job in ctx.jobs for event_id in event_ids(job.payload)]
    # Jobs the intake handed over in this process carry the requests it already parsed (first attempt:
    # their events cannot have been processed yet); jobs claimed from the table read them back.
    prepared: dict[uuid.UUID, Prepared] | None = {}
    for job in ctx.jobs:
        carried = getattr(job, PREPARED, None) if ctx.job.attempts == 1 else None
        if carried is None or prepared is None:
            prepared = None
            break
        prepared.update(carried)
    try:
        async with ctx.runtime.db.write() as session:
            await process_events(session, ids, prepared)
            await ctx.complete(session)
    except Exception:
        if len(ids) == 1:
            raise
        log.warning("inbound batch of %d events failed; retrying each on its own", len(ids), exc_info=True)
        async with ctx.runtime.db.write() as session:
            for event_id in ids:
                await enqueue(
                    session,
                    "inbound.process_event",
                    {"inbound_event_ids": [str(event_id)]},
                    workspace_id=ctx.job.workspace_id,
                )
            await ctx.complete(session)


@handler("inbound.process_event")
async def process_inbound_event(ctx: JobContext) -> None:
    """One event of a batch that failed, on its own: a separate kind, so it never coalesces into a batch
    again, and retries and dead-letters alone."""
    async with ctx.runtime.db.write() as session:
        await process_events(session, event_ids(ctx.payload))
        await ctx.complete(session)


async def process_events(
    session: AsyncSession, ids: list[uuid.UUID], prepared: dict[uuid.UUID, Prepared] | None = None
) -> None:
    conn = await session.connection()
    events: list[Any]
    if prepared is not None and all(event_id in prepared for event_id in ids):
        events = [prepared[event_id] for event_id in ids]
    else:
        events = list((await conn.execute(_PENDING_EVENTS, {"ids": ids})).all())
    if not events:
        return
    inboxes = {
        inbox.id: inbox
        for inbox in await conn.execute(_INBOXES, {"ids": list({event.inbox_id for event in events})})
    }
    incoming: dict[uuid.UUID, list[IncomingMessage]] = defaultdict(list)
    statuses: dict[uuid.UUID, list[StatusUpdate]] = defaultdict(list)
    failed: dict[uuid.UUID, str] = {}
    for event in events:
        inbox = inboxes.get(event.inbox_id)
        adapter = adapter_for(event.channel_type)
        if inbox is None or adapter is None:
            failed[event.id] = "inbox or channel no longer exists"
            continue
        try:
            parsed = (
                event.parsed
                if isinstance(event, Prepared)
                else adapter.parse(storage.open_raw_body(event.workspace_id, event.body))
            )
        except InvalidPayload as exc:
            failed[event.id] = str(exc)[:1000]
            continue
        incoming[inbox.id].extend(parsed.messages)
        statuses[inbox.id].extend(parsed.statuses)
    for inbox_id, items in incoming.items():
        await receive_incoming_batch(session, inboxes[inbox_id], items)
    for inbox_id, updates in statuses.items():
        await _apply_statuses(session, inboxes[inbox_id], updates)
    now = utcnow()
    done = [event.id for event in events if event.id not in failed]
    if done:
        await conn.execute(_PROCESSED, {"ids": done, "now": now})
    for event_id, error in failed.items():
        log.warning("inbound event %s not processed: %s", event_id, error)
        await conn.execute(
            sa.update(_events)
            .where(_events.c.id == event_id)
            .values(state="failed", error=error, processed_at=now)
        )
    await record_inbox_events(session, {event.inbox_id for event in events if event.id not in failed})


async def _apply_statuses(session: AsyncSession, inbox: InboxRef, updates: list[StatusUpdate]) -> None:
    """Delivery receipts for our outgoing messages (by provider id or by our own id)."""
    for status in updates:
        column = Message.provider_message_id if status.by_provider_id else Message.id
        try:
            ref: object = status.message_ref if status.by_provider_id else uuid.UUID(status.message_ref)
        except ValueError:
            continue
        message = (
            await session.execute(
                sa.select(Message).where(
                    Message.workspace_id == inbox.workspace_id,
                    Message.inbox_id == inbox.id,
                    column == ref,
                )
            )
        ).scalar_one_or_none()
        if message is not None and message.message_type == "outgoing":
            await update_delivery(session, message, status.status, at=status.at, reason=status.reason)
