"""Create workspaces and manage who belongs to them with which role."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.passwords import hash_password
from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import Conflict, Forbidden, InvalidInput, NotFound
from relaydesk.models.users import ApiToken, User, UserSession
from relaydesk.models.workspaces import ROLES, Membership, Workspace
from relaydesk.privacy import audit
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,78}[a-z0-9]$")


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80]
    return slug if len(slug) >= 3 else f"ws-{uuid.uuid4().hex[:8]}"


async def create_workspace(
    session: AsyncSession, name: str, slug: str | None = None, *, actor_id: uuid.UUID | None = None
) -> Workspace:
    name = name.strip()
    if not name:
        raise InvalidInput("workspace name is required")
    slug = slug or slugify(name)
    if not _SLUG.match(slug):
        raise InvalidInput("slug must be 3-80 lower-case letters, digits or dashes")
    if (await session.execute(sa.select(Workspace.id).where(Workspace.slug == slug))).first():
        raise Conflict(f"workspace slug {slug!r} is taken")
    workspace = Workspace(name=name, slug=slug, settings={})
    session.add(workspace)
    await session.flush()
    await audit.record(
        session,
        workspace.id,
        "workspace.created",
        actor_id=actor_id,
        target_type="workspace",
        target_id=workspace.id,
    )
    return workspace


async def resolve_workspace(session: AsyncSession, ref: str) -> Workspace:
    """The workspace an operator names by slug or by name (case-insensitive), for every CLI `--workspace`.

    A slug wins over a name; a name shared by several workspaces is refused with their slugs, so a
    command never acts on a guess."""
    ref = ref.strip()
    by_slug = (await session.execute(sa.select(Workspace).where(Workspace.slug == ref))).scalar_one_or_none()
    if by_slug is not None:
        return by_slug
    named = list(
        (
            await session.execute(
                sa.select(Workspace)
                .where(sa.func.lower(Workspace.name) == ref.lower())
                .order_by(Workspace.slug)
            )
        ).scalars()
    )
    if len(named) > 1:
        slugs = ", ".join(w.slug for w in named)
        raise Conflict(f"several workspaces are named {ref!r}; give the slug: {slugs}")
    if not named:
        raise NotFound(f"no workspace with the slug or name {ref!r}")
    return named[0]


async def create_user(session: AsyncSession, email: str, name: str, password: str | None) -> User:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise InvalidInput("a valid e-mail address is required")
    if (await session.execute(sa.select(User.id).where(User.email == email))).first():
        raise Conflict("a user with this e-mail already exists")
    user = User(
        email=email, name=name.strip() or email, password_hash=hash_password(password) if password else None
    )
    session.add(user)
    await session.flush()
    return user


async def add_member(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
    *,
    actor_id: uuid.UUID | None = None,
) -> Membership:
    """Make `user_id` a member with `role`; audited as `member.added` (system actor for `createadmin`)."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    existing = (
        await session.execute(
            sa.select(Membership).where(
                Membership.workspace_id == workspace_id, Membership.user_id == user_id
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict("this person is already a member")
    membership = Membership(workspace_id=workspace_id, user_id=user_id, role=role)
    session.add(membership)
    await session.flush()
    await _audit_member(session, membership, "member.added", actor_id, {"role": role})
    await emit(session, workspace_id, events.member_added(user_id, role))
    return membership


async def _owners_left(session: AsyncSession, workspace_id: uuid.UUID, excluding: uuid.UUID) -> int:
    return (
        await session.execute(
            sa.select(sa.func.count()).where(
                Membership.workspace_id == workspace_id,
                Membership.role == "owner",
                Membership.is_active.is_(True),
                Membership.id != excluding,
            )
        )
    ).scalar_one()


async def _audit_member(
    session: AsyncSession,
    membership: Membership,
    action: str,
    actor_id: uuid.UUID | None,
    metadata: dict[str, str] | None = None,
) -> None:
    await audit.record(
        session,
        membership.workspace_id,
        action,
        actor_id=actor_id,
        target_type="user",
        target_id=membership.user_id,
        metadata=metadata,
    )


async def change_role(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    membership_id: uuid.UUID,
    role: str,
    *,
    actor_role: str,
    actor_id: uuid.UUID | None = None,
) -> Membership:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    membership = await get_scoped(session, Membership, workspace_id, membership_id)
    if "owner" in (role, membership.role) and actor_role != "owner":
        raise Forbidden("only an owner can grant or remove the owner role")
    if (
        membership.role == "owner"
        and role != "owner"
        and await _owners_left(session, workspace_id, membership.id) == 0
    ):
        raise Conflict("a workspace keeps at least one owner")
    previous, membership.role = membership.role, role
    await _audit_member(session, membership, "member.role_changed", actor_id, {"from": previous, "to": role})
    await emit(session, workspace_id, events.member_updated(membership.user_id, role=role))
    return membership


async def deactivate_member(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    membership_id: uuid.UUID,
    *,
    actor_role: str,
    actor_id: uuid.UUID | None = None,
) -> Membership:
    """Deactivation keeps the person's past messages and name but kills their sessions and tokens at once."""
    membership = await get_scoped(session, Membership, workspace_id, membership_id)
    if membership.role == "owner":
        if actor_role != "owner":
            raise Forbidden("only an owner can deactivate an owner")
        if await _owners_left(session, workspace_id, membership.id) == 0:
            raise Conflict("a workspace keeps at least one owner")
    membership.is_active = False
    membership.deactivated_at = utcnow()
    now = utcnow()
    await session.execute(
        sa.update(ApiToken)
        .where(
            ApiToken.workspace_id == workspace_id,
            ApiToken.user_id == membership.user_id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    await session.execute(
        sa.delete(UserSession).where(
            UserSession.user_id == membership.user_id, UserSession.workspace_id == workspace_id
        )
    )
    await _audit_member(session, membership, "member.deactivated", actor_id)
    await emit(session, workspace_id, events.member_deactivated(membership.user_id))
    return membership


async def reactivate_member(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    membership_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None = None,
) -> Membership:
    membership = await get_scoped(session, Membership, workspace_id, membership_id)
    membership.is_active = True
    membership.deactivated_at = None
    await _audit_member(session, membership, "member.reactivated", actor_id)
    await emit(session, workspace_id, events.member_updated(membership.user_id, active=True))
    return membership


async def update_workspace(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    name: str | None = None,
    settings: dict[str, object] | None = None,
    actor_id: uuid.UUID | None = None,
) -> Workspace:
    """Rename and/or merge settings (a key set to None is removed, falling back to its default).
    Audited as `workspace.settings_changed` with the names of what changed (the 2FA requirement and
    private webhook targets are security settings)."""
    workspace = await get_scoped_workspace(session, workspace_id)
    if name is not None:
        if not name.strip() or len(name) > 200:
            raise InvalidInput("workspace name must be 1-200 characters")
        workspace.name = name.strip()
    if settings:
        merged = {**workspace.settings, **settings}
        workspace.settings = {k: v for k, v in merged.items() if v is not None}
    changed = (["name"] if name is not None else []) + sorted(settings or {})
    await audit.record(
        session,
        workspace_id,
        "workspace.settings_changed",
        actor_id=actor_id,
        target_type="workspace",
        target_id=workspace_id,
        metadata={"keys": changed},
    )
    await emit(session, workspace_id, events.workspace_updated(workspace_id))
    return workspace


async def get_scoped_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    return workspace
