"""Messages and their attachments. Content and bytes go through relaydesk.privacy.storage only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped, utcnow

MESSAGE_TYPES = ("incoming", "outgoing", "note", "activity")
SENDER_KINDS = ("customer", "agent", "ai", "system")
# Delivery statuses only move forward; `failed` may still be overridden by a later delivered/read.
DELIVERY_ORDER = {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 1}


def _ordered_at_default(context: Any) -> dt.datetime:
    """A message without a provider time sits in the thread at the time Relaydesk stored it."""
    return context.get_current_parameters().get("created_at") or utcnow()


class Message(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("inbox_id", "provider_message_id"),
        # The thread order (ordered_at, id): pages of a conversation and the AI's recent context.
        sa.Index("ix_messages_conversation_order", "conversation_id", "ordered_at", "id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("conversations.id", ondelete="CASCADE"))
    inbox_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("inboxes.id", ondelete="CASCADE"))
    message_type: Mapped[str] = mapped_column(sa.String(20))
    sender_kind: Mapped[str] = mapped_column(sa.String(20))
    sender_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    sender_contact_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL")
    )
    # Sealed under the conversation contact's data key (privacy/storage/).
    content: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    content_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(sa.String(20), default="sent")
    # Outgoing: when Relaydesk handed it to the channel. Incoming: when the customer sent it, as the
    # provider says (kept as given, even when implausible; `ordered_at` decides whether to trust it).
    sent_at: Mapped[dt.datetime | None]
    # Where the message sits in its thread (actions/incoming.py: thread_time): the provider's time when
    # given and plausible, else `created_at` (when Relaydesk received or wrote it).
    ordered_at: Mapped[dt.datetime] = mapped_column(default=_ordered_at_default)
    delivered_at: Mapped[dt.datetime | None]
    read_at: Mapped[dt.datetime | None]
    failed_at: Mapped[dt.datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(sa.Text)
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(255))
    reply_to_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("messages.id", ondelete="SET NULL"))
    # The raw inbound event a customer's message was parsed from (no foreign key: retention keeps event
    # rows, and a message outlives nothing by it); erasure drops that event's body.
    inbound_event_id: Mapped[uuid.UUID | None]


class Attachment(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """A file attached to a message. Everything that could identify the file is sealed or keyed under the
    message's contact key (privacy/storage/): the bytes, the file name, and a keyed digest of the content.
    Content type and size stay in clear (docs/encryption.md §4)."""

    __tablename__ = "attachments"
    __table_args__ = (
        # Rows still holding a clear name/digest from before revision 0007: the conversion job walks this
        # (empty once converted) instead of scanning the table (jobs/handlers/attachments.py).
        sa.Index(
            "ix_attachments_clear_metadata",
            "workspace_id",
            "id",
            sqlite_where=sa.text("filename IS NOT NULL"),
            postgresql_where=sa.text("filename IS NOT NULL"),
        ),
    )

    message_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    # Sealed under the contact key; AAD column "filename_sealed".
    filename_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # HMAC-SHA256 of the content's SHA-256 under a subkey of the contact key (noise once it is shredded).
    digest: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    content_type: Mapped[str] = mapped_column(sa.String(120))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    # Clear metadata of rows written before revision 0007, NULL once converted; new rows never set them.
    legacy_filename: Mapped[str | None] = mapped_column("filename", sa.String(255))
    legacy_sha256: Mapped[str | None] = mapped_column("sha256", sa.String(64))
