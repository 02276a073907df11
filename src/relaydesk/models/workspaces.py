"""Workspaces (tenants and data controllers), memberships with roles, and teams."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, WorkspaceScoped

ROLES = ("owner", "admin", "agent")


class Workspace(IdMixin, CreatedMixin, Base):
    __tablename__ = "workspaces"

    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Counters bumped with UPDATE ... RETURNING inside the writing transaction: the row lock orders the
    # realtime event sequence by commit and hands out gap-free conversation display numbers.
    event_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    conversation_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class Membership(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(40), default="agent")
    is_active: Mapped[bool] = mapped_column(default=True)
    deactivated_at: Mapped[dt.datetime | None]


class Team(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    __tablename__ = "teams"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.Text, default="")


class TeamMember(WorkspaceScoped, Base):
    __tablename__ = "team_members"

    team_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
