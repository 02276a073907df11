"""The workspace's audit trail for admins: `GET /audit-events`, newest first, with filters.

Rows name actors and targets by id only (privacy/audit.py); `hash`/`prev_hash` let an integrator re-check
the chain (docs/encryption.md §6). The query is queries/audit.py, shared with the admin page
`/admin/audit`; pagination follows `seq`, which is gap-free per workspace.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import get
from litestar.params import Parameter

from relaydesk.api.v1._common import Cursor, Limit
from relaydesk.auth.guards import requires_admin
from relaydesk.auth.principal import Principal
from relaydesk.models.audit import AuditEvent
from relaydesk.queries.audit import AuditFilters, audit_page
from relaydesk.queries.pagination import check_limit
from relaydesk.queries.serializers import iso
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
    filters = AuditFilters(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
    )
    async with runtime.db.read() as session:
        rows, next_cursor = await audit_page(
            session, principal.workspace_id, filters, cursor=cursor, limit=limit
        )
    return {"items": [event_json(r) for r in rows], "next_cursor": next_cursor}


SCOPE_FAMILY = "audit"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [audit_events_index]
