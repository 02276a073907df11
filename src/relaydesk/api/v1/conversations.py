"""Conversations: list with views and filters, read, open, change state, labels, mark seen."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar import get, patch, post, put
from litestar.params import Parameter

from relaydesk.actions import conversations as conv_actions
from relaydesk.auth.guards import requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.contacts import Contact
from relaydesk.models.inboxes import Inbox
from relaydesk.queries.conversations import ConversationFilter, get_conversation, list_conversations
from relaydesk.queries.pagination import check_limit
from relaydesk.runtime import Runtime

_UNSET: Any = msgspec.UNSET


class ConversationCreate(msgspec.Struct, forbid_unknown_fields=True):
    inbox_id: uuid.UUID
    contact_id: uuid.UUID


class ConversationUpdate(msgspec.Struct, forbid_unknown_fields=True):
    status: str | msgspec.UnsetType = msgspec.UNSET
    snoozed_until: dt.datetime | msgspec.UnsetType | None = msgspec.UNSET
    priority: str | msgspec.UnsetType = msgspec.UNSET
    assignee_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    team_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    custom_attributes: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class LabelsUpdate(msgspec.Struct, forbid_unknown_fields=True):
    label_ids: list[uuid.UUID]


@get("/conversations", guards=[requires_agent])
async def conversations_index(
    principal: Principal,
    runtime: Runtime,
    status: str = "open",
    assignee: str | None = None,
    inbox_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    label_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    sort: str = "last_activity",
    cursor: str | None = None,
    limit: int = Parameter(default=20, ge=1, le=100),
) -> dict[str, Any]:
    """Views: `assignee=me|unassigned|assigned|<user id>`, `status=open|pending|snoozed|resolved|all`,
    per inbox, team or label; `sort=last_activity|waiting|created`; keyset pagination by `cursor`."""
    check_limit(limit)
    f = ConversationFilter(
        status=status,
        assignee=assignee,
        inbox_id=inbox_id,
        team_id=team_id,
        label_id=label_id,
        contact_id=contact_id,
        sort=sort,
    )
    async with runtime.db.read(inline=True) as session:
        items, next_cursor = await list_conversations(
            session, principal.workspace_id, principal.user_id, f, cursor=cursor, limit=limit
        )
    return {"items": items, "next_cursor": next_cursor}


@get("/conversations/{conversation_id:uuid}", guards=[requires_agent])
async def conversations_show(
    conversation_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return await get_conversation(session, principal.workspace_id, conversation_id)


@post("/conversations", guards=[requires_agent])
async def conversations_create(
    data: ConversationCreate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Open a conversation with a contact on an inbox (e.g. to write first)."""
    async with runtime.db.write() as session:
        await get_scoped(session, Inbox, principal.workspace_id, data.inbox_id)
        await get_scoped(session, Contact, principal.workspace_id, data.contact_id)
        conv = await conv_actions.create_conversation(
            session, principal.workspace_id, data.inbox_id, data.contact_id
        )
    async with runtime.db.read() as session:
        return await get_conversation(session, principal.workspace_id, conv.id)


@patch("/conversations/{conversation_id:uuid}", guards=[requires_agent])
async def conversations_update(
    conversation_id: uuid.UUID, data: ConversationUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    ws, actor = principal.workspace_id, principal.user_id
    fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if not fields:
        raise InvalidInput("nothing to change")
    if "snoozed_until" in fields and "status" not in fields:
        raise InvalidInput("snoozed_until goes with status snoozed")
    async with runtime.db.write() as session:
        if "status" in fields:
            snooze = fields.get("snoozed_until")
            if snooze is not None and snooze.tzinfo is None:
                raise InvalidInput("snoozed_until needs a time zone")
            await conv_actions.change_status(
                session, ws, conversation_id, fields["status"], snoozed_until=snooze, actor_id=actor
            )
        if "priority" in fields:
            await conv_actions.set_priority(session, ws, conversation_id, fields["priority"], actor_id=actor)
        if "assignee_id" in fields or "team_id" in fields:
            await conv_actions.assign(
                session,
                ws,
                conversation_id,
                assignee_id=fields.get("assignee_id", ...),
                team_id=fields.get("team_id", ...),
                actor_id=actor,
            )
        if "custom_attributes" in fields:
            await conv_actions.set_attributes(
                session, ws, conversation_id, fields["custom_attributes"], actor_id=actor
            )
    async with runtime.db.read() as session:
        return await get_conversation(session, ws, conversation_id)


@put("/conversations/{conversation_id:uuid}/labels", guards=[requires_agent])
async def conversations_labels(
    conversation_id: uuid.UUID, data: LabelsUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    async with runtime.db.write() as session:
        await conv_actions.set_labels(
            session, principal.workspace_id, conversation_id, data.label_ids, actor_id=principal.user_id
        )
    async with runtime.db.read() as session:
        return await get_conversation(session, principal.workspace_id, conversation_id)


@post("/conversations/{conversation_id:uuid}/seen", guards=[requires_agent], status_code=200)
async def conversations_seen(
    conversation_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    async with runtime.db.write() as session:
        conv = await conv_actions.mark_seen(
            session, principal.workspace_id, conversation_id, actor_id=principal.user_id
        )
    return {"id": str(conv.id), "unread_count": conv.unread_count}


SCOPE_FAMILY = "conversations"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [
    conversations_index,
    conversations_show,
    conversations_create,
    conversations_update,
    conversations_labels,
    conversations_seen,
]
