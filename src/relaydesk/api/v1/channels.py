"""The channel types an inbox can be created for, so integrators and tools need not hard-code them."""

from __future__ import annotations

from typing import Any

from litestar import get

from relaydesk.auth.guards import requires_agent
from relaydesk.channels.registry import implemented_channels


@get("/channels", guards=[requires_agent])
async def channels_index() -> dict[str, Any]:
    """Read from the registry of implemented channels: what is listed here is what `POST /inboxes` accepts."""
    return {"items": [{"name": c.name, "label": c.label} for c in implemented_channels()]}


SCOPE_FAMILY = "inboxes"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [channels_index]
