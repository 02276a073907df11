"""Open conversations and change their state: status, assignment, team, priority, labels, attributes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput, NotFound
from relaydesk.models.conversations import PRIORITIES, STATUSES, Conversation, ConversationLabel, Label
from relaydesk.models.workspaces import Membership, Team, Workspace
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit


async def _next_display_number(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    return (
        await session.execute(
            sa.update(Workspace)
            .where(Workspace.id == workspace_id)
            .values(conversation_seq=Workspace.conversation_seq + 1)
            .returning(Workspace.conversation_seq)
        )
    ).scalar_one()


async def create_conversation(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_id: uuid.UUID, contact_id: uuid.UUID
) -> Conversation:
    now = utcnow()
    conv = Conversation(
        workspace_id=workspace_id,
        display_number=await _next_display_number(session, workspace_id),
        inbox_id=inbox_id,
        contact_id=contact_id,
        status="open",
        priority="none",
        custom_attributes={},
        last_activity_at=now,
        unread_count=0,
        created_at=now,
    )
    session.add(conv)
    await session.flush()
    await emit(session, workspace_id, events.conversation_created(conv))
    return conv


async def current_conversation(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_id: uuid.UUID, contact_id: uuid.UUID
) -> Conversation:
    """The contact's latest unresolved conversation on this inbox, or a new one (a resolved one stays closed)."""
    stmt = (
        sa.select(Conversation)
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.inbox_id == inbox_id,
            Conversation.contact_id == contact_id,
            Conversation.status != "resolved",
        )
        .order_by(Conversation.last_activity_at.desc())
        .limit(1)
    )
    conv = (await session.execute(stmt)).scalar_one_or_none()
    return conv or await create_conversation(session, workspace_id, inbox_id, contact_id)


async def _changed(
    session: AsyncSession, conv: Conversation, changes: dict[str, Any], actor_id: uuid.UUID | None
) -> None:
    await emit(
        session, conv.workspace_id, events.conversation_updated(conv, list(changes), actor_id=actor_id)
    )


async def change_status(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    status: str,
    *,
    snoozed_until: dt.datetime | None = None,
    actor_id: uuid.UUID | None = None,
) -> Conversation:
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
    if status == "snoozed":
        if snoozed_until is None or snoozed_until <= utcnow():
            raise InvalidInput("snoozing needs snoozed_until in the future")
    elif snoozed_until is not None:
        raise InvalidInput("snoozed_until is only valid with status snoozed")
    conv = await get_scoped(session, Conversation, workspace_id, conversation_id)
    conv.status = status
    conv.snoozed_until = snoozed_until if status == "snoozed" else None
    if status == "resolved":
        conv.waiting_since = None
    await _changed(session, conv, {"status": status}, actor_id)
    return conv


async def assign(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    assignee_id: uuid.UUID | Any | None = ...,
    team_id: uuid.UUID | Any | None = ...,
    actor_id: uuid.UUID | None = None,
) -> Conversation:
    conv = await get_scoped(session, Conversation, workspace_id, conversation_id)
    changes: dict[str, Any] = {}
    if assignee_id is not ...:
        if assignee_id is not None:
            member = (
                await session.execute(
                    sa.select(Membership.id).where(
                        Membership.workspace_id == workspace_id,
                        Membership.user_id == assignee_id,
                        Membership.is_active.is_(True),
                    )
                )
            ).first()
            if member is None:
                raise InvalidInput("assignee is not an active member of this workspace")
        conv.assignee_id = assignee_id
        changes["assignee_id"] = assignee_id
    if team_id is not ...:
        if team_id is not None:
            await get_scoped(session, Team, workspace_id, team_id)
        conv.team_id = team_id
        changes["team_id"] = team_id
    if not changes:
        raise InvalidInput("nothing to assign: give assignee_id and/or team_id")
    await _changed(session, conv, changes, actor_id)
    return conv


async def set_priority(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    priority: str,
    *,
    actor_id=None,
) -> Conversation:
    if priority not in PRIORITIES:
        raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}")
    conv = await get_scoped(session, Conversation, workspace_id, conversation_id)
    conv.priority = priority
    await _changed(session, conv, {"priority": priority}, actor_id)
    return conv


async def set_attributes(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    attributes: dict[str, Any],
    *,
    actor_id=None,
) -> Conversation:
    conv = await get_scoped(session, Conversation, workspace_id, conversation_id)
    merged = {**conv.custom_attributes, **attributes}
    conv.custom_attributes = {k: v for k, v in merged.items() if v is not None}
    await _changed(session, conv, {"custom_attributes": True}, actor_id)
    return conv


async def set_labels(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    label_ids: list[uuid.UUID],
    *,
    actor_id=None,
) -> list[uuid.UUID]:
    """Replace the conversation's labels; every label must belong to the workspace."""
    conv = await get_scoped(session, Conversation, workspace_id, conversation_id)
    wanted = set(label_ids)
    if wanted:
        found = set(
            (
                await session.execute(
                    sa.select(Label.id).where(Label.workspace_id == workspace_id, Label.id.in_(wanted))
                )
            ).scalars()
        )
        if found != wanted:
            raise NotFound("label not found")
    await session.execute(sa.delete(ConversationLabel).where(ConversationLabel.conversation_id == conv.id))
    if wanted:
        await session.execute(
            sa.insert(ConversationLabel),
            [{"workspace_id": workspace_id, "conversation_id": conv.id, "label_id": lid} for lid in wanted],
        )
    conv.updated_at = utcnow()
    await emit(
        session,
        workspace_id,
        events.conversation_updated(conv, ["labels"], actor_id=actor_id, labels=list(wanted)),
    )
    return sorted(wanted)


async def mark_seen(
    session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID, *, actor_id=None
) -> Conversation:
    conv = await get_scoped(session, Conversation, workspace_id, conversation_id)
    if conv.unread_count:
        conv.unread_count = 0
        conv.agent_last_seen_at = utcnow()
        await _changed(session, conv, {"unread_count": 0}, actor_id)
    return conv


async def wake_snoozed(session: AsyncSession, now: dt.datetime | None = None) -> int:
    """Reopen every conversation whose snooze has ended (run by a periodic job)."""
    now = now or utcnow()
    rows = (
        (
            await session.execute(
                sa.select(Conversation)
                .where(Conversation.status == "snoozed", Conversation.snoozed_until <= now)
                .limit(500)
            )
        )
        .scalars()
        .all()
    )
    for conv in rows:
        conv.status = "open"
        conv.snoozed_until = None
        await _changed(session, conv, {"status": "open"}, None)
    return len(rows)
