"""Inboxes (one per connected channel): agents list them, admins connect, configure and remove them.

`settings` and `credentials` are validated against the channel's spec (`GET /api/v1/channels` publishes
its schema; a value that does not fit is a 400 naming the field). A generated signing secret is shown once,
in the answer to the request that made it (create, rotate); credentials an admin typed in (provider
tokens) are never shown back, only their names (`credentials_set`, admins only). Everyone sees the webhook URL a provider must call and the health line (last event
received, last error, whether the provider refused the credentials).
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar import delete, get, patch, post

from relaydesk.actions import inboxes as inbox_actions
from relaydesk.api.v1._common import Cursor, Limit, Name, changes, keyset_page
from relaydesk.auth.guards import requires_admin, requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.channels.registry import spec_for
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.inboxes import Inbox
from relaydesk.privacy import storage
from relaydesk.queries.receivers import receiver_health
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime

MAX_SETTINGS_BYTES = 16_384


class InboxCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    # Checked against relaydesk.channels.registry by the action (400 names the implemented types).
    channel_type: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    # Checked against the channel's spec (GET /api/v1/channels).
    settings: dict[str, Any] = {}
    # Provider credentials (bot tokens, app secrets); sealed at rest, never shown back.
    credentials: dict[str, Any] = {}


class InboxUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    # Merged into the current settings; null removes an optional one.
    settings: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    # Replaces the named credentials (clears a "needs re-authorisation" mark); generated ones are rotated.
    credentials: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class SecretRotation(msgspec.Struct, forbid_unknown_fields=True):
    which: Annotated[str, msgspec.Meta(min_length=1, max_length=80)] = "inbound_secret"


def _check_size(value: dict[str, Any], what: str) -> None:
    if len(json.dumps(value)) > MAX_SETTINGS_BYTES:
        raise InvalidInput(f"{what} is larger than {MAX_SETTINGS_BYTES} bytes")


def inbox_json(inbox: Inbox, base_url: str, *, for_admin: bool, show: tuple[str, ...] = ()) -> dict[str, Any]:
    """An inbox as the API shows it. `show` names the generated secrets to include: only the ones made by
    this very request (a new inbox, a rotation), shown once to the admin who made them; afterwards an
    owner reveals them on purpose in the admin (audited). Typed-in credentials are never shown back."""
    spec = spec_for(inbox.channel_type)
    body: dict[str, Any] = {
        "id": str(inbox.id),
        "name": inbox.name,
        "channel_type": inbox.channel_type,
        "public_id": inbox.public_id,
        "webhook_url": f"{base_url}/inbound/{inbox.channel_type}/{inbox.public_id}",
        "settings": inbox.settings,
        "embed_code": spec.embed_code(base_url, inbox.public_id) if spec else None,
        "is_active": inbox.is_active,
        "health": {
            "last_event_at": iso(inbox.last_event_at),
            "last_error": inbox.last_error,
            "last_error_at": iso(inbox.last_error_at),
            "failed_events": inbox.failed_events,
            "needs_reauthorisation": inbox.reauth_since is not None,
            "reauthorisation_reason": inbox.reauth_reason,
            # The background receiver (IMAP): state and last sync; null when the inbox has none.
            "receiver": receiver_health(inbox),
        },
        "created_at": iso(inbox.created_at),
    }
    if for_admin:
        creds = storage.read_inbox_credentials(inbox)
        body["credentials_set"] = sorted(name for name, value in creds.items() if value)
        if show:
            revealable = set(inbox_actions.revealable_secrets(inbox))
            body["secrets"] = {name: creds[name] for name in show if name in revealable}
    return body


def _json(inbox: Inbox, principal: Principal, runtime: Runtime, show: tuple[str, ...] = ()) -> dict[str, Any]:
    return inbox_json(inbox, runtime.settings.base_url, for_admin=principal.has_role("admin"), show=show)


@get("/inboxes", guards=[requires_agent])
async def inboxes_index(
    principal: Principal, runtime: Runtime, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        rows, next_cursor = await keyset_page(
            session,
            sa.select(Inbox).where(Inbox.workspace_id == principal.workspace_id),
            id_column=Inbox.id,
            cursor=cursor,
            limit=limit,
        )
    return {"items": [_json(i, principal, runtime) for i in rows], "next_cursor": next_cursor}


@get("/inboxes/{inbox_id:uuid}", guards=[requires_agent])
async def inboxes_show(inbox_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return _json(await get_scoped(session, Inbox, principal.workspace_id, inbox_id), principal, runtime)


@post("/inboxes", guards=[requires_admin])
async def inboxes_create(data: InboxCreate, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """Settings and credentials are checked against the channel's spec; its generated secrets (the API
    channel's signing secrets) are made here."""
    _check_size(data.settings, "settings")
    _check_size(data.credentials, "credentials")
    async with runtime.db.write() as session:
        inbox = await inbox_actions.create_inbox(
            session,
            principal.workspace_id,
            name=data.name,
            channel_type=data.channel_type,
            settings=data.settings,
            credentials=data.credentials,
            actor_id=principal.user_id,
        )
        return _json(inbox, principal, runtime, show=tuple(inbox_actions.revealable_secrets(inbox)))


@patch("/inboxes/{inbox_id:uuid}", guards=[requires_admin])
async def inboxes_update(
    inbox_id: uuid.UUID, data: InboxUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    fields = changes(data)
    for what in ("settings", "credentials"):
        if what in fields:
            _check_size(fields[what], what)
    async with runtime.db.write() as session:
        inbox = await inbox_actions.update_inbox(
            session, principal.workspace_id, inbox_id, **fields, actor_id=principal.user_id
        )
        if "settings" in fields:
            _check_size(inbox.settings, "settings")
        return _json(inbox, principal, runtime)


@post("/inboxes/{inbox_id:uuid}/rotate-secret", guards=[requires_admin], status_code=200)
async def inboxes_rotate_secret(
    inbox_id: uuid.UUID, data: SecretRotation, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Replace one signing secret (`inbound_secret` by default); the old one stops working at once."""
    async with runtime.db.write() as session:
        inbox = await inbox_actions.rotate_secret(
            session, principal.workspace_id, inbox_id, data.which, actor_id=principal.user_id
        )
        return _json(inbox, principal, runtime, show=(data.which,))


@delete("/inboxes/{inbox_id:uuid}", guards=[requires_admin])
async def inboxes_delete(inbox_id: uuid.UUID, principal: Principal, runtime: Runtime) -> None:
    """Removes the inbox with its conversations and messages; deactivate it instead to keep history."""
    async with runtime.db.write() as session:
        await inbox_actions.delete_inbox(
            session, principal.workspace_id, inbox_id, actor_id=principal.user_id
        )


SCOPE_FAMILY = "inboxes"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [inboxes_index, inboxes_show, inboxes_create, inboxes_update, inboxes_rotate_secret, inboxes_delete]
