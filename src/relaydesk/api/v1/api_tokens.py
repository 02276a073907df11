"""Personal API tokens: everyone manages their own; admins see and revoke every token of the workspace.

The clear token is in the creation response only; afterwards a token is known by its prefix. Each
token carries scopes (auth/scopes.py): full access by default, `*:read` read-only, or per family; a
token can only create tokens no stronger than itself.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import delete, get, post
from litestar.params import Parameter

from relaydesk.actions.people import issue_api_token, revoke_api_token
from relaydesk.api.v1._common import Cursor, Limit, Name, keyset_page
from relaydesk.auth import scopes as token_scopes
from relaydesk.auth.guards import requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.errors import Forbidden, InvalidInput
from relaydesk.models.users import ApiToken
from relaydesk.models.workspaces import Membership
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    expires_at: dt.datetime | None = None
    # Default full access ("*"); "*:read" read-only; or "<family>:read|write" entries.
    scopes: list[str] | None = None


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": str(token.id),
        "name": token.name,
        "prefix": token.prefix,
        "user_id": str(token.user_id),
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at),
        "expires_at": iso(token.expires_at),
        "revoked_at": iso(token.revoked_at),
        "scopes": list(token.scopes or []),
    }


@get("/api-tokens", guards=[requires_agent])
async def tokens_index(
    principal: Principal,
    runtime: Runtime,
    all_members: bool = Parameter(query="all", default=False, description="every member's tokens (admins)"),
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """The caller's tokens, or with `all=true` (admins) every token of the workspace; newest first."""
    if all_members and not principal.has_role("admin"):
        raise Forbidden("listing every member's tokens needs the admin role")
    stmt = sa.select(ApiToken).where(ApiToken.workspace_id == principal.workspace_id)
    if not all_members:
        stmt = stmt.where(ApiToken.user_id == principal.user_id)
    async with runtime.db.read() as session:
        rows, next_cursor = await keyset_page(
            session, stmt, id_column=ApiToken.id, cursor=cursor, limit=limit, descending=True
        )
    return {"items": [token_json(t) for t in rows], "next_cursor": next_cursor}


@post("/api-tokens", guards=[requires_agent])
async def tokens_create(data: TokenCreate, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """A token for the caller in this workspace, with the caller's role; `token` is shown this once."""
    if data.expires_at is not None and data.expires_at.tzinfo is None:
        raise InvalidInput("expires_at needs a time zone")
    wanted = token_scopes.normalise(data.scopes if data.scopes is not None else [token_scopes.FULL])
    if principal.via == "token" and not token_scopes.covers(principal.scopes, wanted):
        raise Forbidden("a token can only create tokens with scopes it holds itself")
    async with runtime.db.write() as session:
        row, raw = await issue_api_token(
            session,
            principal.workspace_id,
            principal.user_id,
            data.name,
            data.expires_at,
            scopes=wanted,
            actor_id=principal.user_id,
        )
    return {**token_json(row), "token": raw}


@delete("/api-tokens/{token_id:uuid}", guards=[requires_agent])
async def tokens_revoke(token_id: uuid.UUID, principal: Principal, runtime: Runtime) -> None:
    """Own tokens; admins any member's, except that only owners revoke owners' tokens."""
    async with runtime.db.write() as session:
        if principal.has_role("admin"):
            owner_role = (
                await session.execute(
                    sa.select(Membership.role)
                    .join(ApiToken, ApiToken.user_id == Membership.user_id)
                    .where(
                        ApiToken.id == token_id,
                        ApiToken.workspace_id == principal.workspace_id,
                        Membership.workspace_id == principal.workspace_id,
                    )
                )
            ).scalar_one_or_none()
            if owner_role == "owner" and principal.role != "owner":
                raise Forbidden("only an owner can revoke an owner's token")
            await revoke_api_token(
                session, principal.workspace_id, token_id, None, actor_id=principal.user_id
            )
        else:
            await revoke_api_token(
                session, principal.workspace_id, token_id, principal.user_id, actor_id=principal.user_id
            )


SCOPE_FAMILY = "tokens"
ROUTES = [tokens_index, tokens_create, tokens_revoke]
