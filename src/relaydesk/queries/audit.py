"""The audit trail's one read query, newest first: `GET /api/v1/audit-events` and the admin page
`/admin/audit` both call `audit_page`, so their filters and pagination cannot drift apart.

Filters combine with AND; `since` is inclusive, `until` exclusive, and both need a time zone. The cursor
follows `seq`, which is gap-free per workspace (privacy/audit.py), so a page is stable under appends.
Invalid values raise `InvalidInput` (the API answers 400, the page shows the message).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import InvalidInput
from relaydesk.models.audit import AuditEvent
from relaydesk.privacy.audit_chain import Outcome
from relaydesk.queries.pagination import decode_cursor, encode_cursor


@dataclass(frozen=True)
class AuditFilters:
    actor_id: str | None = None
    action: str | None = None  # exact
    action_prefix: str | None = None  # e.g. "auth." (the admin page; the API filters exactly)
    outcome: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone (e.g. 2026-01-31T12:00:00Z)")
    return value


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def audit_query(
    workspace_id: uuid.UUID, filters: AuditFilters, cursor: str | None
) -> sa.Select[tuple[AuditEvent]]:
    """The filtered, seq-descending statement (without its limit)."""
    aware(filters.since, "since")
    aware(filters.until, "until")
    if filters.outcome is not None and filters.outcome not in {o.value for o in Outcome}:
        raise InvalidInput(f"outcome must be one of {', '.join(o.value for o in Outcome)}")
    stmt = sa.select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    for column, value in (
        (AuditEvent.actor_id, filters.actor_id),
        (AuditEvent.action, filters.action),
        (AuditEvent.outcome, filters.outcome),
        (AuditEvent.target_type, filters.target_type),
        (AuditEvent.target_id, filters.target_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.action_prefix:
        stmt = stmt.where(AuditEvent.action.like(_like_prefix(filters.action_prefix), escape="\\"))
    if filters.since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < filters.until)
    after = decode_cursor(cursor, 1)
    if after is not None:
        if not isinstance(after[0], int) or isinstance(after[0], bool):
            raise InvalidInput("invalid cursor")
        stmt = stmt.where(AuditEvent.seq < after[0])
    return stmt.order_by(AuditEvent.seq.desc())


async def audit_page(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    filters: AuditFilters,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[AuditEvent], str | None]:
    """One page of the workspace's events, newest first, and the cursor of the next (older) page."""
    stmt = audit_query(workspace_id, filters, cursor)
    rows = list((await session.execute(stmt.limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].seq]) if more and rows else None
