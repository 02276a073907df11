"""Background receivers (an IMAP mailbox today): who runs each inbox's receiver, and how it is doing.

One row per inbox whose channel fetches from the provider instead of being called (a channel spec with a
`receiver`). The worker process holding the lease (`holder` until `lease_until`) runs the receiver; the
others leave it alone, so two workers never read one mailbox at once. The state columns are the admin's
and the API's health line (connected, last sync, last error); they never hold mail content. The
receiver's cursor lives on the inbox (`inboxes.receiver_state`).
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, IdMixin, WorkspaceScoped, utcnow


class InboxReceiver(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "inbox_receivers"

    inbox_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("inboxes.id", ondelete="CASCADE"), unique=True, index=True
    )
    # connecting | connected | disconnected | stopped
    state: Mapped[str] = mapped_column(sa.String(20), default="stopped")
    last_sync_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[dt.datetime | None]
    holder: Mapped[str | None] = mapped_column(sa.String(200))
    lease_until: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
