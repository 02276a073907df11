"""Record a realtime event inside the writing transaction; it is published once the transaction commits.

The per-workspace sequence comes from `UPDATE workspaces SET event_seq = event_seq + 1 RETURNING`, so the
row lock orders sequence numbers by commit: a client that has seen N and asks for "> N" never misses an
event that commits later with a smaller number.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.db.ids import uuid7
from relaydesk.models.events import Event as EventRow
from relaydesk.models.workspaces import Workspace
from relaydesk.realtime.catalogue import CATALOGUE, Event, UnknownEvent, check

PENDING_KEY = "relaydesk.events"

_workspaces = Workspace.__table__
_NEXT_SEQ = (
    sa.update(_workspaces)
    .where(_workspaces.c.id == sa.bindparam("ws"))
    .values(event_seq=_workspaces.c.event_seq + sa.bindparam("n"))
    .returning(_workspaces.c.event_seq)
)
_INSERT_EVENTS = sa.insert(EventRow.__table__)


_check_payloads = False


def check_payloads(enabled: bool) -> None:
    """Validate every emitted payload against its catalogued schema (the test suite turns this on, so an
    event that drifts from its schema fails a test; in production the builders are trusted)."""
    global _check_payloads
    _check_payloads = enabled


async def emit(session: AsyncSession, workspace_id: uuid.UUID, event: Event) -> int:
    """Record `event` (made by a builder of realtime/catalogue.py) in the caller's transaction."""
    return (await emit_many(session, workspace_id, [event]))[0]


async def emit_many(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    events: list[Event],
    *,
    conn: AsyncConnection | None = None,
) -> list[int]:
    """Record several events of one workspace with one sequence allocation and one insert.

    The batch inbound path emits hundreds of events per transaction; one `UPDATE … RETURNING` for all of
    them keeps the ordering guarantee (the row lock is held to commit) at a fraction of the statements.
    `conn`: the session's connection, when the caller already works on it (skips the ORM layer)."""
    if not events:
        return []
    for type_, payload in events:
        if _check_payloads:
            check(type_, payload)
        elif type_ not in CATALOGUE:
            raise UnknownEvent(f"event type {type_!r} is not in the catalogue (realtime/catalogue.py)")
    target = conn if conn is not None else session
    last = (await target.execute(_NEXT_SEQ, {"ws": workspace_id, "n": len(events)})).scalar_one()
    first = last - len(events) + 1
    created_at = utcnow()
    at = created_at.isoformat()
    rows = []
    pending = session.info.setdefault(PENDING_KEY, [])
    for offset, (type_, payload) in enumerate(events):
        seq = first + offset
        rows.append(
            {
                "id": uuid7(),
                "workspace_id": workspace_id,
                "seq": seq,
                "type": type_,
                "payload": payload,
                "created_at": created_at,
            }
        )
        pending.append(event_message(workspace_id, seq, type_, payload, at))
    await target.execute(_INSERT_EVENTS, rows)
    return list(range(first, last + 1))


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
            sa.select(EventRow)
            .where(EventRow.workspace_id == workspace_id, EventRow.seq > after)
            .order_by(EventRow.seq)
            .limit(limit)
        )
    ).scalars()
    return [event_message(r.workspace_id, r.seq, r.type, r.payload, r.created_at.isoformat()) for r in rows]
