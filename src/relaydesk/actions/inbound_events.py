"""Apply stored inbound provider events: parse each (or take the intake's parse), store the messages with
one `receive_incoming_batch` per inbox, apply delivery receipts, and mark the events processed or failed.

Runs inside the caller's write transaction, like every action; jobs/handlers/inbound.py decides batching
and retries around it. An event whose inbox or channel is gone, or whose body no longer parses, is marked
`failed` with the reason and the rest of the batch goes on; so is, through the job's dead-letter hook, an
event whose processing failed for good (`fail_events`). Failed events are counted on their inbox.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions import offline_fallback
from relaydesk.actions.inboxes import record_inbox_events
from relaydesk.actions.incoming import InboxRef, receive_incoming_batch
from relaydesk.actions.messages import update_delivery
from relaydesk.channels.envelopes import IncomingMessage
from relaydesk.channels.registry import spec_for
from relaydesk.channels.spec import InboundRequest, InvalidPayload, StatusUpdate
from relaydesk.db.base import utcnow
from relaydesk.inbound.handover import Prepared
from relaydesk.models.inbound import InboundEvent
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Message
from relaydesk.privacy import storage

log = logging.getLogger(__name__)

_events = InboundEvent.__table__
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
    sources: dict[uuid.UUID, list[uuid.UUID | None]] = defaultdict(list)
    statuses: dict[uuid.UUID, list[StatusUpdate]] = defaultdict(list)
    failed: dict[uuid.UUID, str] = {}
    for event in events:
        inbox = inboxes.get(event.inbox_id)
        spec = spec_for(event.channel_type)
        if inbox is None or spec is None:
            failed[event.id] = "inbox or channel no longer exists"
            continue
        try:
            parsed = (
                event.parsed
                if isinstance(event, Prepared)
                else spec.parse(
                    InboundRequest.stored(
                        storage.open_raw_body(event.workspace_id, event.body),
                        event.headers or {},
                        event.received_at,
                    )
                )
            )
        except InvalidPayload as exc:
            failed[event.id] = str(exc)[:1000]
            continue
        incoming[inbox.id].extend(parsed.messages)
        sources[inbox.id].extend([event.id] * len(parsed.messages))
        statuses[inbox.id].extend(parsed.statuses)
    for inbox_id, items in incoming.items():
        # Answers to replies a chat sent by e-mail go back to that chat (actions/offline_fallback.py).
        routed = await offline_fallback.route_replies(session, inboxes[inbox_id], items, sources[inbox_id])
        for target, group, group_sources in routed:
            await receive_incoming_batch(session, target, group, group_sources)
    for inbox_id, updates in statuses.items():
        await _apply_statuses(session, inboxes[inbox_id], updates)
    now = utcnow()
    done = [event.id for event in events if event.id not in failed]
    if done:
        await conn.execute(_PROCESSED, {"ids": done, "now": now})
    for event_id, error in failed.items():
        await fail_events(session, [event_id], error)
    await record_inbox_events(session, {event.inbox_id for event in events if event.id not in failed})


async def fail_events(session: AsyncSession, ids: list[uuid.UUID], reason: str) -> int:
    """Dead-letter inbound events that can never be processed: mark the ones not processed yet `failed`
    with `reason`, and count them on their inbox with the reason as its last error, so the admin sees a
    poison event instead of it retrying silently. Returns how many were marked (0 when already final)."""
    conn = await session.connection()
    reason = reason[:1000]
    rows = (
        await conn.execute(
            sa.update(_events)
            .where(_events.c.id.in_(ids), _events.c.state == "received")
            .values(state="failed", error=reason, processed_at=utcnow())
            .returning(_events.c.id, _events.c.inbox_id)
        )
    ).all()
    per_inbox: dict[uuid.UUID, int] = defaultdict(int)
    for event_id, inbox_id in rows:
        log.warning("inbound event %s failed for good: %s", event_id, reason)
        per_inbox[inbox_id] += 1
    for inbox_id, count in per_inbox.items():
        await conn.execute(
            sa.update(_inboxes)
            .where(_inboxes.c.id == inbox_id)
            .values(
                failed_events=_inboxes.c.failed_events + count,
                last_error=f"an inbound event could not be processed: {reason}"[:500],
                last_error_at=utcnow(),
            )
        )
    return len(rows)


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
