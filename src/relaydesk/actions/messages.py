"""Messages out and their delivery: post an agent reply or note, track delivery (incoming: incoming.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.channels.envelopes import NewAttachment
from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.jobs.outbox import enqueue
from relaydesk.models.conversations import Conversation
from relaydesk.models.messages import DELIVERY_ORDER, Message
from relaydesk.privacy import storage
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit

MAX_CONTENT_CHARS = 20_000


def check_content(text: str | None, attachments: list[NewAttachment], *, pending_files: int = 0) -> None:
    """A message needs text or a file; `pending_files` are files a provider only referenced, fetched after
    the message is stored (jobs/handlers/media.py)."""
    if (text is None or not text.strip()) and not attachments and not pending_files:
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
    automatic: str | None = None,
) -> Message:
    """An agent's (or AI's) reply, delivered by a job; or a private note, which never leaves Relaydesk.

    `automatic` names an automatic message (`"away_message"`): it is stored in
    `content_attributes["automatic"]` (the e-mail channel stamps such mail `Auto-Submitted`, RFC 3834),
    its events name the automation as actor, and it is no answer from a person: the conversation keeps
    waiting and its first reply time stays unset."""
    attachments = attachments or []
    check_content(text, attachments)
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
        content_attributes=dict(content_attributes or {}) | ({"automatic": automatic} if automatic else {}),
        created_at=now,
    )
    await _store(session, msg, text, attachments)
    conv.last_activity_at = now
    conv.last_message_id = msg.id
    if not private:
        if not automatic:
            conv.waiting_since = None
            conv.first_reply_at = conv.first_reply_at or now
        await enqueue(
            session,
            "outbound.deliver",
            {"message_id": str(msg.id)},
            workspace_id=workspace_id,
            idempotency_key=f"deliver:{msg.id}",
        )
    by = {"agent": events.user_or_system(sender_user_id), "ai": events.AI}.get(sender_kind, events.SYSTEM)
    if automatic:
        by = events.AUTOMATION
    await emit(session, workspace_id, events.message_created(msg, by))
    await emit(session, workspace_id, events.conversation_updated(conv, ["message"], actor=by))
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
        await emit(session, message.workspace_id, events.message_updated(message))
    return changed
