"""Outgoing webhook subscriptions of a workspace (integrators' endpoints) and their delivery cursor.

Delivery is an ordered pump over the `events` table: each endpoint remembers the last event sequence number
it acknowledged (`last_seq`), so events reach it in order, a failure holds the line until it succeeds, and
nothing needs a per-event delivery row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped


class WebhookEndpoint(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(sa.String(2000))
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    # Signing secret, sealed by relaydesk.privacy.storage.
    secret: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # Event types ("conversation.updated"), families ("message.*") or "*".
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    is_active: Mapped[bool] = mapped_column(default=True)
    # Highest workspace event sequence number delivered (or skipped as not subscribed).
    last_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # One delivery job at a time per endpoint keeps the order: the job holds this lease while it sends.
    locked_until: Mapped[dt.datetime | None]
    # Consecutive failures; the next attempt waits with exponential backoff until `next_attempt_at`.
    failure_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    last_delivered_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[dt.datetime | None]
