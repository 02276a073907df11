"""Raw inbound provider requests, stored before anything is parsed (acknowledge first, process later)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, IdMixin, WorkspaceScoped, utcnow


class InboundEvent(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "inbound_events"
    __table_args__ = (
        # Idempotency as a database fact: the provider's event/message id, unique per inbox.
        sa.UniqueConstraint("inbox_id", "dedupe_key"),
        # A byte-identical signed request seen twice is a replay, refused.
        sa.UniqueConstraint("inbox_id", "signature_hash"),
    )

    inbox_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("inboxes.id", ondelete="CASCADE"), index=True)
    channel_type: Mapped[str] = mapped_column(sa.String(40))
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(255))
    signature_hash: Mapped[str | None] = mapped_column(sa.String(64))
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Raw body: may contain personal data; written and read only through relaydesk.privacy.storage.
    body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    state: Mapped[str] = mapped_column(sa.String(20), default="received")
    error: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None]
