"""The login service: password step, second factor, 2FA enrolment, re-authentication, workspace switch.

The web pages stay thin: every decision about who may get a session lives here, so the JSON API (or a
future SSO flow) reuses the same rules. A few choices worth knowing:

- Unknown e-mail, wrong password, deactivated account and "no active workspace" all produce the same
  answer, cost one argon2 verification, and count against the throttle exactly alike (no enumeration).
- A session has a stage: "mfa" (password ok, second factor pending, short-lived), "enrol" (a workspace
  requires 2FA for this role and the user has none: only the enrolment page is reachable) or "full".
  Each step up issues a new session id.
- TOTP replay is refused atomically in the database (`UPDATE ... WHERE totp_last_step < :step`), so two
  concurrent logins with the same code cannot both pass; recovery codes are deleted by hash, same idea.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth import totp
from relaydesk.auth.password_policy import check_password
from relaydesk.auth.passwords import hash_password, verify_password
from relaydesk.auth.sessions import end_session, hash_session_id, is_expired, start_session
from relaydesk.auth.throttle import InMemoryCounterStore, LoginThrottle, RedisCounterStore, ThrottlePolicy
from relaydesk.db.base import utcnow
from relaydesk.errors import Forbidden, InvalidInput, NotAuthenticated, Throttled
from relaydesk.models.users import RecoveryCode, User, UserSession
from relaydesk.models.workspaces import Membership, Workspace
from relaydesk.privacy import audit, storage
from relaydesk.server.keys import load_master_key

LOGIN_FAILED = "Wrong e-mail or password."
CODE_FAILED = "That code is not valid. Use a fresh code from your app or one of your recovery codes."
MFA_PENDING_SECONDS = 300
REAUTH_SECONDS = 600
# TOTP secrets belong to a person, not a workspace; they are sealed under this platform-wide scope.
PLATFORM_SCOPE = uuid.UUID(int=0)
TWO_FACTOR_SETTING = "require_2fa_roles"

_throttles: dict[int, LoginThrottle] = {}
_policy: list[ThrottlePolicy | None] = [None]


def throttle_for(runtime: Any) -> LoginThrottle:
    """One throttle per runtime: Redis-backed when the deployment has Redis (shared by every process)."""
    found = _throttles.get(id(runtime))
    if found is None:
        pepper = hmac.new(load_master_key(runtime.settings), b"login-throttle", hashlib.sha256).digest()
        if runtime.settings.redis_url:
            import redis.asyncio as redis

            store: Any = RedisCounterStore(redis.from_url(runtime.settings.redis_url))
        else:
            store = InMemoryCounterStore()
        found = _throttles[id(runtime)] = LoginThrottle(store, pepper, _policy[0])
    return found


def reset_throttles(policy: ThrottlePolicy | None = None) -> None:
    """Forget every counter (tests share one runtime across many logins from 127.0.0.1); a policy given
    here applies to the throttles created from now on (tests use a smaller free allowance)."""
    _throttles.clear()
    _policy[0] = policy


async def audit_event(
    session: AsyncSession,
    action: str,
    *,
    user_id: uuid.UUID | None,
    ip: str | None,
    outcome: str = "success",
    **metadata: Any,
) -> None:
    """Append to the audit chain in the caller's transaction: per workspace of the person, or the
    platform chain for an identifier that matches nobody (which stays unnamed: no e-mail is logged)."""
    if user_id is None:
        await audit.record(session, audit.PLATFORM, action, ip=ip, outcome=outcome, metadata=metadata or None)
    else:
        await audit.record_for_user(
            session, user_id, action, outcome=outcome, ip=ip, metadata=metadata or None
        )


@dataclasses.dataclass
class SessionInfo:
    """What a web page needs to know about the caller's session, whatever its stage."""

    raw: str
    row: UserSession
    user: User

    @property
    def stage(self) -> str:
        return self.row.stage

    def recently_reauthenticated(self, now: dt.datetime | None = None) -> bool:
        at = self.row.reauth_at
        return at is not None and (now or utcnow()) - at < dt.timedelta(seconds=REAUTH_SECONDS)


async def load_session(runtime: Any, raw: str | None) -> SessionInfo | None:
    """The session behind a cookie, or None (expired ones are deleted on sight)."""
    if not raw:
        return None
    id_hash = hash_session_id(raw)
    async with runtime.db.read() as session:
        row = (
            await session.execute(
                sa.select(UserSession, User)
                .join(User, User.id == UserSession.user_id)
                .where(UserSession.id_hash == id_hash)
            )
        ).first()
    if row is None:
        return None
    sess, user = row
    now = utcnow()
    too_old = sess.stage == "mfa" and now - sess.created_at > dt.timedelta(seconds=MFA_PENDING_SECONDS)
    if is_expired(sess, runtime.settings, now) or not user.is_active or too_old:
        async with runtime.db.write() as session:
            await end_session(session, raw)
        return None
    return SessionInfo(raw, sess, user)


async def _active_memberships(
    session: AsyncSession, user_id: uuid.UUID
) -> list[tuple[Membership, Workspace]]:
    rows = await session.execute(
        sa.select(Membership, Workspace)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(Membership.user_id == user_id, Membership.is_active.is_(True))
        .order_by(Workspace.name)
    )
    return [(m, w) for m, w in rows]


def requires_two_factor(workspace: Workspace, role: str) -> bool:
    return role in (workspace.settings or {}).get(TWO_FACTOR_SETTING, [])


def _stage_for(user: User, workspace: Workspace, role: str) -> str:
    if user.totp_enabled_at is None and requires_two_factor(workspace, role):
        return "enrol"
    return "full"


async def password_login(
    runtime: Any,
    email: str,
    password: str,
    *,
    ip: str,
    user_agent: str | None,
    replaces: str | None = None,
    workspace_id: uuid.UUID | None = None,
) -> tuple[str, str]:
    """Check the password and open a session; return (raw session id, stage).

    Raises `Throttled` (with the same wording for every identifier) or `NotAuthenticated`.
    """
    throttle = throttle_for(runtime)
    decision = await throttle.check(email, ip)
    if not decision.allowed:
        raise Throttled.after(decision.retry_after)
    normalised = email.strip().lower()
    async with runtime.db.read() as session:
        user = (await session.execute(sa.select(User).where(User.email == normalised))).scalar_one_or_none()
        memberships = await _active_memberships(session, user.id) if user else []
    usable = user is not None and user.is_active and bool(memberships)
    ok, new_hash = verify_password(user.password_hash if usable and user else None, password)
    if not ok or user is None or not usable:
        after = await throttle.record_failure(email, ip)
        async with runtime.db.write() as session:
            await audit_event(
                session,
                "auth.login_failed",
                user_id=user.id if user is not None and user.is_active else None,
                ip=ip,
                outcome="failure",
                throttled=not after.allowed,
            )
        raise NotAuthenticated(LOGIN_FAILED)
    await throttle.record_success(email, ip)
    membership, workspace = next(((m, w) for m, w in memberships if w.id == workspace_id), memberships[0])
    stage = "mfa" if user.totp_enabled_at else _stage_for(user, workspace, membership.role)
    async with runtime.db.write() as session:
        values: dict[str, Any] = {"last_login_at": utcnow()}
        if new_hash:
            values["password_hash"] = new_hash
        await session.execute(sa.update(User).where(User.id == user.id).values(**values))
        raw = await start_session(
            session,
            runtime.settings,
            user.id,
            workspace.id,
            ip=ip,
            user_agent=user_agent,
            replaces=replaces,
            stage=stage,
        )
        if stage != "mfa":
            await audit_event(session, "auth.login", user_id=user.id, ip=ip, second_factor=False)
    return raw, stage


def _open_totp_secret(user: User) -> str | None:
    return storage.open_secret(PLATFORM_SCOPE, user.totp_secret) if user.totp_secret else None


async def _consume_totp(session: AsyncSession, user: User, code: str) -> bool:
    secret = _open_totp_secret(user)
    if secret is None:
        return False
    step = totp.verify(secret, code, user.totp_last_step, utcnow())
    if step is None:
        return False
    result = await session.execute(
        sa.update(User)
        .where(User.id == user.id, sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
    )
    return result.rowcount == 1


async def _consume_recovery(session: AsyncSession, user_id: uuid.UUID, code: str) -> bool:
    result = await session.execute(
        sa.delete(RecoveryCode).where(
            RecoveryCode.user_id == user_id, RecoveryCode.code_hash == totp.hash_recovery_code(code)
        )
    )
    return result.rowcount == 1


async def second_factor(
    runtime: Any, info: SessionInfo, code: str, *, ip: str, user_agent: str | None
) -> tuple[str, str]:
    """Finish an "mfa" session with a TOTP or recovery code; return (new raw session id, stage)."""
    if info.stage != "mfa":
        raise InvalidInput("no second factor is pending")
    throttle = throttle_for(runtime)
    key = "2fa:" + str(info.user.id)
    decision = await throttle.check(key, ip)
    if not decision.allowed:
        raise Throttled.after(decision.retry_after)
    code = (code or "").strip()
    digits = "".join(code.split())
    try:
        async with runtime.db.write() as session:
            user = await session.get(User, info.user.id)
            assert user is not None
            if digits.isdigit():
                ok = await _consume_totp(session, user, digits)
            else:
                ok = await _consume_recovery(session, user.id, code)
            if not ok:
                raise NotAuthenticated(CODE_FAILED)
            membership, workspace = (
                await session.execute(
                    sa.select(Membership, Workspace)
                    .join(Workspace, Workspace.id == Membership.workspace_id)
                    .where(Membership.user_id == user.id, Membership.workspace_id == info.row.workspace_id)
                )
            ).one()
            stage = _stage_for(user, workspace, membership.role)
            raw = await start_session(
                session,
                runtime.settings,
                user.id,
                workspace.id,
                ip=ip,
                user_agent=user_agent,
                replaces=info.raw,
                stage=stage,
            )
            await audit_event(session, "auth.login", user_id=user.id, ip=ip, second_factor=True)
    except NotAuthenticated:
        await throttle.record_failure(key, ip)
        async with runtime.db.write() as session:
            await audit_event(
                session, "auth.login_failed", user_id=info.user.id, ip=ip, outcome="failure", step="2fa"
            )
        raise
    await throttle.record_success(key, ip)
    return raw, stage


async def reauthenticate(runtime: Any, info: SessionInfo, password: str, *, ip: str) -> None:
    """Confirm the password again before a sensitive change; marks the session for REAUTH_SECONDS."""
    throttle = throttle_for(runtime)
    decision = await throttle.check(info.user.email, ip)
    if not decision.allowed:
        raise Throttled.after(decision.retry_after)
    ok, _ = verify_password(info.user.password_hash, password)
    if not ok:
        await throttle.record_failure(info.user.email, ip)
        raise NotAuthenticated("That password is not right.")
    async with runtime.db.write() as session:
        await session.execute(
            sa.update(UserSession).where(UserSession.id_hash == info.row.id_hash).values(reauth_at=utcnow())
        )
    info.row.reauth_at = utcnow()


def _need_reauth(info: SessionInfo) -> None:
    if not info.recently_reauthenticated():
        raise Forbidden("confirm your password first")


async def begin_enrolment(runtime: Any, info: SessionInfo) -> tuple[str, str]:
    """Store a new, unconfirmed TOTP secret and return (secret, otpauth URI) to show as text."""
    _need_reauth(info)
    if info.user.totp_enabled_at is not None:
        raise InvalidInput("two-factor authentication is already on")
    secret = totp.generate_secret()
    async with runtime.db.write() as session:
        await session.execute(
            sa.update(User)
            .where(User.id == info.user.id)
            .values(totp_secret=storage.seal_secret(PLATFORM_SCOPE, secret), totp_last_step=None)
        )
    return secret, totp.provisioning_uri(secret, info.user.email)


async def pending_enrolment(info: SessionInfo) -> tuple[str, str] | None:
    """The unconfirmed secret being set up, so a reload shows the same one."""
    if info.user.totp_enabled_at is not None or info.user.totp_secret is None:
        return None
    secret = _open_totp_secret(info.user)
    assert secret is not None
    return secret, totp.provisioning_uri(secret, info.user.email)


async def confirm_enrolment(
    runtime: Any, info: SessionInfo, code: str, *, ip: str, user_agent: str | None
) -> tuple[list[str], str]:
    """Turn 2FA on with a first valid code; return the 10 recovery codes (shown once) and a new session id."""
    _need_reauth(info)
    codes = totp.generate_recovery_codes()
    async with runtime.db.write() as session:
        user = await session.get(User, info.user.id)
        assert user is not None
        if user.totp_enabled_at is not None or user.totp_secret is None:
            raise InvalidInput("start the set-up first")
        if not await _consume_totp(session, user, code):
            raise InvalidInput("That code is not valid; check the time on your phone and try again.")
        user.totp_enabled_at = utcnow()
        await session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        session.add_all(RecoveryCode(user_id=user.id, code_hash=totp.hash_recovery_code(c)) for c in codes)
        raw = await start_session(
            session,
            runtime.settings,
            user.id,
            info.row.workspace_id,
            ip=ip,
            user_agent=user_agent,
            replaces=info.raw,
        )
        await session.execute(
            sa.update(UserSession)
            .where(UserSession.id_hash == hash_session_id(raw))
            .values(reauth_at=utcnow())
        )
        await audit_event(session, "auth.2fa_enabled", user_id=info.user.id, ip=ip)
    return codes, raw


async def disable_two_factor(runtime: Any, info: SessionInfo, *, ip: str) -> None:
    """Turn 2FA off, unless a workspace of this person requires it for their role."""
    _need_reauth(info)
    async with runtime.db.write() as session:
        for membership, workspace in await _active_memberships(session, info.user.id):
            if requires_two_factor(workspace, membership.role):
                raise Forbidden(f"{workspace.name} requires two-factor authentication for {membership.role}s")
        await session.execute(
            sa.update(User)
            .where(User.id == info.user.id)
            .values(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
        )
        await session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == info.user.id))
        await audit_event(session, "auth.2fa_disabled", user_id=info.user.id, ip=ip)


async def recovery_codes_left(runtime: Any, user_id: uuid.UUID) -> int:
    async with runtime.db.read() as session:
        return (
            await session.execute(
                sa.select(sa.func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == user_id)
            )
        ).scalar_one()


async def change_password(
    runtime: Any, info: SessionInfo, new_password: str, *, ip: str, user_agent: str | None
) -> str:
    """Set a new password, end every other session of the person, and return a fresh session id."""
    _need_reauth(info)
    problems = check_password(new_password, email=info.user.email, context_words=[info.user.name])
    if problems:
        raise InvalidInput(" ".join(problems))
    async with runtime.db.write() as session:
        await session.execute(
            sa.update(User).where(User.id == info.user.id).values(password_hash=hash_password(new_password))
        )
        await session.execute(sa.delete(UserSession).where(UserSession.user_id == info.user.id))
        raw = await start_session(
            session, runtime.settings, info.user.id, info.row.workspace_id, ip=ip, user_agent=user_agent
        )
        await audit_event(session, "auth.password_changed", user_id=info.user.id, ip=ip)
    return raw


async def switch_workspace(
    runtime: Any, info: SessionInfo, workspace_id: uuid.UUID, *, ip: str, user_agent: str | None
) -> str:
    """Move the session to another workspace of the same person, under a new session id."""
    async with runtime.db.write() as session:
        pairs = {w.id: (m, w) for m, w in await _active_memberships(session, info.user.id)}
        if workspace_id not in pairs:
            raise Forbidden("you are not an active member of that workspace")
        membership, workspace = pairs[workspace_id]
        return await start_session(
            session,
            runtime.settings,
            info.user.id,
            workspace_id,
            ip=ip,
            user_agent=user_agent,
            replaces=info.raw,
            stage=_stage_for(info.user, workspace, membership.role),
        )


async def logout(runtime: Any, raw: str | None, *, ip: str | None = None) -> None:
    if not raw:
        return
    info = await load_session(runtime, raw)
    async with runtime.db.write() as session:
        await end_session(session, raw)
        if info is not None:
            await audit_event(session, "auth.logout", user_id=info.user.id, ip=ip)
