"""Inboxes: one per connected channel, with encrypted credentials and non-secret settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped


class Inbox(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "inboxes"

    name: Mapped[str] = mapped_column(sa.String(200))
    # A plain string, not an enum: the implemented types are the specs in relaydesk.channels.registry.
    channel_type: Mapped[str] = mapped_column(sa.String(40))
    # Public routing id used in webhook URLs; it is not a secret (signatures are).
    public_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    # Secrets (signing keys, provider tokens) as one sealed JSON document: written and read only
    # through relaydesk.privacy.storage.
    credentials: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    last_event_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[dt.datetime | None]
    # Inbound events dead-lettered (marked `failed`): kept by actions.inbound_events.fail_events.
    failed_events: Mapped[int] = mapped_column(default=0, server_default="0")
    # The provider refused the credentials (channels.spec.ReauthorisationNeeded): nothing is sent through
    # the inbox until an admin replaces them (actions.inboxes.update_inbox clears both).
    reauth_reason: Mapped[str | None] = mapped_column(sa.Text)
    reauth_since: Mapped[dt.datetime | None]
    # A background receiver's cursor (IMAP UIDVALIDITY + last UID); not a setting, never shown.
    receiver_state: Mapped[dict[str, Any] | None]
    # Which worker runs the receiver, and until when its lease holds (jobs/handlers/receivers.py).
    receiver_owner: Mapped[str | None] = mapped_column(sa.String(120))
    receiver_until: Mapped[dt.datetime | None]
    # How the receiver is doing (connecting | connected | disconnected | stopped) and its last completed sync;
    # its errors go to `last_error`. Shown by the admin and the API's inbox health.
    receiver_status: Mapped[str | None] = mapped_column(sa.String(20))
    receiver_synced_at: Mapped[dt.datetime | None]
