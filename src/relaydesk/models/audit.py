"""Append-only, per-workspace hash-chained audit events (privacy/audit.py writes them, docs/encryption.md §6).

Rows reference people and objects by id only, never by content, so erasure never rewrites the chain.
On PostgreSQL a trigger refuses UPDATE and DELETE (db/schema.py).

`workspace_id` has no foreign key on purpose: the trail must outlive a deleted workspace, and
platform-level events (a failed login for an unknown e-mail) go to the platform chain, whose id is the
nil UUID (`privacy.audit.PLATFORM`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, IdMixin


class AuditEvent(IdMixin, Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        # One writer per (workspace, seq): a concurrent append loses and retries instead of forking.
        sa.UniqueConstraint("workspace_id", "seq"),
        sa.Index("ix_audit_events_ws_occurred", "workspace_id", "occurred_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    occurred_at: Mapped[dt.datetime]
    actor_kind: Mapped[str] = mapped_column(sa.String(20))
    actor_id: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(80))
    target_type: Mapped[str | None] = mapped_column(sa.String(40))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(20))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
