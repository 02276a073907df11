"""Data-subject requests (access, later erasure, restriction, objection) with their legal deadline, and
the export archives that answer access requests."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped, utcnow


class SubjectRequest(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """One request a person made about their data, tracked until answered within `deadline_at` (30 days
    after receipt, GDPR art. 12(3)). Outlives the contact (`contact_id` is nulled at erasure) so the
    workspace can still show it was answered."""

    __tablename__ = "subject_requests"
    __table_args__ = (
        sa.Index("ix_subject_requests_ws_state_deadline", "workspace_id", "state", "deadline_at"),
    )

    kind: Mapped[str] = mapped_column(sa.String(20))  # access
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    # Who recorded it: a member (user, through the web or an API token) or the operator (system, CLI).
    requested_by_kind: Mapped[str] = mapped_column(sa.String(20))
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[dt.datetime]
    state: Mapped[str] = mapped_column(sa.String(20), default="open")  # open | completed | failed
    completed_at: Mapped[dt.datetime | None]


class ContactExport(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """A per-contact export archive (zip: export.json and the attachments), built by the `contacts.export`
    job, sealed under the contact's data key, downloadable once by its requester until `expires_at`."""

    __tablename__ = "contact_exports"

    request_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    # The member who may download it; None for an export the operator made with the CLI.
    requester_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(
        sa.String(20), default="pending"
    )  # pending|ready|downloaded|expired|failed
    # The zip, sealed (AES-256-GCM) under the contact key; emptied once downloaded or expired.
    archive: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    ready_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    downloaded_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
