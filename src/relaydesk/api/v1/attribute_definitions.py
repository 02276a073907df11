"""Custom attribute definitions for contacts and conversations: agents read them, admins manage them.

`applies_to`, `key` and `value_type` are fixed once created (stored values are keyed by them); label,
personal flag and list options may change.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
import sqlalchemy as sa
from litestar import delete, get, patch, post

from relaydesk.actions import library
from relaydesk.api.v1._common import Cursor, Limit, Name, changes, keyset_page
from relaydesk.auth.guards import requires_admin, requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.library import AttributeDefinition
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime

Key = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,79}$")]
Option = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
Options = Annotated[list[Option], msgspec.Meta(max_length=200)]
AppliesTo = Literal["contact", "conversation"]
ValueType = Literal["text", "number", "date", "boolean", "list", "link"]


class DefinitionCreate(msgspec.Struct, forbid_unknown_fields=True):
    applies_to: AppliesTo
    key: Key
    label: Name
    value_type: ValueType = "text"
    is_personal: bool = False
    options: Options = []


class DefinitionUpdate(msgspec.Struct, forbid_unknown_fields=True):
    label: Name | msgspec.UnsetType = msgspec.UNSET
    is_personal: bool | msgspec.UnsetType = msgspec.UNSET
    options: Options | msgspec.UnsetType = msgspec.UNSET


def definition_json(d: AttributeDefinition) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "applies_to": d.applies_to,
        "key": d.key,
        "label": d.label,
        "value_type": d.value_type,
        "is_personal": d.is_personal,
        "options": list(d.options or []),
        "created_at": iso(d.created_at),
    }


@get("/attribute-definitions", guards=[requires_agent])
async def definitions_index(
    principal: Principal,
    runtime: Runtime,
    applies_to: AppliesTo | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    stmt = sa.select(AttributeDefinition).where(AttributeDefinition.workspace_id == principal.workspace_id)
    if applies_to:
        stmt = stmt.where(AttributeDefinition.applies_to == applies_to)
    async with runtime.db.read() as session:
        rows, next_cursor = await keyset_page(
            session,
            stmt,
            id_column=AttributeDefinition.id,
            sort_column=AttributeDefinition.key,
            cursor=cursor,
            limit=limit,
        )
    return {"items": [definition_json(r) for r in rows], "next_cursor": next_cursor}


@get("/attribute-definitions/{definition_id:uuid}", guards=[requires_agent])
async def definitions_show(
    definition_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        d = await get_scoped(session, AttributeDefinition, principal.workspace_id, definition_id)
        return definition_json(d)


@post("/attribute-definitions", guards=[requires_admin])
async def definitions_create(
    data: DefinitionCreate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    if data.value_type != "list" and data.options:
        raise InvalidInput("options are only for list attributes")
    async with runtime.db.write() as session:
        d = await library.create_attribute_definition(
            session,
            principal.workspace_id,
            applies_to=data.applies_to,
            key=data.key,
            label=data.label,
            value_type=data.value_type,
            is_personal=data.is_personal,
            options=data.options,
        )
        return definition_json(d)


@patch("/attribute-definitions/{definition_id:uuid}", guards=[requires_admin])
async def definitions_update(
    definition_id: uuid.UUID, data: DefinitionUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    fields = changes(data)
    async with runtime.db.write() as session:
        d = await library.update_attribute_definition(
            session, principal.workspace_id, definition_id, **fields
        )
        return definition_json(d)


@delete("/attribute-definitions/{definition_id:uuid}", guards=[requires_admin])
async def definitions_delete(definition_id: uuid.UUID, principal: Principal, runtime: Runtime) -> None:
    async with runtime.db.write() as session:
        await library.delete_attribute_definition(session, principal.workspace_id, definition_id)


SCOPE_FAMILY = "settings"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [definitions_index, definitions_show, definitions_create, definitions_update, definitions_delete]
