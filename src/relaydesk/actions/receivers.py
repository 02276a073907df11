"""The bookkeeping of background receivers (inbound/receivers.py): leases, cursors and the health line.

A receiver row exists per inbox whose channel pulls (IMAP). A worker process runs an inbox's receiver
only while it holds the row's lease (`holder` until `lease_until`): `claim` takes free or lapsed leases
and renews its own in one statement, so two workers never read the same mailbox; `save_state` (the
receiver's cursor, kept on the inbox as `inboxes.receiver_state`) refuses to write for a process whose
lease was taken over (`LeaseLost`), which then stops its receiver.
System work: these run for every workspace at once (the worker acts for no single tenant), each row
keyed by its inbox and carrying that inbox's `workspace_id`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions.inboxes import mark_needs_reauthorisation
from relaydesk.db.base import utcnow
from relaydesk.db.ids import uuid7
from relaydesk.db.statements import insert_ignoring_conflicts
from relaydesk.models.inboxes import Inbox
from relaydesk.models.receivers import InboxReceiver
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit

_table = InboxReceiver.__table__
_c = _table.c
_inboxes = Inbox.__table__


class LeaseLost(Exception):
    """Another process runs this inbox's receiver now."""


async def claim(
    session: AsyncSession,
    holder: str,
    inboxes: dict[uuid.UUID, uuid.UUID],
    lease_seconds: float,
) -> set[uuid.UUID]:
    """Take (or renew) the leases of `inboxes` (inbox id -> workspace id) that are free, lapsed or ours;
    returns the inbox ids this process holds now."""
    if not inboxes:
        return set()
    now = utcnow()
    conn = await session.connection()
    await conn.execute(
        insert_ignoring_conflicts(_table, conn.dialect.name),
        [
            {
                "id": uuid7(),
                "workspace_id": workspace_id,
                "inbox_id": inbox_id,
                "state": "stopped",
                "updated_at": now,
            }
            for inbox_id, workspace_id in inboxes.items()
        ],
    )
    rows = await conn.execute(
        sa.update(_table)
        .where(
            _c.inbox_id.in_(list(inboxes)),
            sa.or_(_c.holder.is_(None), _c.holder == holder, _c.lease_until < now),
        )
        .values(holder=holder, lease_until=now + dt.timedelta(seconds=lease_seconds))
        .returning(_c.inbox_id)
    )
    return set(rows.scalars())


async def release(session: AsyncSession, holder: str, inbox_ids: list[uuid.UUID]) -> None:
    """Give up leases (the receiver stopped: inbox disabled or deleted, or the process ends)."""
    if not inbox_ids:
        return
    await session.execute(
        sa.update(_table)
        .where(_c.inbox_id.in_(inbox_ids), _c.holder == holder)
        .values(holder=None, lease_until=None, state="stopped", updated_at=utcnow())
    )


async def load_state(session: AsyncSession, inbox_id: uuid.UUID) -> dict[str, Any] | None:
    """The receiver's cursor, kept on its inbox (`inboxes.receiver_state`)."""
    return (
        await session.execute(sa.select(_inboxes.c.receiver_state).where(_inboxes.c.id == inbox_id))
    ).scalar_one_or_none()


async def save_state(session: AsyncSession, holder: str, inbox_id: uuid.UUID, state: dict[str, Any]) -> None:
    """Move the receiver's cursor; only the lease holder may (else `LeaseLost`, and nothing is written)."""
    holds = sa.exists().where(_c.inbox_id == inbox_id, _c.holder == holder)
    result = await session.execute(
        sa.update(_inboxes).where(_inboxes.c.id == inbox_id, holds).values(receiver_state=state)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"the receiver of inbox {inbox_id} is held by another process now")


async def needs_reauthorisation(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_id: uuid.UUID, reason: str
) -> None:
    """The provider refused the inbox's credentials: mark the inbox (the supervisor stops its receiver
    until an admin replaces them, which clears the mark)."""
    await mark_needs_reauthorisation(session, inbox_id, reason)


async def record_status(
    session: AsyncSession,
    holder: str,
    inbox_id: uuid.UUID,
    *,
    state: str,
    last_sync_at: dt.datetime | None,
    last_error: str | None,
    last_error_at: dt.datetime | None,
) -> None:
    """The health line of the receiver (never mail content: states, times and an error text). A change of
    state or of error is an `inbox.updated` event, so the admin's page refreshes its line; a sync that
    changes nothing else only moves `last_sync_at`, silently."""
    before = (
        await session.execute(
            sa.select(_c.workspace_id, _c.state, _c.last_error_at).where(
                _c.inbox_id == inbox_id, _c.holder == holder
            )
        )
    ).first()
    if before is None:  # the lease is gone: another process reports for this inbox now
        return
    await session.execute(
        sa.update(_table)
        .where(_c.inbox_id == inbox_id, _c.holder == holder)
        .values(
            state=state,
            last_sync_at=last_sync_at,
            last_error=last_error[:500] if last_error else None,
            last_error_at=last_error_at,
            updated_at=utcnow(),
        )
    )
    if before.state != state or before.last_error_at != last_error_at:
        await emit(session, before.workspace_id, events.inbox_updated(inbox_id))
