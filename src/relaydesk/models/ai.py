"""AI settings, per-conversation and per-contact switch-offs, and the log of automated decisions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped, utcnow


class AiSettings(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """One row per workspace (inbox_id NULL) and optionally one per inbox overriding it.

    `config` holds only the keys set at that level; the effective settings are the defaults, then the
    workspace row, then the inbox row. The provider API key is sealed (privacy.storage.seal_secret).
    """

    __tablename__ = "ai_settings"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "inbox_id"),
        # NULLs are distinct in a unique constraint: this keeps the workspace-level row single too.
        sa.Index(
            "uq_ai_settings_workspace_level",
            "workspace_id",
            unique=True,
            postgresql_where=sa.text("inbox_id IS NULL"),
            sqlite_where=sa.text("inbox_id IS NULL"),
        ),
    )

    inbox_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("inboxes.id", ondelete="CASCADE"))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    api_key_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # What the last probe of an OpenAI-compatible endpoint found (models, tool calling), for the admin.
    probe: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AiConversationState(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """Where the automated agent stands in one conversation: switched off, handed off, offers made."""

    __tablename__ = "ai_conversation_states"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    ai_off: Mapped[bool] = mapped_column(default=False)
    off_reason: Mapped[str | None] = mapped_column(sa.String(60))
    handed_off_at: Mapped[dt.datetime | None]
    clarify_count: Mapped[int] = mapped_column(default=0)
    handoff_offered_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AiContactPreference(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """A contact who objected to automated handling (or whom an agent excluded) never gets the AI."""

    __tablename__ = "ai_contact_preferences"

    contact_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="CASCADE"), unique=True
    )
    ai_off: Mapped[bool] = mapped_column(default=True)
    reason: Mapped[str] = mapped_column(sa.String(60), default="objection")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AiDecision(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """One automated decision: its inputs as ids and scores, its sources and its outcome.

    No message text is stored here: the message ids point at the (encrypted) content, so erasing a
    contact leaves nothing readable behind in the log.
    """

    __tablename__ = "ai_decisions"
    __table_args__ = (sa.Index("ix_ai_decisions_conversation", "conversation_id", "created_at"),)

    conversation_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("messages.id", ondelete="SET NULL"))
    reply_message_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("messages.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(sa.String(30))
    reason_category: Mapped[str | None] = mapped_column(sa.String(40))
    provider: Mapped[str] = mapped_column(sa.String(20), default="local")
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sources: Mapped[list[Any]] = mapped_column(default=list)
    contested: Mapped[bool] = mapped_column(default=False)
    contested_at: Mapped[dt.datetime | None]
    contest_note: Mapped[str | None] = mapped_column(sa.String(500))


class AiIntent(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """A workspace's own intent, or its changes to a built-in one (`builtin`, same name as the default).

    For a built-in intent the row holds only what the workspace changed: `examples` are the phrases it
    added to the shipped ones, `enabled` whether the intent stays in its model. Built-in rows use a
    deterministic id (actions.ai_intents.builtin_id) so the id the API shows is the same before and after
    the first change. Examples are company-written phrases (like knowledge articles), kept in plain text.
    """

    __tablename__ = "ai_intents"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(60))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    examples: Mapped[list[Any]] = mapped_column(default=list)
    builtin: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Hand the conversation to people as soon as this intent is detected (a policy rule).
    handoff: Mapped[bool] = mapped_column(default=False)
    # Classification: the label added and the priority raised to when this intent is detected.
    label_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("labels.id", ondelete="SET NULL"))
    priority: Mapped[str | None] = mapped_column(sa.String(20))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AiIntentModel(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """One version of a workspace's trained intent classifier: queued, training, ready or failed.

    The newest `ready` version serves; a newer `queued`/`training`/`failed` one never replaces it until it
    is ready. The model is the classifier's own pickle-free npz blob, stored in the row so every server
    and worker sees it through the database alone (see docs/decisions.md).
    """

    __tablename__ = "ai_intent_models"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "version"),)

    version: Mapped[int] = mapped_column(sa.Integer)
    state: Mapped[str] = mapped_column(sa.String(20), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    intent_count: Mapped[int] = mapped_column(default=0)
    example_count: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.String(2000))
    started_at: Mapped[dt.datetime | None]
    trained_at: Mapped[dt.datetime | None]
    model_bytes: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    model_size: Mapped[int] = mapped_column(default=0)
    #: Cross-validated estimate on the training phrases (ai/evaluation.py), None if it could not be made.
    evaluation: Mapped[dict[str, Any] | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
