"""API tokens and other per-person credentials."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions.workspaces import resolve_workspace
from relaydesk.auth import scopes as token_scopes
from relaydesk.auth.tokens import new_token, token_hash
from relaydesk.db.base import utcnow
from relaydesk.errors import InvalidInput, NotFound
from relaydesk.models.users import ApiToken, User
from relaydesk.models.workspaces import Membership
from relaydesk.privacy import audit


async def issue_api_token(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    expires_at: dt.datetime | None = None,
    *,
    scopes: list[str] | None = None,
    actor_id: uuid.UUID | None = None,
) -> tuple[ApiToken, str]:
    """Return the row and the clear token, which is shown once and never stored.

    `scopes` defaults to full access (`*`); audited as `api_token.created` with the scopes, by
    `actor_id` (None: the system, e.g. the CLI)."""
    if not name.strip() or len(name) > 120:
        raise InvalidInput("token name must be 1-120 characters")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expires_at must be in the future")
    granted = token_scopes.normalise(scopes if scopes is not None else [token_scopes.FULL])
    raw = new_token()
    row = ApiToken(
        workspace_id=workspace_id,
        user_id=user_id,
        name=name.strip(),
        token_hash=token_hash(raw),
        prefix=raw[:10],
        expires_at=expires_at,
        scopes=granted,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        workspace_id,
        "api_token.created",
        actor_id=actor_id,
        target_type="api_token",
        target_id=row.id,
        metadata={"owner_id": str(user_id), "scopes": granted, "expires": expires_at is not None},
    )
    return row, raw


async def revoke_api_token(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    token_id: uuid.UUID,
    user_id: uuid.UUID | None,
    *,
    actor_id: uuid.UUID | None = None,
) -> None:
    """Revoke a token; with `user_id`, only that person's own token (admins pass None). Audited as
    `api_token.revoked` the first time only."""
    conds = [ApiToken.workspace_id == workspace_id, ApiToken.id == token_id]
    if user_id is not None:
        conds.append(ApiToken.user_id == user_id)
    row = (await session.execute(sa.select(ApiToken).where(*conds))).scalar_one_or_none()
    if row is None:
        raise NotFound("api token not found")
    if row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    await audit.record(
        session,
        workspace_id,
        "api_token.revoked",
        actor_id=actor_id,
        target_type="api_token",
        target_id=row.id,
        metadata={"owner_id": str(row.user_id)},
    )


async def create_api_token(
    session: AsyncSession, *, workspace: str, email: str, name: str, scopes: list[str] | None = None
) -> str:
    """A token for `relaydesk token create`: `workspace` is a slug or a name (`resolve_workspace`), with
    `scopes` (default full access)."""
    ws = await resolve_workspace(session, workspace)
    email = email.strip().lower()
    user_id = (await session.execute(sa.select(User.id).where(User.email == email))).scalar_one_or_none()
    if user_id is None:
        raise NotFound(f"no user with the e-mail address {email}")
    active = (
        await session.execute(
            sa.select(Membership.id).where(
                Membership.workspace_id == ws.id,
                Membership.user_id == user_id,
                Membership.is_active.is_(True),
            )
        )
    ).first()
    if active is None:
        raise NotFound(f"{email} is not an active member of workspace {ws.slug}")
    _, raw = await issue_api_token(session, ws.id, user_id, name, scopes=scopes)
    return raw
