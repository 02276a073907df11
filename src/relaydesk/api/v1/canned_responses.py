"""Canned responses: agents search them by short code from the composer (`/`); admins manage them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar import delete, get, patch, post
from litestar.params import Parameter

from relaydesk.actions import library
from relaydesk.api.v1._common import Cursor, Limit, changes, keyset_page
from relaydesk.auth.guards import requires_admin, requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.db.scoping import get_scoped
from relaydesk.models.library import CannedResponse
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime

ShortCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,80}$")]
Content = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]


class CannedCreate(msgspec.Struct, forbid_unknown_fields=True):
    short_code: ShortCode
    content: Content


class CannedUpdate(msgspec.Struct, forbid_unknown_fields=True):
    short_code: ShortCode | msgspec.UnsetType = msgspec.UNSET
    content: Content | msgspec.UnsetType = msgspec.UNSET


def canned_json(canned: CannedResponse) -> dict[str, Any]:
    return {
        "id": str(canned.id),
        "short_code": canned.short_code,
        "content": canned.content,
        "created_at": iso(canned.created_at),
    }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@get("/canned-responses", guards=[requires_agent])
async def canned_index(
    principal: Principal,
    runtime: Runtime,
    q: Annotated[str | None, Parameter(max_length=80, description="short code prefix")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Ordered by short code; `q` keeps those whose short code starts with it (case-insensitive)."""
    stmt = sa.select(CannedResponse).where(CannedResponse.workspace_id == principal.workspace_id)
    if q:
        stmt = stmt.where(
            sa.func.lower(CannedResponse.short_code).like(_escape_like(q.lower()) + "%", escape="\\")
        )
    async with runtime.db.read() as session:
        rows, next_cursor = await keyset_page(
            session,
            stmt,
            id_column=CannedResponse.id,
            sort_column=CannedResponse.short_code,
            cursor=cursor,
            limit=limit,
        )
    return {"items": [canned_json(r) for r in rows], "next_cursor": next_cursor}


@get("/canned-responses/{canned_id:uuid}", guards=[requires_agent])
async def canned_show(canned_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return canned_json(await get_scoped(session, CannedResponse, principal.workspace_id, canned_id))


@post("/canned-responses", guards=[requires_admin])
async def canned_create(data: CannedCreate, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.write() as session:
        canned = await library.create_canned_response(
            session, principal.workspace_id, data.short_code, data.content
        )
        return canned_json(canned)


@patch("/canned-responses/{canned_id:uuid}", guards=[requires_admin])
async def canned_update(
    canned_id: uuid.UUID, data: CannedUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    fields = changes(data)
    async with runtime.db.write() as session:
        canned = await library.update_canned_response(
            session,
            principal.workspace_id,
            canned_id,
            short_code=fields.get("short_code"),
            content=fields.get("content"),
        )
        return canned_json(canned)


@delete("/canned-responses/{canned_id:uuid}", guards=[requires_admin])
async def canned_delete(canned_id: uuid.UUID, principal: Principal, runtime: Runtime) -> None:
    async with runtime.db.write() as session:
        await library.delete_canned_response(session, principal.workspace_id, canned_id)


SCOPE_FAMILY = "settings"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [canned_index, canned_show, canned_create, canned_update, canned_delete]
