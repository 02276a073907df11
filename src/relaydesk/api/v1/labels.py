"""Labels: agents read them to tag conversations; admins manage the list."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar import delete, get, patch, post

from relaydesk.actions import library
from relaydesk.api.v1._common import Cursor, Limit, changes, keyset_page
from relaydesk.auth.guards import requires_admin, requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.db.scoping import get_scoped
from relaydesk.models.conversations import Label
from relaydesk.queries.serializers import label_json
from relaydesk.runtime import Runtime

LabelName = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Color = Annotated[str, msgspec.Meta(pattern=r"^#[0-9a-fA-F]{6}$")]
Description = Annotated[str, msgspec.Meta(max_length=1000)]


class LabelCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: LabelName
    color: Color = "#6b7280"
    description: Description = ""


class LabelUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: LabelName | msgspec.UnsetType = msgspec.UNSET
    color: Color | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET


@get("/labels", guards=[requires_agent])
async def labels_index(
    principal: Principal, runtime: Runtime, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    """Alphabetical by name."""
    async with runtime.db.read() as session:
        rows, next_cursor = await keyset_page(
            session,
            sa.select(Label).where(Label.workspace_id == principal.workspace_id),
            id_column=Label.id,
            sort_column=Label.name,
            cursor=cursor,
            limit=limit,
        )
    return {"items": [label_json(r) for r in rows], "next_cursor": next_cursor}


@get("/labels/{label_id:uuid}", guards=[requires_agent])
async def labels_show(label_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return label_json(await get_scoped(session, Label, principal.workspace_id, label_id))


@post("/labels", guards=[requires_admin])
async def labels_create(data: LabelCreate, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.write() as session:
        label = await library.create_label(
            session, principal.workspace_id, data.name, data.color, data.description
        )
        return label_json(label)


@patch("/labels/{label_id:uuid}", guards=[requires_admin])
async def labels_update(
    label_id: uuid.UUID, data: LabelUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    fields = changes(data)
    async with runtime.db.write() as session:
        return label_json(await library.update_label(session, principal.workspace_id, label_id, **fields))


@delete("/labels/{label_id:uuid}", guards=[requires_admin])
async def labels_delete(label_id: uuid.UUID, principal: Principal, runtime: Runtime) -> None:
    """Removes the label from every conversation too."""
    async with runtime.db.write() as session:
        await library.delete_label(session, principal.workspace_id, label_id)


SCOPE_FAMILY = "settings"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [labels_index, labels_show, labels_create, labels_update, labels_delete]
