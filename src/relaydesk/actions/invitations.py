"""Invite people to a workspace by link, and accept an invitation.

The link carries 256 random bits; only their SHA-256 is stored, so the table cannot be replayed into
logins. Accepting sets the password under the password policy (new person) or proves the existing
password (someone who already has an account joins one more workspace).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions.workspaces import add_member, create_user
from relaydesk.auth.password_policy import check_password
from relaydesk.auth.passwords import verify_password
from relaydesk.db.base import utcnow
from relaydesk.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from relaydesk.models.users import Invitation, User
from relaydesk.models.workspaces import ROLES, Membership, Workspace
from relaydesk.privacy import audit

INVITATION_DAYS = 7


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def invite(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    email: str,
    role: str,
    *,
    invited_by: uuid.UUID,
    actor_role: str,
) -> tuple[Invitation, str]:
    """Return the invitation and the clear token for the link (shown once to the admin)."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise InvalidInput("a valid e-mail address is required")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if role == "owner" and actor_role != "owner":
        raise Forbidden("only an owner can invite an owner")
    member = (
        await session.execute(
            sa.select(Membership.id)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace_id, User.email == email)
        )
    ).first()
    if member is not None:
        raise Conflict("this person is already a member")
    token = secrets.token_urlsafe(32)
    row = Invitation(
        workspace_id=workspace_id,
        email=email,
        role=role,
        token_hash=_hash(token),
        invited_by_id=invited_by,
        expires_at=utcnow() + dt.timedelta(days=INVITATION_DAYS),
    )
    session.add(row)
    await session.flush()
    # The address is personal data and stays out of the chain: the row id and the role say enough.
    await audit.record(
        session,
        workspace_id,
        "invitation.created",
        actor_id=invited_by,
        target_type="invitation",
        target_id=row.id,
        metadata={"role": role},
    )
    return row, token


async def find_invitation(session: AsyncSession, token: str) -> tuple[Invitation, Workspace]:
    row = (
        await session.execute(
            sa.select(Invitation, Workspace)
            .join(Workspace, Workspace.id == Invitation.workspace_id)
            .where(Invitation.token_hash == _hash(token))
        )
    ).first()
    if row is None or row[0].accepted_at is not None or row[0].expires_at <= utcnow():
        raise NotFound("this invitation link is not valid any more; ask for a new one")
    return row[0], row[1]


async def revoke_invitation(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    invitation_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None = None,
) -> None:
    result = await session.execute(
        sa.delete(Invitation).where(
            Invitation.workspace_id == workspace_id,
            Invitation.id == invitation_id,
            Invitation.accepted_at.is_(None),
        )
    )
    if result.rowcount != 1:
        raise NotFound("invitation not found")
    await audit.record(
        session,
        workspace_id,
        "invitation.revoked",
        actor_id=actor_id,
        target_type="invitation",
        target_id=invitation_id,
    )


async def accept_invitation(session: AsyncSession, token: str, *, name: str, password: str) -> User:
    """Create the account (or join with the existing one) and the membership; the link is then spent."""
    invitation, workspace = await find_invitation(session, token)
    user = (await session.execute(sa.select(User).where(User.email == invitation.email))).scalar_one_or_none()
    if user is None:
        problems = check_password(
            password, email=invitation.email, context_words=[name, workspace.name, workspace.slug]
        )
        if problems:
            raise InvalidInput(" ".join(problems), details={"password": problems})
        user = await create_user(session, invitation.email, name or invitation.email, password)
    else:
        ok, _ = verify_password(user.password_hash, password)
        if not ok:
            raise NotAuthenticated("you already have an account: enter its password to join")
    await add_member(session, invitation.workspace_id, user.id, invitation.role, actor_id=user.id)
    invitation.accepted_at = utcnow()
    await audit.record(
        session,
        invitation.workspace_id,
        "invitation.accepted",
        actor_id=user.id,
        target_type="invitation",
        target_id=invitation.id,
        metadata={"role": invitation.role},
    )
    return user
