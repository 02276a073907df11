"""The agent inbox page and the few page-shaped reads the JSON API does not offer (contact panel, search).

The page ships the first page of the chosen view and the workspace's reference data (members, inboxes,
teams, labels, canned responses) as JSON in the HTML, together with the event sequence number read
*before* the list: the browser's WebSocket resumes from that number, so nothing that changes between
render and connect is missed. Everything else (threads, actions, live updates) goes through /api/v1.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response, get, post

from relaydesk.actions.contacts import update_contact
from relaydesk.channels.registry import spec_for
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.contacts import Contact, ContactIdentity
from relaydesk.models.conversations import Conversation, Label
from relaydesk.models.inboxes import Inbox
from relaydesk.models.library import AttributeDefinition, CannedResponse
from relaydesk.models.messages import Message
from relaydesk.models.users import User
from relaydesk.models.workspaces import Membership, Team, TeamMember, Workspace
from relaydesk.privacy import storage
from relaydesk.queries.conversations import (
    ConversationFilter,
    get_conversation,
    labels_for,
    list_conversations,
)
from relaydesk.queries.serializers import contact_full, conversation_json, iso
from relaydesk.runtime import Runtime
from relaydesk.web.render import WebContext, check_form, page, web_context

PAGE_SIZE = 25


def _reply_window(channel_type: str) -> int | None:
    found = spec_for(channel_type)
    return found.reply_window_hours if found else None


def _opt_uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput("invalid id in the view") from None


def view_filter(params: Any) -> tuple[dict[str, Any], ConversationFilter]:
    """The list's view from the query string, kept the same in the URL, the page and the JS."""
    view = {
        "assignee": params.get("assignee") or "all",
        "status": params.get("status") or "open",
        "inbox_id": params.get("inbox_id") or "",
        "team_id": params.get("team_id") or "",
        "label_id": params.get("label_id") or "",
        "sort": params.get("sort") or "last_activity",
    }
    f = ConversationFilter(
        status=view["status"],
        assignee=None if view["assignee"] == "all" else view["assignee"],
        inbox_id=_opt_uuid(view["inbox_id"]),
        team_id=_opt_uuid(view["team_id"]),
        label_id=_opt_uuid(view["label_id"]),
        sort=view["sort"],
    )
    return view, f


async def _reference_data(session: Any, workspace_id: uuid.UUID) -> dict[str, Any]:
    members = (
        await session.execute(
            sa.select(User.id, User.name, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == workspace_id, Membership.is_active.is_(True))
            .order_by(User.name)
        )
    ).all()
    inboxes = (
        await session.execute(sa.select(Inbox).where(Inbox.workspace_id == workspace_id).order_by(Inbox.name))
    ).scalars()
    teams = (
        await session.execute(sa.select(Team).where(Team.workspace_id == workspace_id).order_by(Team.name))
    ).scalars()
    labels = (
        await session.execute(sa.select(Label).where(Label.workspace_id == workspace_id).order_by(Label.name))
    ).scalars()
    canned = (
        await session.execute(
            sa.select(CannedResponse)
            .where(CannedResponse.workspace_id == workspace_id)
            .order_by(CannedResponse.short_code)
        )
    ).scalars()
    return {
        "members": [{"id": str(m.id), "name": m.name, "role": m.role} for m in members],
        "inboxes": [
            {
                "id": str(i.id),
                "name": i.name,
                "channel_type": i.channel_type,
                "reply_window_hours": _reply_window(i.channel_type),
            }
            for i in inboxes
        ],
        "teams": [{"id": str(t.id), "name": t.name} for t in teams],
        "labels": [{"id": str(lb.id), "name": lb.name, "color": lb.color} for lb in labels],
        "canned": [{"short_code": c.short_code, "content": c.content} for c in canned],
    }


@get(["/inbox", "/inbox/c/{conversation_id:uuid}"], include_in_schema=False)
async def inbox_page(
    request: Request, runtime: Runtime, conversation_id: uuid.UUID | None = None
) -> Response[Any]:
    ctx = await web_context(request, runtime)
    if not isinstance(ctx, WebContext):
        return ctx
    view, f = view_filter(request.query_params)
    ws = ctx.workspace.id
    async with runtime.db.read(inline=True) as session:
        seq = (await session.execute(sa.select(Workspace.event_seq).where(Workspace.id == ws))).scalar_one()
        items, next_cursor = await list_conversations(
            session, ws, ctx.info.user.id, f, cursor=None, limit=PAGE_SIZE
        )
        refs = await _reference_data(session, ws)
        my_teams = list(
            (
                await session.execute(
                    sa.select(TeamMember.team_id).where(
                        TeamMember.workspace_id == ws, TeamMember.user_id == ctx.info.user.id
                    )
                )
            ).scalars()
        )
        selected = await get_conversation(session, ws, conversation_id) if conversation_id else None
    boot = {
        "me": {"id": str(ctx.info.user.id), "name": ctx.info.user.name, "role": ctx.role},
        "my_team_ids": [str(t) for t in my_teams],
        "workspace": {"id": str(ws), "name": ctx.workspace.name},
        "seq": seq,
        "view": view,
        "items": items,
        "next_cursor": next_cursor,
        "selected": selected,
        **refs,
    }
    return page(
        request, "inbox.html", ctx=ctx, boot=json.dumps(boot).replace("</", "<\\/"), view=view, **refs
    )


@get("/inbox/contacts/{contact_id:uuid}/panel", include_in_schema=False)
async def contact_panel(contact_id: uuid.UUID, request: Request, runtime: Runtime) -> Response[Any]:
    """The contact panel: person, identities per channel, custom attributes, previous conversations."""
    ctx = await web_context(request, runtime)
    if not isinstance(ctx, WebContext):
        return Response({"error": {"code": "not_authenticated", "message": "log in again"}}, status_code=401)
    ws = ctx.workspace.id
    async with runtime.db.read() as session:
        contact = await get_scoped(session, Contact, ws, contact_id)
        identities = (
            await session.execute(
                sa.select(ContactIdentity, Inbox)
                .join(Inbox, Inbox.id == ContactIdentity.inbox_id)
                .where(ContactIdentity.workspace_id == ws, ContactIdentity.contact_id == contact_id)
            )
        ).all()
        previous = (
            await session.execute(
                sa.select(Conversation)
                .where(Conversation.workspace_id == ws, Conversation.contact_id == contact_id)
                .order_by(Conversation.last_activity_at.desc())
                .limit(20)
            )
        ).scalars()
        definitions = (
            await session.execute(
                sa.select(AttributeDefinition).where(
                    AttributeDefinition.workspace_id == ws, AttributeDefinition.applies_to == "contact"
                )
            )
        ).scalars()
        labels = {d.key: d.label for d in definitions}
        body = {
            "contact": contact_full(contact),
            "attribute_labels": labels,
            "identities": [
                {"inbox": inbox.name, "channel_type": inbox.channel_type, "external_id": ident.external_id}
                for ident, inbox in identities
            ],
            "conversations": [
                {
                    "id": str(c.id),
                    "display_number": c.display_number,
                    "status": c.status,
                    "last_activity_at": iso(c.last_activity_at),
                }
                for c in previous
            ],
        }
    return Response(body, headers={"cache-control": "no-store"})


@post("/inbox/contacts/{contact_id:uuid}/notes", include_in_schema=False, status_code=200)
async def contact_notes(contact_id: uuid.UUID, request: Request, runtime: Runtime) -> Response[Any]:
    ctx = await web_context(request, runtime)
    if not isinstance(ctx, WebContext):
        return Response({"error": {"code": "not_authenticated", "message": "log in again"}}, status_code=401)
    form = await check_form(request, ctx.csrf)
    notes = str(form.get("notes", ""))
    if len(notes) > 10_000:
        raise InvalidInput("notes are limited to 10000 characters")
    async with runtime.db.write() as session:
        await update_contact(session, ctx.workspace.id, contact_id, notes=notes)
    return Response({"ok": True})


@get("/inbox/search", include_in_schema=False)
async def search(request: Request, runtime: Runtime, q: str = "") -> Response[Any]:
    """Conversations whose messages or contact match every word of `q` (no time window), in 4-5 queries."""
    ctx = await web_context(request, runtime)
    if not isinstance(ctx, WebContext):
        return Response({"error": {"code": "not_authenticated", "message": "log in again"}}, status_code=401)
    q = q.strip()
    if not q or len(q) > 200:
        raise InvalidInput("search needs 1-200 characters")
    ws = ctx.workspace.id
    async with runtime.db.read() as session:
        message_ids = await storage.search_messages(session, ws, q, before=None, limit=50)
        contact_ids = await storage.search_contacts(session, ws, q, before=None, limit=50)
        conv_ids: list[uuid.UUID] = []
        if message_ids:
            conv_ids += list(
                (
                    await session.execute(
                        sa.select(Message.conversation_id).where(
                            Message.workspace_id == ws, Message.id.in_(message_ids)
                        )
                    )
                ).scalars()
            )
        if contact_ids:
            conv_ids += list(
                (
                    await session.execute(
                        sa.select(Conversation.id).where(
                            Conversation.workspace_id == ws, Conversation.contact_id.in_(contact_ids)
                        )
                    )
                ).scalars()
            )
        unique = list(dict.fromkeys(conv_ids))[:50]
        rows = (
            await session.execute(
                sa.select(Conversation, Contact, Message)
                .join(Contact, Contact.id == Conversation.contact_id)
                .outerjoin(Message, Message.id == Conversation.last_message_id)
                .where(Conversation.workspace_id == ws, Conversation.id.in_(unique))
                .order_by(Conversation.last_activity_at.desc())
            )
        ).all()
        labels = await labels_for(session, [conv.id for conv, _, _ in rows])
        items = [conversation_json(conv, contact, last, labels[conv.id]) for conv, contact, last in rows]
    return Response({"items": items, "next_cursor": None}, headers={"cache-control": "no-store"})


ROUTES = [inbox_page, contact_panel, contact_notes, search]
