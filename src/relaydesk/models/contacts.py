"""Contacts (end customers) and their identities on each channel.

Personal columns (name, email, phone, custom attributes) are read and written only through
relaydesk.privacy.storage, which owns how they are stored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped, utcnow


class Contact(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "contacts"
    __table_args__ = (sa.Index("ix_contacts_ws_email", "workspace_id", "email"),)

    name: Mapped[str | None] = mapped_column(sa.Text)
    email: Mapped[str | None] = mapped_column(sa.Text)
    phone: Mapped[str | None] = mapped_column(sa.Text)
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_activity_at: Mapped[dt.datetime | None]


class ContactIdentity(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """How a contact is known on one inbox (phone number, PSID, chat id, e-mail address, integrator id)."""

    __tablename__ = "contact_identities"
    __table_args__ = (sa.UniqueConstraint("inbox_id", "external_id"),)

    contact_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    inbox_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("inboxes.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(sa.String(255))
