"""Teams, labels, canned responses and custom attribute definitions of a workspace."""

from __future__ import annotations

import re
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.scoping import get_scoped
from relaydesk.errors import Conflict, InvalidInput
from relaydesk.models.conversations import Label
from relaydesk.models.library import ATTRIBUTE_TYPES, AttributeDefinition, CannedResponse
from relaydesk.models.workspaces import Membership, Team, TeamMember
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,79}$")


async def _unique(session: AsyncSession, column: Any, value: Any, *where: Any, what: str) -> None:
    if (await session.execute(sa.select(column).where(column == value, *where))).first():
        raise Conflict(f"{what} already exists")


# --- teams ----------------------------------------------------------------------------------------------


async def create_team(
    session: AsyncSession, workspace_id: uuid.UUID, name: str, description: str = ""
) -> Team:
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("team name must be 1-120 characters")
    await _unique(session, Team.name, name, Team.workspace_id == workspace_id, what="a team with this name")
    team = Team(workspace_id=workspace_id, name=name, description=description)
    session.add(team)
    await session.flush()
    await emit(session, workspace_id, events.team_created(team.id))
    return team


async def update_team(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    team_id: uuid.UUID,
    *,
    name: str | None,
    description: str | None,
) -> Team:
    team = await get_scoped(session, Team, workspace_id, team_id)
    if name is not None and name.strip() != team.name:
        if not name.strip() or len(name) > 120:
            raise InvalidInput("team name must be 1-120 characters")
        await _unique(
            session, Team.name, name.strip(), Team.workspace_id == workspace_id, what="a team with this name"
        )
        team.name = name.strip()
    if description is not None:
        team.description = description
    await emit(session, workspace_id, events.team_updated(team.id))
    return team


async def delete_team(session: AsyncSession, workspace_id: uuid.UUID, team_id: uuid.UUID) -> None:
    team = await get_scoped(session, Team, workspace_id, team_id)
    await session.delete(team)
    await emit(session, workspace_id, events.team_deleted(team_id))


async def set_team_members(
    session: AsyncSession, workspace_id: uuid.UUID, team_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    await get_scoped(session, Team, workspace_id, team_id)
    wanted = set(user_ids)
    if wanted:
        members = set(
            (
                await session.execute(
                    sa.select(Membership.user_id).where(
                        Membership.workspace_id == workspace_id, Membership.user_id.in_(wanted)
                    )
                )
            ).scalars()
        )
        if members != wanted:
            raise InvalidInput("every team member must be a member of the workspace")
    await session.execute(sa.delete(TeamMember).where(TeamMember.team_id == team_id))
    if wanted:
        await session.execute(
            sa.insert(TeamMember),
            [{"workspace_id": workspace_id, "team_id": team_id, "user_id": u} for u in wanted],
        )
    await emit(session, workspace_id, events.team_updated(team_id))
    return sorted(wanted)


# --- labels ---------------------------------------------------------------------------------------------


def _check_label(name: str, color: str) -> None:
    if not name.strip() or len(name) > 80:
        raise InvalidInput("label name must be 1-80 characters")
    if not _COLOR.match(color):
        raise InvalidInput("color must look like #1a2b3c")


async def create_label(
    session: AsyncSession, workspace_id: uuid.UUID, name: str, color: str = "#6b7280", description: str = ""
) -> Label:
    _check_label(name, color)
    await _unique(
        session, Label.name, name.strip(), Label.workspace_id == workspace_id, what="a label with this name"
    )
    label = Label(workspace_id=workspace_id, name=name.strip(), color=color, description=description)
    session.add(label)
    await session.flush()
    await emit(session, workspace_id, events.label_created(label.id))
    return label


async def update_label(
    session: AsyncSession, workspace_id: uuid.UUID, label_id: uuid.UUID, **fields: Any
) -> Label:
    label = await get_scoped(session, Label, workspace_id, label_id)
    name = fields.get("name", label.name)
    color = fields.get("color", label.color)
    _check_label(name, color)
    if name.strip() != label.name:
        await _unique(
            session,
            Label.name,
            name.strip(),
            Label.workspace_id == workspace_id,
            what="a label with this name",
        )
    label.name, label.color = name.strip(), color
    if "description" in fields:
        label.description = fields["description"]
    await emit(session, workspace_id, events.label_updated(label.id))
    return label


async def delete_label(session: AsyncSession, workspace_id: uuid.UUID, label_id: uuid.UUID) -> None:
    label = await get_scoped(session, Label, workspace_id, label_id)
    await session.delete(label)
    await emit(session, workspace_id, events.label_deleted(label_id))


# --- canned responses -----------------------------------------------------------------------------------


def _check_canned(short_code: str, content: str) -> None:
    if not re.match(r"^[A-Za-z0-9_-]{1,80}$", short_code):
        raise InvalidInput("short_code must be 1-80 letters, digits, dashes or underscores")
    if not content.strip() or len(content) > 10_000:
        raise InvalidInput("content must be 1-10000 characters")


async def create_canned_response(
    session: AsyncSession, workspace_id: uuid.UUID, short_code: str, content: str
) -> CannedResponse:
    _check_canned(short_code, content)
    await _unique(
        session,
        CannedResponse.short_code,
        short_code,
        CannedResponse.workspace_id == workspace_id,
        what="a canned response with this short code",
    )
    canned = CannedResponse(workspace_id=workspace_id, short_code=short_code, content=content)
    session.add(canned)
    await session.flush()
    return canned


async def update_canned_response(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    canned_id: uuid.UUID,
    *,
    short_code: str | None,
    content: str | None,
) -> CannedResponse:
    canned = await get_scoped(session, CannedResponse, workspace_id, canned_id)
    new_code = short_code if short_code is not None else canned.short_code
    new_content = content if content is not None else canned.content
    _check_canned(new_code, new_content)
    if new_code != canned.short_code:
        await _unique(
            session,
            CannedResponse.short_code,
            new_code,
            CannedResponse.workspace_id == workspace_id,
            what="a canned response with this short code",
        )
    canned.short_code, canned.content = new_code, new_content
    return canned


async def delete_canned_response(
    session: AsyncSession, workspace_id: uuid.UUID, canned_id: uuid.UUID
) -> None:
    await session.delete(await get_scoped(session, CannedResponse, workspace_id, canned_id))


# --- custom attribute definitions -----------------------------------------------------------------------


async def create_attribute_definition(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    applies_to: str,
    key: str,
    label: str,
    value_type: str = "text",
    is_personal: bool = False,
    options: list[Any] | None = None,
) -> AttributeDefinition:
    if applies_to not in ("contact", "conversation"):
        raise InvalidInput("applies_to must be contact or conversation")
    if not _KEY.match(key):
        raise InvalidInput("key must start with a letter and use a-z, 0-9 and _ (max 80)")
    if value_type not in ATTRIBUTE_TYPES:
        raise InvalidInput(f"value_type must be one of {', '.join(ATTRIBUTE_TYPES)}")
    if not label.strip() or len(label) > 120:
        raise InvalidInput("label must be 1-120 characters")
    if value_type == "list" and not options:
        raise InvalidInput("a list attribute needs options")
    await _unique(
        session,
        AttributeDefinition.key,
        key,
        AttributeDefinition.workspace_id == workspace_id,
        AttributeDefinition.applies_to == applies_to,
        what="an attribute with this key",
    )
    definition = AttributeDefinition(
        workspace_id=workspace_id,
        applies_to=applies_to,
        key=key,
        label=label.strip(),
        value_type=value_type,
        is_personal=is_personal,
        options=list(options or []),
    )
    session.add(definition)
    await session.flush()
    return definition


async def update_attribute_definition(
    session: AsyncSession, workspace_id: uuid.UUID, definition_id: uuid.UUID, **fields: Any
) -> AttributeDefinition:
    definition = await get_scoped(session, AttributeDefinition, workspace_id, definition_id)
    if "label" in fields:
        if not fields["label"].strip() or len(fields["label"]) > 120:
            raise InvalidInput("label must be 1-120 characters")
        definition.label = fields["label"].strip()
    if "is_personal" in fields:
        definition.is_personal = bool(fields["is_personal"])
    if "options" in fields:
        if definition.value_type == "list" and not fields["options"]:
            raise InvalidInput("a list attribute needs options")
        definition.options = list(fields["options"])
    return definition


async def delete_attribute_definition(
    session: AsyncSession, workspace_id: uuid.UUID, definition_id: uuid.UUID
) -> None:
    await session.delete(await get_scoped(session, AttributeDefinition, workspace_id, definition_id))
