"""The caller's workspace: everyone reads it, admins rename it and change its settings."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import get, patch

from relaydesk.actions.retention import AUDIT_RETENTION_SETTING, RAW_BODY_RETENTION_SETTING, retention_days
from relaydesk.actions.workspaces import get_scoped_workspace, update_workspace
from relaydesk.auth.guards import requires_admin, requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.errors import InvalidInput
from relaydesk.models.workspaces import ROLES, Workspace
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime

DEFAULT_REPLY_WINDOW_HOURS = 24


class SettingsUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Known settings only; `null` restores a setting's default."""

    # Let outgoing webhooks and API-channel deliveries reach private/loopback addresses (on-premise
    # integrations). Off by default: the SSRF guard refuses them.
    allow_private_webhook_targets: bool | msgspec.UnsetType | None = msgspec.UNSET
    # Hours after the customer's last message during which channels such as WhatsApp accept free replies.
    reply_window_hours: Annotated[int, msgspec.Meta(ge=1, le=720)] | msgspec.UnsetType | None = msgspec.UNSET
    # Days audit rows are kept before the retention purge (privacy item 17; default 365).
    audit_retention_days: Annotated[int, msgspec.Meta(ge=30, le=3650)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    # Days a processed raw inbound request keeps its body (default 7; 0 = purge at the next run).
    inbound_body_retention_days: Annotated[int, msgspec.Meta(ge=0, le=90)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    # Roles that must use two-factor authentication to log in.
    require_2fa_roles: Annotated[list[str], msgspec.Meta(max_length=3)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )


class WorkspaceUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    settings: SettingsUpdate | msgspec.UnsetType = msgspec.UNSET


def workspace_json(ws: Workspace) -> dict[str, Any]:
    settings = dict(ws.settings or {})
    return {
        "id": str(ws.id),
        "name": ws.name,
        "slug": ws.slug,
        "settings": {
            "allow_private_webhook_targets": bool(settings.get("allow_private_webhook_targets", False)),
            "reply_window_hours": settings.get("reply_window_hours", DEFAULT_REPLY_WINDOW_HOURS),
            "require_2fa_roles": list(settings.get("require_2fa_roles", [])),
            "audit_retention_days": retention_days(settings, AUDIT_RETENTION_SETTING),
            "inbound_body_retention_days": retention_days(settings, RAW_BODY_RETENTION_SETTING),
        },
        "created_at": iso(ws.created_at),
    }


@get("/workspace", guards=[requires_agent])
async def workspace_show(principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return workspace_json(await get_scoped_workspace(session, principal.workspace_id))


@patch("/workspace", guards=[requires_admin])
async def workspace_update(data: WorkspaceUpdate, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    settings: dict[str, object] | None = None
    if data.settings is not msgspec.UNSET:
        settings = {k: v for k, v in msgspec.structs.asdict(data.settings).items() if v is not msgspec.UNSET}
        roles = settings.get("require_2fa_roles")
        if isinstance(roles, list) and not set(roles) <= set(ROLES):
            raise InvalidInput(f"require_2fa_roles may hold {', '.join(ROLES)}")
    if data.name is msgspec.UNSET and not settings:
        raise InvalidInput("nothing to change")
    async with runtime.db.write() as session:
        ws = await update_workspace(
            session,
            principal.workspace_id,
            name=None if data.name is msgspec.UNSET else data.name,
            settings=settings,
            actor_id=principal.user_id,
        )
        return workspace_json(ws)


SCOPE_FAMILY = "settings"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [workspace_show, workspace_update]
