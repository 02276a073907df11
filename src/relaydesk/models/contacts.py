"""Contacts (end customers) and their identities on each channel.

Personal columns (name, email, phone, notes, custom attributes) hold AES-256-GCM ciphertext sealed under
the contact's own data key; they are read and written only through relaydesk.privacy.storage. Exact
lookups go through keyed blind indexes (`email_bidx`, `phone_bidx`), never the plaintext.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped, utcnow


class Contact(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        sa.Index("ix_contacts_ws_email_bidx", "workspace_id", "email_bidx"),
        sa.Index("ix_contacts_ws_phone_bidx", "workspace_id", "phone_bidx"),
    )

    name: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    email: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    phone: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # A sealed JSON object (every custom attribute is treated as personal).
    custom_attributes: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    notes: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # HMAC-SHA256 digests under the workspace's blind-index key (lower-cased e-mail, E.164 phone).
    email_bidx: Mapped[bytes | None] = mapped_column(sa.LargeBinary(16))
    phone_bidx: Mapped[bytes | None] = mapped_column(sa.LargeBinary(16))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_activity_at: Mapped[dt.datetime | None]
    # Processing restricted (GDPR art. 18) since then: data kept, but AI, automations and outgoing
    # webhooks skip the contact (actions/subject_rights.py). None: not restricted.
    restricted_at: Mapped[dt.datetime | None]


class ContactIdentity(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """How a contact is known on one inbox (phone number, PSID, chat id, e-mail address, integrator id)."""

    __tablename__ = "contact_identities"
    __table_args__ = (sa.UniqueConstraint("inbox_id", "external_id"),)

    contact_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    inbox_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("inboxes.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(sa.String(255))
    # A chat visitor's presence (actions/offline_fallback.py): while this lies ahead their socket is open;
    # replies to a visitor who has left go by e-mail. Only the widget's socket writes it.
    present_until: Mapped[dt.datetime | None]
