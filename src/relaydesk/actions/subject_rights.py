"""Restriction of processing (GDPR art. 18) and objection to automated decisions (art. 21, 22), each
recorded as a data-subject request and audited.

* **Restriction** (`set_restriction`): the contact's data is kept and agents keep working with it, but
  nothing automated touches it: the AI neither answers nor classifies (`actions.ai.contact_ai_off`
  counts a restriction), the away message is not sent (actions/business_hours.py), AI suggestions are
  not computed, and outgoing webhooks skip every event about the contact (`restricted_event_ids`, used
  by the delivery job). Lifting it restores all of that for what happens afterwards.
* **Objection** (`object_to_automated_decisions`): the per-contact AI switch goes off with reason
  `objection` (the same switch `PUT /contacts/{id}/ai` sets, not a second one), and every unresolved
  conversation of the contact is handed to a person: AI off there, status open, the workspace's handoff
  team when one is set, and a private note carrying the conversation's AI decision log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions import ai as ai_actions
from relaydesk.actions import conversations as conv_actions
from relaydesk.actions.messages import post_message
from relaydesk.actions.subject_requests import Requester, record_request
from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import NotFound
from relaydesk.models.ai import AiDecision
from relaydesk.models.contacts import Contact
from relaydesk.models.conversations import Conversation
from relaydesk.models.events import Event
from relaydesk.models.messages import Message
from relaydesk.models.privacy_requests import SubjectRequest
from relaydesk.privacy import audit, storage

OBJECTION = "objection"


async def _contact(session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
    contact = await get_scoped(session, Contact, workspace_id, contact_id)
    if storage.is_shredded(contact):
        raise NotFound("contact not found")
    return contact


async def is_restricted(session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> bool:
    found = (
        await session.execute(
            sa.select(Contact.restricted_at).where(
                Contact.workspace_id == workspace_id, Contact.id == contact_id
            )
        )
    ).scalar_one_or_none()
    return found is not None


async def set_restriction(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    contact_id: uuid.UUID,
    restricted: bool,
    requester: Requester,
) -> SubjectRequest | None:
    """Restrict (or lift the restriction of) the contact's processing. Restricting records a
    `restriction` request, answered at once; doing what is already the case changes nothing."""
    contact = await _contact(session, workspace_id, contact_id)
    if restricted == (contact.restricted_at is not None):
        return None
    contact.restricted_at = utcnow() if restricted else None
    request = None
    if restricted:
        request = await record_request(
            session, workspace_id, "restriction", contact.id, requester, answered=True
        )
    await audit.record(
        session,
        workspace_id,
        "contact.restricted" if restricted else "contact.restriction_lifted",
        actor_kind=requester.kind,
        actor_id=requester.user_id,
        target_type="contact",
        target_id=contact.id,
        metadata={"request_id": str(request.id)} if request else None,
    )
    return request


async def object_to_automated_decisions(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID, requester: Requester
) -> tuple[SubjectRequest, list[uuid.UUID]]:
    """Record the objection, switch the AI off for the contact and hand each unresolved conversation to
    a person with its decision log. Returns the request and the conversations handed over."""
    contact = await _contact(session, workspace_id, contact_id)
    await ai_actions.set_contact_ai(session, workspace_id, contact.id, False, reason=OBJECTION)
    request = await record_request(session, workspace_id, "objection", contact.id, requester, answered=True)
    conversations = list(
        (
            await session.execute(
                sa.select(Conversation)
                .where(
                    Conversation.workspace_id == workspace_id,
                    Conversation.contact_id == contact.id,
                    Conversation.status != "resolved",
                )
                .order_by(Conversation.id)
            )
        ).scalars()
    )
    for conv in conversations:
        await _hand_to_a_person(session, conv, requester)
    await audit.record(
        session,
        workspace_id,
        "contact.objected",
        actor_kind=requester.kind,
        actor_id=requester.user_id,
        target_type="contact",
        target_id=contact.id,
        metadata={"request_id": str(request.id), "conversations_handed_over": len(conversations)},
    )
    return request, [c.id for c in conversations]


async def _hand_to_a_person(session: AsyncSession, conv: Conversation, requester: Requester) -> None:
    state = await ai_actions.conversation_state(session, conv.workspace_id, conv.id)
    state.ai_off, state.off_reason = True, OBJECTION
    state.handed_off_at = state.handed_off_at or utcnow()
    if conv.status != "open":
        await conv_actions.change_status(
            session, conv.workspace_id, conv.id, "open", actor_id=requester.user_id
        )
    settings, _key = await ai_actions.effective_settings(session, conv.workspace_id, conv.inbox_id)
    team = settings["handoff_team_id"]
    if team and conv.team_id is None:
        await conv_actions.assign(
            session, conv.workspace_id, conv.id, team_id=uuid.UUID(str(team)), actor_id=requester.user_id
        )
    decisions = list(
        (
            await session.execute(
                sa.select(AiDecision)
                .where(AiDecision.workspace_id == conv.workspace_id, AiDecision.conversation_id == conv.id)
                .order_by(AiDecision.created_at, AiDecision.id)
            )
        ).scalars()
    )
    await post_message(
        session,
        conv.workspace_id,
        conv.id,
        text=decision_log_note(decisions),
        private=True,
        sender_kind="system",
        content_attributes={
            "objection": True,
            "ai_decision_ids": [str(d.id) for d in decisions],
            "ai_decisions": [ai_actions.decision_state(d) for d in decisions],
        },
    )


def decision_log_note(decisions: list[AiDecision]) -> str:
    """The private note that hands the conversation over: why, and every automated decision taken."""
    lines = [
        "The customer objected to automated decisions: the AI is off for them, and a person handles this "
        "conversation from now on.",
    ]
    if not decisions:
        lines.append("No automated decision was taken in this conversation.")
    else:
        lines.append(f"Automated decisions taken here ({len(decisions)}):")
        for d in decisions:
            what = d.action + (f" ({d.reason_category})" if d.reason_category else "")
            contested = ", contested" if d.contested else ""
            lines.append(f"- {d.created_at:%Y-%m-%d %H:%M} UTC: {what}, by {d.provider}{contested}")
    return "\n".join(lines)


async def restricted_event_ids(
    session: AsyncSession, workspace_id: uuid.UUID, events: Iterable[Event]
) -> set[uuid.UUID]:
    """The events about a restricted contact (by `contact_id`, `conversation_id` or `message_id` in the
    payload), which outgoing webhooks must not deliver. Two indexed queries per batch of events."""
    events = list(events)
    contacts, conversations, messages = set(), set(), set()
    for event in events:
        payload: dict[str, Any] = event.payload or {}
        for key, into in (
            ("contact_id", contacts),
            ("conversation_id", conversations),
            ("message_id", messages),
        ):
            value = payload.get(key)
            if isinstance(value, str):
                try:
                    into.add(uuid.UUID(value))
                except ValueError:
                    continue
    if not (contacts or conversations or messages):
        return set()
    restricted_contacts = set(
        (
            await session.execute(
                sa.select(Contact.id).where(
                    Contact.workspace_id == workspace_id,
                    Contact.restricted_at.is_not(None),
                )
            )
        ).scalars()
    )
    if not restricted_contacts:
        return set()
    restricted_conversations = set(
        (
            await session.execute(
                sa.select(Conversation.id).where(
                    Conversation.workspace_id == workspace_id,
                    Conversation.contact_id.in_(restricted_contacts),
                    Conversation.id.in_(conversations) if conversations else sa.false(),
                )
            )
        ).scalars()
    )
    restricted_messages = set()
    if messages:
        restricted_messages = set(
            (
                await session.execute(
                    sa.select(Message.id)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(
                        Message.workspace_id == workspace_id,
                        Message.id.in_(messages),
                        Conversation.contact_id.in_(restricted_contacts),
                    )
                )
            ).scalars()
        )

    def about_restricted(payload: dict[str, Any]) -> bool:
        return (
            _id(payload.get("contact_id")) in restricted_contacts
            or _id(payload.get("conversation_id")) in restricted_conversations
            or _id(payload.get("message_id")) in restricted_messages
        )

    return {e.id for e in events if about_restricted(e.payload or {})}


def _id(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
