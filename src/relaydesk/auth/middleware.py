"""Authenticate every request under /api (bearer token or session cookie) and enforce CSRF for cookies.

A bearer token is never sent by a browser on its own, so only cookie-authenticated unsafe requests need
the `X-CSRF-Token` header (synchroniser token bound to the server-side session).
"""

from __future__ import annotations

import hmac

import sqlalchemy as sa
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from relaydesk.auth.principal import Principal
from relaydesk.auth.sessions import TOUCH_EVERY, cookie_name, hash_session_id, is_expired
from relaydesk.auth.tokens import TOKEN_PREFIX, token_hash
from relaydesk.db.base import utcnow
from relaydesk.models.users import ApiToken, User, UserSession
from relaydesk.models.workspaces import Membership

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "x-csrf-token"


async def principal_from_token(runtime, raw: str) -> Principal | None:  # type: ignore[no-untyped-def]
    now = utcnow()
    async with runtime.db.read() as session:
        row = (
            await session.execute(
                sa.select(ApiToken, Membership, User)
                .join(
                    Membership,
                    sa.and_(
                        Membership.user_id == ApiToken.user_id,
                        Membership.workspace_id == ApiToken.workspace_id,
                    ),
                )
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == token_hash(raw), ApiToken.revoked_at.is_(None))
            )
        ).first()
    if row is None:
        return None
    token, membership, user = row
    if not (membership.is_active and user.is_active) or (token.expires_at and token.expires_at <= now):
        return None
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        async with runtime.db.write() as session:
            await session.execute(sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    return Principal(
        user_id=user.id,
        workspace_id=membership.workspace_id,
        membership_id=membership.id,
        role=membership.role,
        name=user.name,
        email=user.email,
        via="token",
        token_id=token.id,
        scopes=tuple(token.scopes or ()),
    )


async def principal_from_session(runtime, raw: str) -> Principal | None:  # type: ignore[no-untyped-def]
    now = utcnow()
    id_hash = hash_session_id(raw)
    async with runtime.db.read() as session:
        row = (
            await session.execute(
                sa.select(UserSession, Membership, User)
                .join(User, User.id == UserSession.user_id)
                .join(
                    Membership,
                    sa.and_(
                        Membership.user_id == UserSession.user_id,
                        Membership.workspace_id == UserSession.workspace_id,
                    ),
                )
                .where(UserSession.id_hash == id_hash)
            )
        ).first()
    if row is None:
        return None
    sess, membership, user = row
    if sess.stage != "full":
        return None  # half-logged-in (second factor or 2FA enrolment pending): no API access
    if is_expired(sess, runtime.settings, now) or not (membership.is_active and user.is_active):
        async with runtime.db.write() as session:
            await session.execute(sa.delete(UserSession).where(UserSession.id_hash == id_hash))
        return None
    if now - sess.last_seen_at > TOUCH_EVERY:
        async with runtime.db.write() as session:
            await session.execute(
                sa.update(UserSession).where(UserSession.id_hash == id_hash).values(last_seen_at=now)
            )
    return Principal(
        user_id=user.id,
        workspace_id=membership.workspace_id,
        membership_id=membership.id,
        role=membership.role,
        name=user.name,
        email=user.email,
        via="session",
        session_hash=id_hash,
        csrf_token=sess.csrf_token,
    )


async def still_valid(runtime, principal: Principal) -> bool:  # type: ignore[no-untyped-def]
    """Re-check a long-lived connection's credentials: logout, deactivation, revocation end it at once."""
    async with runtime.db.read() as session:
        member_ok = (
            sa.select(Membership.id)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.id == principal.membership_id,
                Membership.is_active.is_(True),
                User.is_active.is_(True),
            )
        )
        if (await session.execute(member_ok)).first() is None:
            return False
        if principal.via == "session":
            found = await session.execute(
                sa.select(UserSession.id_hash).where(
                    UserSession.id_hash == principal.session_hash,
                    UserSession.expires_at > utcnow(),
                )
            )
        else:
            found = await session.execute(
                sa.select(ApiToken.id).where(ApiToken.id == principal.token_id, ApiToken.revoked_at.is_(None))
            )
        return found.first() is not None


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        runtime = connection.app.state.runtime
        header = connection.headers.get("authorization", "")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.startswith(TOKEN_PREFIX):
                raise NotAuthorizedException("use 'Authorization: Bearer rd_...'")
            principal = await principal_from_token(runtime, value.strip())
            if principal is None:
                raise NotAuthorizedException("invalid, expired or revoked API token")
            return AuthenticationResult(user=principal, auth="token")
        raw = connection.cookies.get(cookie_name(runtime.settings))
        if not raw:
            raise NotAuthorizedException("authentication required")
        principal = await principal_from_session(runtime, raw)
        if principal is None:
            raise NotAuthorizedException("session expired; log in again")
        method = connection.scope.get("method", "GET")
        if method not in SAFE_METHODS:
            sent = connection.headers.get(CSRF_HEADER, "")
            if not sent or not hmac.compare_digest(sent, principal.csrf_token or ""):
                raise PermissionDeniedException("missing or wrong CSRF token (X-CSRF-Token header)")
        return AuthenticationResult(user=principal, auth="session")
