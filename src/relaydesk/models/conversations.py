"""Conversations, labels and the label links between them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped, utcnow

STATUSES = ("open", "pending", "snoozed", "resolved")
PRIORITIES = ("none", "low", "medium", "high", "urgent")


class Conversation(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "display_number"),
        # The inbox views walk these in list order and stop after one page (bench/conversation_list.py):
        # `id` ends each one because it breaks ties in the ORDER BY, so no sort step is left; the
        # assignee index carries `status` so "mine, open" skips an agent's resolved history.
        sa.Index("ix_conversations_list", "workspace_id", "status", "last_activity_at", "id"),
        sa.Index(
            "ix_conversations_assignee", "workspace_id", "assignee_id", "status", "last_activity_at", "id"
        ),
        sa.Index("ix_conversations_activity", "workspace_id", "last_activity_at", "id"),
        sa.Index("ix_conversations_created", "workspace_id", "status", "created_at", "id"),
        # sort=waiting walks this for the conversations someone waits on (longest wait first) and the
        # list indexes above for the rest (queries/conversations.py). Partial: only waiting rows, which
        # actions clear on an agent's reply and on resolve, so it stays small and cheap to maintain.
        sa.Index(
            "ix_conversations_waiting",
            "workspace_id",
            "status",
            "waiting_since",
            "id",
            sqlite_where=sa.text("waiting_since IS NOT NULL"),
            postgresql_where=sa.text("waiting_since IS NOT NULL"),
        ),
    )

    display_number: Mapped[int] = mapped_column(sa.BigInteger)
    inbox_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("inboxes.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    snoozed_until: Mapped[dt.datetime | None]
    priority: Mapped[str] = mapped_column(sa.String(20), default="none")
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_activity_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Last customer message: drives the channel reply window and "waiting since" sorting.
    last_incoming_at: Mapped[dt.datetime | None]
    waiting_since: Mapped[dt.datetime | None]
    first_reply_at: Mapped[dt.datetime | None]
    # Denormalised for the inbox list: one indexed read per page, no per-row aggregate.
    last_message_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    unread_count: Mapped[int] = mapped_column(default=0)
    agent_last_seen_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Label(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "labels"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(80))
    color: Mapped[str] = mapped_column(sa.String(9), default="#6b7280")
    description: Mapped[str] = mapped_column(sa.Text, default="")


class ConversationLabel(WorkspaceScoped, Base):
    __tablename__ = "conversation_labels"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    label_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True, index=True
    )
