"""Blind search index: keyed digests of normalised words, never the words themselves.

See docs/decisions.md: SQLite FTS5 and PostgreSQL tsvector would store message text in clear beside the
encrypted message, so search uses one portable token table instead.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, WorkspaceScoped


class SearchToken(WorkspaceScoped, Base):
    __tablename__ = "search_tokens"
    __table_args__ = (
        sa.PrimaryKeyConstraint("workspace_id", "kind", "token", "subject_id"),
        # Led by workspace_id like the primary key, so deleting a subject's tokens is planned on this
        # index (two equalities beat one) even when SQLite has no ANALYZE statistics.
        sa.Index("ix_search_tokens_subject", "workspace_id", "subject_id"),
    )

    # "m" message, "c" contact.
    kind: Mapped[str] = mapped_column(sa.String(1))
    token: Mapped[bytes] = mapped_column(sa.LargeBinary(16))
    # Ids are time-ordered UUIDs, so ordering by subject_id gives newest first with no extra column.
    subject_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
