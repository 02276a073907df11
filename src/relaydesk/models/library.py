"""Workspace-level reusable things: canned responses and custom attribute definitions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped

ATTRIBUTE_TYPES = ("text", "number", "date", "boolean", "list", "link")


class CannedResponse(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "canned_responses"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "short_code"),)

    short_code: Mapped[str] = mapped_column(sa.String(80))
    content: Mapped[str] = mapped_column(sa.Text)


class AttributeDefinition(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "attribute_definitions"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "applies_to", "key"),)

    applies_to: Mapped[str] = mapped_column(sa.String(20))  # contact | conversation
    key: Mapped[str] = mapped_column(sa.String(80))
    label: Mapped[str] = mapped_column(sa.String(120))
    value_type: Mapped[str] = mapped_column(sa.String(20), default="text")
    # Personal attributes are encrypted with the contact's key and erased with it.
    is_personal: Mapped[bool] = mapped_column(default=False)
    options: Mapped[list[Any]] = mapped_column(default=list)
