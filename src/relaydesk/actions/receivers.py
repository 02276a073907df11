"""The inbox side of the channels' background receivers (channels/spec.py `Receiver`): which worker runs
an inbox's receiver (a lease on the inbox row), and the receiver's cursor.

A lease, not a lock: the worker holding it renews it at every scan; when that worker dies its lease runs
out and another one takes the inbox over. Work for no single workspace (it spans all of them), like the
job dispatcher: it runs with the connecting role (db/tenancy.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.models.inboxes import Inbox
from relaydesk.privacy import storage
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit

_inboxes = Inbox.__table__


@dataclass(frozen=True)
class ReceiverInbox:
    """What a receiver is started with. `fingerprint` changes when the settings or credentials do, so the
    worker restarts the receiver with the new configuration."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    channel_type: str
    credentials: dict[str, Any]
    settings: dict[str, Any]
    fingerprint: str


async def claim_receiver_inboxes(
    session: AsyncSession, owner: str, channel_types: list[str], lease_seconds: float
) -> list[ReceiverInbox]:
    """Take or renew the lease of every inbox this worker may run a receiver for: active, of a channel with
    a receiver, not waiting for re-authorisation, and not leased by another worker whose lease holds."""
    if not channel_types:
        return []
    now = utcnow()
    claimed = (
        await session.execute(
            sa.update(_inboxes)
            .where(
                _inboxes.c.channel_type.in_(channel_types),
                _inboxes.c.is_active.is_(True),
                _inboxes.c.reauth_since.is_(None),
                sa.or_(
                    _inboxes.c.receiver_owner.is_(None),
                    _inboxes.c.receiver_owner == owner,
                    _inboxes.c.receiver_until < now,
                ),
            )
            .values(receiver_owner=owner, receiver_until=now + dt.timedelta(seconds=lease_seconds))
            .returning(_inboxes.c.id)
        )
    ).scalars()
    ids = list(claimed)
    if not ids:
        return []
    inboxes = (await session.execute(sa.select(Inbox).where(Inbox.id.in_(ids)))).scalars()
    found = []
    for inbox in inboxes:
        settings = dict(inbox.settings or {})
        digest = hashlib.sha256(inbox.credentials or b"")
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
        found.append(
            ReceiverInbox(
                id=inbox.id,
                workspace_id=inbox.workspace_id,
                channel_type=inbox.channel_type,
                credentials=storage.read_inbox_credentials(inbox),
                settings=settings,
                fingerprint=digest.hexdigest(),
            )
        )
    return found


async def release_receiver_inboxes(session: AsyncSession, owner: str, inbox_ids: list[uuid.UUID]) -> None:
    """Give the leases back (the worker stops), so another worker need not wait for them to run out."""
    if inbox_ids:
        await session.execute(
            sa.update(_inboxes)
            .where(_inboxes.c.id.in_(inbox_ids), _inboxes.c.receiver_owner == owner)
            .values(receiver_owner=None, receiver_until=None, receiver_status="stopped")
        )


async def record_receiver_status(
    session: AsyncSession,
    inbox_id: uuid.UUID,
    owner: str,
    state: str,
    synced_at: dt.datetime | None,
) -> None:
    """The receiver's state and last completed sync, while this worker holds the lease. A change of state is
    an `inbox.updated` event (the admin's health line refreshes); a sync alone only moves the time."""
    before = (
        await session.execute(
            sa.select(_inboxes.c.workspace_id, _inboxes.c.receiver_status).where(
                _inboxes.c.id == inbox_id, _inboxes.c.receiver_owner == owner
            )
        )
    ).first()
    if before is None:  # the lease is gone: the new holder reports now
        return
    values: dict[str, Any] = {"receiver_status": state[:20]}
    if synced_at is not None:
        values["receiver_synced_at"] = synced_at
    await session.execute(
        sa.update(_inboxes)
        .where(_inboxes.c.id == inbox_id, _inboxes.c.receiver_owner == owner)
        .values(**values)
    )
    if before.receiver_status != state:
        await emit(session, before.workspace_id, events.inbox_updated(inbox_id))


async def load_receiver_state(session: AsyncSession, inbox_id: uuid.UUID) -> dict[str, Any]:
    state = (
        await session.execute(sa.select(_inboxes.c.receiver_state).where(_inboxes.c.id == inbox_id))
    ).scalar_one_or_none()
    return dict(state or {})


async def save_receiver_state(
    session: AsyncSession, inbox_id: uuid.UUID, owner: str, state: dict[str, Any]
) -> bool:
    """Store the receiver's cursor, only while this worker holds the inbox's lease (a worker that lost it
    must not move the cursor under the new holder). Returns whether it was stored."""
    result = await session.execute(
        sa.update(_inboxes)
        .where(_inboxes.c.id == inbox_id, _inboxes.c.receiver_owner == owner)
        .values(receiver_state=state)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
