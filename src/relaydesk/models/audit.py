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

from relaydesk.db.base import Base, IdMixin, utcnow


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


class AuditCheckpoint(IdMixin, Base):
    """Where a workspace's chain now starts after a retention purge (privacy/audit.py `purge_before`).

    `seq` and `hash` are those of the last purged row: the first remaining row must carry `hash` as its
    `prev_hash` and `seq + 1` as its seq, so `relaydesk audit verify` still checks the rest of the chain.
    `mac` is an HMAC of (workspace, seq, hash) under a subkey of master key `key_id`, which the database
    does not hold: someone able to write the database cannot forge a checkpoint to hide removed rows.
    Append-only like the events (a trigger on PostgreSQL); `relaydesk audit checkpoints` exports them.
    """

    __tablename__ = "audit_checkpoints"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "seq"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))
    last_occurred_at: Mapped[dt.datetime]
    purged: Mapped[int] = mapped_column(sa.BigInteger)
    key_id: Mapped[str] = mapped_column(sa.String(64))
    mac: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
