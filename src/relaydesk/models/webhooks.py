"""Outgoing webhook subscriptions of a workspace (integrators' endpoints)."""

from __future__ import annotations

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
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    is_active: Mapped[bool] = mapped_column(default=True)
