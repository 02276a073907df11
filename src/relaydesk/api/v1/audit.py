"""The workspace's audit trail for admins: `GET /audit-events`, newest first, with filters.

Rows name actors and targets by id only (privacy/audit.py); `hash`/`prev_hash` let an integrator re-check
the chain (docs/encryption.md §6). Pagination follows `seq`, which is gap-free per workspace.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from litestar import get
from litestar.params import Parameter

from relaydesk.api.pagination import check_limit, decode_cursor, encode_cursor
from relaydesk.api.serializers import iso
from relaydesk.api.v1._common import Cursor, Limit
from relaydesk.auth.guards import requires_admin
from relaydesk.auth.principal import Principal
from relaydesk.errors import InvalidInput
from relaydesk.models.audit import AuditEvent
from relaydesk.runtime import Runtime

Filter = Annotated[str | None, Parameter(max_length=80)]
Moment = Annotated[dt.datetime | None, Parameter(description="ISO 8601 with a time zone")]


def event_json(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "seq": row.seq,
        "occurred_at": iso(row.occurred_at),
        "actor_kind": row.actor_kind,
        "actor_id": row.actor_id,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip": row.ip,
        "request_id": row.request_id,
        "outcome": row.outcome,
        "metadata": row.details,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def _aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone (e.g. 2026-01-31T12:00:00Z)")
    return value


@get("/audit-events", guards=[requires_admin])
async def audit_events_index(
    principal: Principal,
    runtime: Runtime,
    actor_id: Filter = None,
    action: Filter = None,
    target_type: Filter = None,
    target_id: Filter = None,
    since: Moment = None,
    until: Moment = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Filters combine with AND; `since` is inclusive, `until` exclusive."""
    check_limit(limit)
    since, until = _aware(since, "since"), _aware(until, "until")
    stmt = sa.select(AuditEvent).where(AuditEvent.workspace_id == principal.workspace_id)
    for column, value in (
        (AuditEvent.actor_id, actor_id),
        (AuditEvent.action, action),
        (AuditEvent.target_type, target_type),
        (AuditEvent.target_id, target_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < until)
    after = decode_cursor(cursor, 1)
    if after is not None:
        if not isinstance(after[0], int) or isinstance(after[0], bool):
            raise InvalidInput("invalid cursor")
        stmt = stmt.where(AuditEvent.seq < after[0])
    async with runtime.db.read() as session:
        rows = list((await session.execute(stmt.order_by(AuditEvent.seq.desc()).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [event_json(r) for r in rows],
        "next_cursor": encode_cursor([rows[-1].seq]) if more and rows else None,
    }


ROUTES = [audit_events_index]
