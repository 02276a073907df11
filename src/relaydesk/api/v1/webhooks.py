"""Outgoing webhook subscriptions (admins): where to send which events, with delivery health.

The signing secret is in the create and rotate responses only. Delivery: jobs/handlers/webhooks.py; the
format and how to verify it: docs/api.md.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar import delete, get, patch, post

from relaydesk.actions import webhooks as hook_actions
from relaydesk.api.v1._common import Cursor, Limit, changes, keyset_page
from relaydesk.auth.guards import requires_admin
from relaydesk.auth.principal import Principal
from relaydesk.db.scoping import get_scoped
from relaydesk.models.webhooks import WebhookEndpoint
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
EventTypes = Annotated[list[Annotated[str, msgspec.Meta(max_length=90)]], msgspec.Meta(max_length=50)]
Description = Annotated[str, msgspec.Meta(max_length=300)]


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    event_types: EventTypes = msgspec.field(default_factory=lambda: ["*"])
    description: Description = ""


class WebhookUpdate(msgspec.Struct, forbid_unknown_fields=True):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    event_types: EventTypes | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


def webhook_json(ep: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": str(ep.id),
        "url": ep.url,
        "description": ep.description,
        "event_types": list(ep.event_types or []),
        "is_active": ep.is_active,
        "delivery": {
            "last_seq": ep.last_seq,
            "failure_count": ep.failure_count,
            "next_attempt_at": iso(ep.next_attempt_at),
            "last_delivered_at": iso(ep.last_delivered_at),
            "last_error": ep.last_error,
            "last_error_at": iso(ep.last_error_at),
        },
        "created_at": iso(ep.created_at),
    }


@get("/webhooks", guards=[requires_admin])
async def webhooks_index(
    principal: Principal, runtime: Runtime, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        rows, next_cursor = await keyset_page(
            session,
            sa.select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == principal.workspace_id),
            id_column=WebhookEndpoint.id,
            cursor=cursor,
            limit=limit,
        )
    return {"items": [webhook_json(r) for r in rows], "next_cursor": next_cursor}


@get("/webhooks/{webhook_id:uuid}", guards=[requires_admin])
async def webhooks_show(webhook_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return webhook_json(await get_scoped(session, WebhookEndpoint, principal.workspace_id, webhook_id))


@post("/webhooks", guards=[requires_admin])
async def webhooks_create(data: WebhookCreate, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """Events from now on are delivered in order; `secret` (whsec_...) is shown this once."""
    async with runtime.db.write() as session:
        ep, secret = await hook_actions.create_endpoint(
            session,
            principal.workspace_id,
            url=data.url,
            event_types=data.event_types,
            description=data.description,
            actor_id=principal.user_id,
        )
    return {**webhook_json(ep), "secret": secret}


@patch("/webhooks/{webhook_id:uuid}", guards=[requires_admin])
async def webhooks_update(
    webhook_id: uuid.UUID, data: WebhookUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Setting `is_active` back to true (e.g. after a 410) retries at once from where delivery stopped."""
    fields = changes(data)
    async with runtime.db.write() as session:
        ep = await hook_actions.update_endpoint(
            session, principal.workspace_id, webhook_id, actor_id=principal.user_id, **fields
        )
        return webhook_json(ep)


@post("/webhooks/{webhook_id:uuid}/rotate-secret", guards=[requires_admin], status_code=200)
async def webhooks_rotate_secret(
    webhook_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    async with runtime.db.write() as session:
        ep, secret = await hook_actions.rotate_endpoint_secret(
            session, principal.workspace_id, webhook_id, actor_id=principal.user_id
        )
    return {**webhook_json(ep), "secret": secret}


@delete("/webhooks/{webhook_id:uuid}", guards=[requires_admin])
async def webhooks_delete(webhook_id: uuid.UUID, principal: Principal, runtime: Runtime) -> None:
    async with runtime.db.write() as session:
        await hook_actions.delete_endpoint(
            session, principal.workspace_id, webhook_id, actor_id=principal.user_id
        )


SCOPE_FAMILY = "webhooks"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [
    webhooks_index,
    webhooks_show,
    webhooks_create,
    webhooks_update,
    webhooks_rotate_secret,
    webhooks_delete,
]
