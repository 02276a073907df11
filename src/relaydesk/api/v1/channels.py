"""The channel types an inbox can be created for, with the schema of their credentials and settings, so
integrators and tools need not hard-code them."""

from __future__ import annotations

from typing import Any

from litestar import get

from relaydesk.auth.guards import requires_agent
from relaydesk.channels.registry import implemented_channels


@get("/channels", guards=[requires_agent])
async def channels_index() -> dict[str, Any]:
    """Read from the channels' specs: what is listed here is what `POST /inboxes` accepts, and each
    channel's `credentials` and `settings` fields are what its `credentials` and `settings` objects may
    hold (never any inbox's values)."""
    return {"items": [spec.schema() for spec in implemented_channels()]}


SCOPE_FAMILY = "inboxes"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [channels_index]
