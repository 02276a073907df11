"""Server-side browser sessions.

The cookie carries 256 random bits; the table keeps only their SHA-256, so a database leak yields no
usable session. A new id is issued at every login (and on workspace switch), idle and absolute expiry are
enforced on every request, and logout deletes the row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.config import Settings
from relaydesk.db.base import utcnow
from relaydesk.models.users import UserSession

COOKIE_NAME = "rd_session"
SECURE_COOKIE_NAME = "__Host-rd_session"
TOUCH_EVERY = dt.timedelta(seconds=60)


def cookie_name(settings: Settings) -> str:
    return SECURE_COOKIE_NAME if settings.secure_cookies else COOKIE_NAME


def hash_session_id(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def start_session(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    workspace_id: uuid.UUID | None,
    *,
    ip: str | None,
    user_agent: str | None,
    replaces: str | None = None,
    stage: str = "full",
) -> str:
    """Create a session and return the raw id for the cookie; `replaces` (a raw id) is deleted (rotation)."""
    if replaces:
        await session.execute(sa.delete(UserSession).where(UserSession.id_hash == hash_session_id(replaces)))
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        UserSession(
            id_hash=hash_session_id(raw),
            user_id=user_id,
            workspace_id=workspace_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(seconds=settings.session_absolute_seconds),
            ip=ip,
            user_agent=(user_agent or "")[:300],
            stage=stage,
        )
    )
    return raw


def is_expired(row: UserSession, settings: Settings, now: dt.datetime) -> bool:
    idle_limit = row.last_seen_at + dt.timedelta(seconds=settings.session_idle_seconds)
    return now >= row.expires_at or now >= idle_limit


async def end_session(session: AsyncSession, raw: str) -> None:
    await session.execute(sa.delete(UserSession).where(UserSession.id_hash == hash_session_id(raw)))


async def end_all_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(sa.delete(UserSession).where(UserSession.user_id == user_id))
