"""Who am I: the caller's profile, role and workspaces."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import get

from relaydesk.auth.guards import requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.models.workspaces import Membership, Workspace
from relaydesk.runtime import Runtime


@get("/me", guards=[requires_agent])
async def me(principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        rows = (
            await session.execute(
                sa.select(Workspace.id, Workspace.name, Workspace.slug, Membership.role)
                .join(Membership, Membership.workspace_id == Workspace.id)
                .where(Membership.user_id == principal.user_id, Membership.is_active.is_(True))
                .order_by(Workspace.name)
            )
        ).all()
    return {
        "id": str(principal.user_id),
        "name": principal.name,
        "email": principal.email,
        "role": principal.role,
        "workspace_id": str(principal.workspace_id),
        "workspaces": [{"id": str(r.id), "name": r.name, "slug": r.slug, "role": r.role} for r in rows],
    }


SCOPE_FAMILY = "me"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [me]
