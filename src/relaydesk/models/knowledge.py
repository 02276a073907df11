"""Knowledge base: a workspace's articles and FAQ entries, and the chunks retrieval searches.

This is the company's own published content, not personal data, so it is stored in plain text (the
retrieval index is computed from it). Every row carries `workspace_id` and every query filters on it:
one workspace's content can never reach another's answers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped, utcnow

ARTICLE_KINDS = ("article", "faq")


class KnowledgeArticle(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "knowledge_articles"
    __table_args__ = (sa.Index("ix_knowledge_articles_ws_updated", "workspace_id", "updated_at"),)

    kind: Mapped[str] = mapped_column(sa.String(20), default="article")
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    url: Mapped[str | None] = mapped_column(sa.String(2000))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    published: Mapped[bool] = mapped_column(default=True)
    # Where an import came from (file name and row/heading), so re-importing the same file updates.
    source_key: Mapped[str | None] = mapped_column(sa.String(500))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class KnowledgeChunk(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """A passage of an article as retrieval sees it: its text and its MiniLM vector (float32 bytes)."""

    __tablename__ = "knowledge_chunks"
    __table_args__ = (sa.Index("ix_knowledge_chunks_ws_article", "workspace_id", "article_id"),)

    article_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("knowledge_articles.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int] = mapped_column(default=0)
    heading: Mapped[str] = mapped_column(sa.String(300), default="")
    text: Mapped[str] = mapped_column(sa.Text)
    embedding: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
