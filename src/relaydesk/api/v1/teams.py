"""Teams: agents read them (assignment, views); admins create, rename, delete and set their members."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar import delete, get, patch, post, put
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions import library
from relaydesk.api.v1._common import Cursor, Limit, Name, changes, keyset_page
from relaydesk.auth.guards import requires_admin, requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.db.scoping import get_scoped
from relaydesk.models.workspaces import Team, TeamMember
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime

Description = Annotated[str, msgspec.Meta(max_length=1000)]


class TeamCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    description: Description = ""


class TeamUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET


class TeamMembers(msgspec.Struct, forbid_unknown_fields=True):
    user_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)]


async def _member_ids(session: AsyncSession, team_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    result: dict[uuid.UUID, list[str]] = {t: [] for t in team_ids}
    if team_ids:
        rows = await session.execute(
            sa.select(TeamMember.team_id, TeamMember.user_id)
            .where(TeamMember.team_id.in_(team_ids))
            .order_by(TeamMember.user_id)
        )
        for team_id, user_id in rows:
            result[team_id].append(str(user_id))
    return result


def team_json(team: Team, member_ids: list[str]) -> dict[str, Any]:
    return {
        "id": str(team.id),
        "name": team.name,
        "description": team.description,
        "member_ids": member_ids,
        "created_at": iso(team.created_at),
    }


async def _show(session: AsyncSession, workspace_id: uuid.UUID, team_id: uuid.UUID) -> dict[str, Any]:
    team = await get_scoped(session, Team, workspace_id, team_id)
    return team_json(team, (await _member_ids(session, [team.id]))[team.id])


@get("/teams", guards=[requires_agent])
async def teams_index(
    principal: Principal, runtime: Runtime, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        rows, next_cursor = await keyset_page(
            session,
            sa.select(Team).where(Team.workspace_id == principal.workspace_id),
            id_column=Team.id,
            sort_column=Team.name,
            cursor=cursor,
            limit=limit,
        )
        members = await _member_ids(session, [t.id for t in rows])
    return {"items": [team_json(t, members[t.id]) for t in rows], "next_cursor": next_cursor}


@get("/teams/{team_id:uuid}", guards=[requires_agent])
async def teams_show(team_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return await _show(session, principal.workspace_id, team_id)


@post("/teams", guards=[requires_admin])
async def teams_create(data: TeamCreate, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.write() as session:
        team = await library.create_team(session, principal.workspace_id, data.name, data.description)
        return team_json(team, [])


@patch("/teams/{team_id:uuid}", guards=[requires_admin])
async def teams_update(
    team_id: uuid.UUID, data: TeamUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    fields = changes(data)
    async with runtime.db.write() as session:
        await library.update_team(
            session,
            principal.workspace_id,
            team_id,
            name=fields.get("name"),
            description=fields.get("description"),
        )
        return await _show(session, principal.workspace_id, team_id)


@put("/teams/{team_id:uuid}/members", guards=[requires_admin])
async def teams_set_members(
    team_id: uuid.UUID, data: TeamMembers, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Replace the team's members; each must be a member of this workspace."""
    async with runtime.db.write() as session:
        await library.set_team_members(session, principal.workspace_id, team_id, data.user_ids)
        return await _show(session, principal.workspace_id, team_id)


@delete("/teams/{team_id:uuid}", guards=[requires_admin])
async def teams_delete(team_id: uuid.UUID, principal: Principal, runtime: Runtime) -> None:
    """Conversations of the team keep their assignee and lose the team."""
    async with runtime.db.write() as session:
        await library.delete_team(session, principal.workspace_id, team_id)


SCOPE_FAMILY = "members"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [teams_index, teams_show, teams_create, teams_update, teams_set_members, teams_delete]
