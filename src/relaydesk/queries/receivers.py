"""An inbox's background receiver (IMAP) as the API's inbox health and the admin's inbox page show it."""

from __future__ import annotations

from typing import Any

from relaydesk.models.inboxes import Inbox
from relaydesk.queries.serializers import iso


def receiver_health(inbox: Inbox) -> dict[str, Any] | None:
    """State (`connecting`, `connected`, `disconnected`, `stopped`) and last completed sync; None for an
    inbox that has never run a receiver. Its errors are the inbox's `last_error`. Never the cursor, the
    worker's name or any mail content."""
    if inbox.receiver_status is None:
        return None
    return {"state": inbox.receiver_status, "last_sync_at": iso(inbox.receiver_synced_at)}
