"""Realtime: the WebSocket and the HTTP catch-up for clients that cannot hold a socket."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.params import Parameter

from relaydesk.auth.guards import requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.realtime.events import events_since
from relaydesk.realtime.gateway import realtime
from relaydesk.runtime import Runtime


@get("/events", guards=[requires_agent])
async def events_index(
    principal: Principal,
    runtime: Runtime,
    after: int = Parameter(default=0, ge=0),
    limit: int = Parameter(default=100, ge=1, le=500),
) -> dict[str, Any]:
    """Events with sequence number greater than `after`, oldest first."""
    async with runtime.db.read() as session:
        items = await events_since(session, principal.workspace_id, after, limit)
    return {"items": items, "last_seq": items[-1]["seq"] if items else after}


SCOPE_FAMILY = "events"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [events_index, realtime]
