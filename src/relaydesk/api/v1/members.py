"""Members of the workspace and invitations to join it.

Agents list members (to assign conversations); admins add people, change roles, deactivate and invite;
only owners grant, remove or deactivate the owner role (enforced in the actions).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
import sqlalchemy as sa
import sqlalchemy.orm
from litestar import delete, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions import invitations
from relaydesk.actions import workspaces as ws_actions
from relaydesk.api.v1._common import Cursor, Limit, keyset_page
from relaydesk.auth.guards import requires_admin, requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import Forbidden, NotFound
from relaydesk.models.users import Invitation, User
from relaydesk.models.workspaces import Membership
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime

Role = Literal["owner", "admin", "agent"]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]


class MemberAdd(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    role: Role = "agent"


class MemberUpdate(msgspec.Struct, forbid_unknown_fields=True):
    role: Role


class InvitationCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    role: Role = "agent"


class InvitationAccept(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


def member_json(m: Membership, user: User) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "user_id": str(user.id),
        "name": user.name,
        "email": user.email,
        "role": m.role,
        "is_active": m.is_active,
        "deactivated_at": iso(m.deactivated_at),
        "created_at": iso(m.created_at),
    }


def invitation_json(inv: Invitation) -> dict[str, Any]:
    return {
        "id": str(inv.id),
        "email": inv.email,
        "role": inv.role,
        "invited_by_id": str(inv.invited_by_id) if inv.invited_by_id else None,
        "expires_at": iso(inv.expires_at),
        "created_at": iso(inv.created_at),
    }


async def _member(session: AsyncSession, workspace_id: uuid.UUID, membership_id: uuid.UUID) -> dict[str, Any]:
    m = await get_scoped(session, Membership, workspace_id, membership_id)
    user = await session.get(User, m.user_id)
    assert user is not None  # memberships cascade with their user
    return member_json(m, user)


@get("/members", guards=[requires_agent])
async def members_index(
    principal: Principal,
    runtime: Runtime,
    active: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """In the order they joined; `active=true|false` filters."""
    stmt = (
        sa.select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == principal.workspace_id)
    )
    if active is not None:
        stmt = stmt.where(Membership.is_active.is_(active))
    async with runtime.db.read() as session:
        rows, next_cursor = await keyset_page(
            session, stmt, id_column=Membership.id, cursor=cursor, limit=limit
        )
    return {"items": [member_json(m, u) for m, u in rows], "next_cursor": next_cursor}


@get("/members/{membership_id:uuid}", guards=[requires_agent])
async def members_show(membership_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return await _member(session, principal.workspace_id, membership_id)


@post("/members", guards=[requires_admin])
async def members_add(data: MemberAdd, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """Add a colleague from another workspace the caller belongs to; invite anyone else (`POST /invitations`).

    Adding any account by e-mail would let one workspace pull in (and learn the name of) people of another
    without their consent, and would tell which addresses have accounts; so only people the caller already
    works with can be added directly, and the refusal is the same whether the address exists or not.
    """
    if data.role == "owner" and principal.role != "owner":
        raise Forbidden("only an owner can grant the owner role")
    theirs = sa.orm.aliased(Membership)
    mine = sa.orm.aliased(Membership)
    async with runtime.db.write() as session:
        user = (
            await session.execute(
                sa.select(User)
                .join(theirs, theirs.user_id == User.id)
                .join(mine, mine.workspace_id == theirs.workspace_id)
                .where(
                    User.email == data.email.strip().lower(),
                    User.is_active.is_(True),
                    mine.user_id == principal.user_id,
                    mine.is_active.is_(True),
                )
                .limit(1)
            )
        ).scalar_one_or_none()
        if user is None:
            raise NotFound("no colleague of yours has this e-mail address; send an invitation instead")
        m = await ws_actions.add_member(
            session, principal.workspace_id, user.id, data.role, actor_id=principal.user_id
        )
        return member_json(m, user)


@patch("/members/{membership_id:uuid}", guards=[requires_admin])
async def members_update(
    membership_id: uuid.UUID, data: MemberUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    async with runtime.db.write() as session:
        await ws_actions.change_role(
            session,
            principal.workspace_id,
            membership_id,
            data.role,
            actor_role=principal.role,
            actor_id=principal.user_id,
        )
        return await _member(session, principal.workspace_id, membership_id)


@post("/members/{membership_id:uuid}/deactivate", guards=[requires_admin], status_code=200)
async def members_deactivate(
    membership_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Ends the person's sessions and revokes their tokens here at once; their history stays."""
    async with runtime.db.write() as session:
        await ws_actions.deactivate_member(
            session,
            principal.workspace_id,
            membership_id,
            actor_role=principal.role,
            actor_id=principal.user_id,
        )
        return await _member(session, principal.workspace_id, membership_id)


@post("/members/{membership_id:uuid}/reactivate", guards=[requires_admin], status_code=200)
async def members_reactivate(
    membership_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    async with runtime.db.write() as session:
        m = await get_scoped(session, Membership, principal.workspace_id, membership_id)
        if m.role == "owner" and principal.role != "owner":
            raise Forbidden("only an owner can reactivate an owner")
        await ws_actions.reactivate_member(
            session, principal.workspace_id, membership_id, actor_id=principal.user_id
        )
        return await _member(session, principal.workspace_id, membership_id)


@get("/invitations", guards=[requires_admin])
async def invitations_index(
    principal: Principal, runtime: Runtime, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    """Pending invitations (not yet accepted, not expired)."""
    stmt = sa.select(Invitation).where(
        Invitation.workspace_id == principal.workspace_id,
        Invitation.accepted_at.is_(None),
        Invitation.expires_at > utcnow(),
    )
    async with runtime.db.read() as session:
        rows, next_cursor = await keyset_page(
            session, stmt, id_column=Invitation.id, cursor=cursor, limit=limit
        )
    return {"items": [invitation_json(i) for i in rows], "next_cursor": next_cursor}


@post("/invitations", guards=[requires_admin])
async def invitations_create(
    data: InvitationCreate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """The response holds the invitation link and token once; only their hash is stored."""
    async with runtime.db.write() as session:
        inv, token = await invitations.invite(
            session,
            principal.workspace_id,
            data.email,
            data.role,
            invited_by=principal.user_id,
            actor_role=principal.role,
        )
    return {**invitation_json(inv), "token": token, "url": f"{runtime.settings.base_url}/invite/{token}"}


@delete("/invitations/{invitation_id:uuid}", guards=[requires_admin])
async def invitations_revoke(invitation_id: uuid.UUID, principal: Principal, runtime: Runtime) -> None:
    async with runtime.db.write() as session:
        await invitations.revoke_invitation(
            session, principal.workspace_id, invitation_id, actor_id=principal.user_id
        )


@post("/invitations/accept", opt={"exclude_from_auth": True}, security=[])
async def invitations_accept(data: InvitationAccept, runtime: Runtime) -> dict[str, Any]:
    """No login: the token is the credential. A new person sets name and password (password policy);
    someone with an account already proves it with their password. Then log in as usual."""
    async with runtime.db.write() as session:
        user = await invitations.accept_invitation(
            session, data.token, name=data.name, password=data.password
        )
        return {"user_id": str(user.id), "email": user.email, "name": user.name}


SCOPE_FAMILY = "members"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [
    members_index,
    members_show,
    members_add,
    members_update,
    members_deactivate,
    members_reactivate,
    invitations_index,
    invitations_create,
    invitations_revoke,
    invitations_accept,
]
