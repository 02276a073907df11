"""The background receivers' health line (inbound/receivers.py), as the API and the admin show it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.models.receivers import InboxReceiver
from relaydesk.queries.serializers import iso


def receiver_json(row: InboxReceiver) -> dict[str, Any]:
    """State, last completed sync and last error; never the cursor, the lease holder or mail content."""
    return {
        "state": row.state,
        "last_sync_at": iso(row.last_sync_at),
        "last_error": row.last_error,
        "last_error_at": iso(row.last_error_at),
    }


async def receivers_of(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The health of the given inboxes' receivers in one query (inboxes without one are absent)."""
    ids = list(inbox_ids)
    if not ids:
        return {}
    rows = (
        await session.execute(
            sa.select(InboxReceiver).where(
                InboxReceiver.workspace_id == workspace_id, InboxReceiver.inbox_id.in_(ids)
            )
        )
    ).scalars()
    return {row.inbox_id: receiver_json(row) for row in rows}
