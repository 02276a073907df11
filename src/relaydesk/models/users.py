"""People who log in, their API tokens, browser sessions and invitations."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db.base import Base, CreatedMixin, IdMixin, JsonType, WorkspaceScoped


class User(IdMixin, CreatedMixin, Base):
    """A person; belongs to workspaces through memberships. Not tenant-owned: one login, many workspaces."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[dt.datetime | None]
    # TOTP second factor: the shared secret sealed by privacy.storage.seal_secret, set while enrolling and
    # kept once confirmed (`totp_enabled_at`); the last accepted time step refuses replays.
    totp_secret: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    totp_enabled_at: Mapped[dt.datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)


class ApiToken(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """A personal API token; only its SHA-256 is stored, the clear value is shown once."""

    __tablename__ = "api_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    last_used_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    # auth/scopes.py: ["*"] full access (what every token had before scopes), ["*:read"] read-only, or
    # per family ["conversations:write", "contacts:read", ...].
    scopes: Mapped[list[str]] = mapped_column(JsonType, default=lambda: ["*"], server_default='["*"]')


class UserSession(CreatedMixin, Base):
    """A server-side browser session; the cookie holds a random id, the table holds its SHA-256."""

    __tablename__ = "user_sessions"

    id_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="SET NULL")
    )
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    # "full" sessions reach the app; "mfa" waits for the second factor, "enrol" may only set up 2FA.
    stage: Mapped[str] = mapped_column(sa.String(10), default="full")
    # When the password was last re-entered: sensitive changes need it to be recent.
    reauth_at: Mapped[dt.datetime | None]


class RecoveryCode(IdMixin, CreatedMixin, Base):
    """One single-use 2FA recovery code; only its SHA-256 is kept (see auth/totp.py for why not argon2)."""

    __tablename__ = "recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class Invitation(IdMixin, CreatedMixin, WorkspaceScoped, Base):
    """An invitation link for a new agent; only the token's SHA-256 is stored."""

    __tablename__ = "invitations"

    email: Mapped[str] = mapped_column(sa.String(320))
    role: Mapped[str] = mapped_column(sa.String(40), default="agent")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[dt.datetime]
    accepted_at: Mapped[dt.datetime | None]
