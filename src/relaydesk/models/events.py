"""Realtime events: the database is the truth, the bus only a fast path."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped


class Event(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "events"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "seq"),)

    seq: Mapped[int] = mapped_column(sa.BigInteger)
    type: Mapped[str] = mapped_column(sa.String(60))
    # Ids and state only, never message content or contact PII.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
