"""Record a realtime event inside the writing transaction; it is published once the transaction commits.

The per-workspace sequence comes from `UPDATE workspaces SET event_seq = event_seq + 1 RETURNING`, so the
row lock orders sequence numbers by commit: a client that has seen N and asks for "> N" never misses an
event that commits later with a smaller number.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.models.events import Event
from relaydesk.models.workspaces import Workspace

PENDING_KEY = "relaydesk.events"


async def emit(session: AsyncSession, workspace_id: uuid.UUID, type_: str, payload: dict[str, Any]) -> int:
    seq = (
        await session.execute(
            sa.update(Workspace)
            .where(Workspace.id == workspace_id)
            .values(event_seq=Workspace.event_seq + 1)
            .returning(Workspace.event_seq)
        )
    ).scalar_one()
    created_at = utcnow()
    session.add(Event(workspace_id=workspace_id, seq=seq, type=type_, payload=payload, created_at=created_at))
    session.info.setdefault(PENDING_KEY, []).append(
        event_message(workspace_id, seq, type_, payload, created_at.isoformat())
    )
    return seq


def event_message(
    workspace_id: uuid.UUID, seq: int, type_: str, payload: dict[str, Any], at: str
) -> dict[str, Any]:
    """The wire shape of an event, identical on the bus, on the socket and in the catch-up API."""
    return {"workspace_id": str(workspace_id), "seq": seq, "type": type_, "payload": payload, "at": at}


def taken_events(session: AsyncSession) -> list[dict[str, Any]]:
    return session.info.pop(PENDING_KEY, [])


async def events_since(
    session: AsyncSession, workspace_id: uuid.UUID, after: int, limit: int = 500
) -> list[dict]:
    rows = (
        await session.execute(
            sa.select(Event)
            .where(Event.workspace_id == workspace_id, Event.seq > after)
            .order_by(Event.seq)
            .limit(limit)
        )
    ).scalars()
    return [event_message(r.workspace_id, r.seq, r.type, r.payload, r.created_at.isoformat()) for r in rows]
