"""Messages in and out: receive a customer's message, post an agent reply or note, track delivery."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions.contacts import contact_for_identity
from relaydesk.actions.conversations import conversation_state, current_conversation
from relaydesk.channels.envelopes import IncomingMessage, NewAttachment
from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.jobs.outbox import enqueue
from relaydesk.models.conversations import Conversation
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import DELIVERY_ORDER, Message
from relaydesk.privacy import storage
from relaydesk.realtime.events import emit

MAX_CONTENT_CHARS = 20_000


def message_state(msg: Message) -> dict[str, Any]:
    """Non-personal message fields carried by events."""
    return {
        "message_id": str(msg.id),
        "conversation_id": str(msg.conversation_id),
        "inbox_id": str(msg.inbox_id),
        "message_type": msg.message_type,
        "sender_kind": msg.sender_kind,
        "sender_user_id": str(msg.sender_user_id) if msg.sender_user_id else None,
        "status": msg.status,
        "failure_reason": msg.failure_reason,
        "created_at": msg.created_at.isoformat(),
    }


def _check_content(text: str | None, attachments: list[NewAttachment]) -> None:
    if (text is None or not text.strip()) and not attachments:
        raise InvalidInput("a message needs text or an attachment")
    if text is not None and len(text) > MAX_CONTENT_CHARS:
        raise InvalidInput(f"message text is longer than {MAX_CONTENT_CHARS} characters")


async def _store(
    session: AsyncSession, msg: Message, text: str | None, attachments: list[NewAttachment]
) -> None:
    session.add(msg)
    await storage.write_message_content(session, msg, text)
    for att in attachments:
        session.add(storage.new_attachment(msg, att.filename, att.content_type, att.data))
    await session.flush()


async def receive_incoming(
    session: AsyncSession, inbox: Inbox, incoming: IncomingMessage
) -> tuple[Message, bool]:
    """Store a customer's message once; a redelivery of the same provider id returns the stored one."""
    _check_content(incoming.text, incoming.attachments)
    by_provider_id = sa.select(Message).where(
        Message.inbox_id == inbox.id, Message.provider_message_id == incoming.provider_message_id
    )
    existing = (await session.execute(by_provider_id)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    contact = await contact_for_identity(
        session,
        inbox.workspace_id,
        inbox.id,
        incoming.external_contact_id,
        name=incoming.contact_name,
        email=incoming.contact_email,
        phone=incoming.contact_phone,
    )
    conv = await current_conversation(session, inbox.workspace_id, inbox.id, contact.id)
    now = utcnow()
    reply_to_id = None
    if incoming.reply_to_provider_id:
        reply_to_id = (
            await session.execute(
                sa.select(Message.id).where(
                    Message.inbox_id == inbox.id, Message.provider_message_id == incoming.reply_to_provider_id
                )
            )
        ).scalar_one_or_none()
    msg = Message(
        workspace_id=inbox.workspace_id,
        conversation_id=conv.id,
        inbox_id=inbox.id,
        message_type="incoming",
        sender_kind="customer",
        sender_contact_id=contact.id,
        status="delivered",
        delivered_at=now,
        provider_message_id=incoming.provider_message_id,
        reply_to_id=reply_to_id,
        content_attributes={**incoming.content_attributes, "sent_at": incoming.sent_at.isoformat()}
        if incoming.sent_at
        else dict(incoming.content_attributes),
        created_at=now,
    )
    try:
        async with session.begin_nested():
            await _store(session, msg, incoming.text, incoming.attachments)
    except IntegrityError:
        return (await session.execute(by_provider_id)).scalar_one(), False
    conv.last_activity_at = now
    conv.last_incoming_at = now
    conv.waiting_since = conv.waiting_since or now
    conv.last_message_id = msg.id
    conv.unread_count += 1
    if conv.status == "snoozed":
        conv.status = "open"
        conv.snoozed_until = None
    await emit(session, inbox.workspace_id, "message.created", message_state(msg))
    await emit(session, inbox.workspace_id, "conversation.updated", _conv_summary(conv, "message"))
    if (inbox.settings or {}).get("ai_enabled"):  # mirrored by actions.ai: no query when AI is off
        await enqueue(
            session,
            "ai.on_message",
            {"message_id": str(msg.id)},
            workspace_id=inbox.workspace_id,
            idempotency_key=f"ai:{msg.id}",
        )
    return msg, True


def _conv_summary(conv: Conversation, reason: str) -> dict[str, Any]:
    state = conversation_state(conv)
    state["changed"] = [reason]
    state["actor_id"] = None
    return state


async def post_message(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    text: str | None,
    private: bool = False,
    sender_kind: str = "agent",
    sender_user_id: uuid.UUID | None = None,
    attachments: list[NewAttachment] | None = None,
    reply_to_id: uuid.UUID | None = None,
    content_attributes: dict[str, Any] | None = None,
) -> Message:
    """An agent's (or AI's) reply, delivered by a job; or a private note, which never leaves Relaydesk."""
    attachments = attachments or []
    _check_content(text, attachments)
    if sender_kind not in ("agent", "ai", "system"):
        raise InvalidInput("sender_kind must be agent, ai or system")
    conv = await get_scoped(session, Conversation, workspace_id, conversation_id)
    if reply_to_id is not None:
        await get_scoped(session, Message, workspace_id, reply_to_id)
    now = utcnow()
    msg = Message(
        workspace_id=workspace_id,
        conversation_id=conv.id,
        inbox_id=conv.inbox_id,
        message_type="note" if private else "outgoing",
        sender_kind=sender_kind,
        sender_user_id=sender_user_id,
        status="sent" if private else "pending",
        sent_at=now if private else None,
        reply_to_id=reply_to_id,
        content_attributes=dict(content_attributes or {}),
        created_at=now,
    )
    await _store(session, msg, text, attachments)
    conv.last_activity_at = now
    conv.last_message_id = msg.id
    if not private:
        conv.waiting_since = None
        conv.first_reply_at = conv.first_reply_at or now
        await enqueue(
            session,
            "outbound.deliver",
            {"message_id": str(msg.id)},
            workspace_id=workspace_id,
            idempotency_key=f"deliver:{msg.id}",
        )
    await emit(session, workspace_id, "message.created", message_state(msg))
    await emit(session, workspace_id, "conversation.updated", _conv_summary(conv, "message"))
    return msg


async def update_delivery(
    session: AsyncSession,
    message: Message,
    status: str,
    *,
    at: dt.datetime | None = None,
    reason: str | None = None,
    provider_message_id: str | None = None,
) -> bool:
    """Move a message's delivery status forward only (failed may still be overridden by delivered/read)."""
    if status not in DELIVERY_ORDER:
        raise InvalidInput(f"unknown delivery status {status!r}")
    at = at or utcnow()
    changed = False
    if provider_message_id and not message.provider_message_id:
        message.provider_message_id = provider_message_id
        changed = True
    current = DELIVERY_ORDER.get(message.status, 0)
    forward = DELIVERY_ORDER[status] > current or (
        message.status == "failed" and status in ("delivered", "read")
    )
    if status == "failed" and message.status in ("pending", "sent"):
        forward = True
    if forward and status != message.status:
        message.status = status
        if status == "failed":
            message.failed_at = at
            message.failure_reason = (reason or "delivery failed")[:1000]
        else:
            setattr(message, f"{status}_at", at)
            if status in ("delivered", "read"):
                message.failure_reason = None
        changed = True
    if changed:
        await emit(session, message.workspace_id, "message.updated", message_state(message))
    return changed
