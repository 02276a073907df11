"""Deliver an outgoing message through its channel's spec and record the delivery status.

Before any provider call the channel's `pre_send` rules run (reply windows, opt-out) and an inbox marked
as needing re-authorisation sends nothing; either refusal fails the message with the reason shown. A send
ends in one of the spec's three error classes: retried (`RetryableSendError`, after `retry_after` when the
provider says), failed for good (`PermanentSendError`), or failed with the inbox marked for
re-authorisation (`ReauthorisationNeeded`).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import NoReturn

import sqlalchemy as sa

from relaydesk.actions import offline_fallback
from relaydesk.actions.inboxes import mark_needs_reauthorisation, record_inbox_health
from relaydesk.actions.messages import update_delivery
from relaydesk.channels.envelopes import NewAttachment
from relaydesk.channels.registry import spec_for
from relaydesk.channels.spec import (
    OutboundMessage,
    PermanentSendError,
    ReauthorisationNeeded,
    ReplyContext,
    RetryableSendError,
)
from relaydesk.db.base import utcnow
from relaydesk.jobs.registry import JobContext, PermanentError, RetryLater, handler
from relaydesk.models.contacts import ContactIdentity
from relaydesk.models.conversations import Conversation
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Attachment, Message
from relaydesk.models.users import User
from relaydesk.privacy import storage
from relaydesk.queries import messages as message_queries


async def _load(ctx: JobContext) -> tuple[Message, Inbox, OutboundMessage] | None:
    message_id = uuid.UUID(ctx.payload["message_id"])
    async with ctx.services.db.read() as session:
        message = await session.get(Message, message_id)
        if message is None or message.status not in ("pending", "failed"):
            return None  # deleted, or already delivered by an earlier attempt
        conv = await session.get(Conversation, message.conversation_id)
        inbox = await session.get(Inbox, message.inbox_id)
        if conv is None or inbox is None:
            raise PermanentError("conversation or inbox no longer exists")
        external_id = (
            await session.execute(
                sa.select(ContactIdentity.external_id)
                .where(ContactIdentity.contact_id == conv.contact_id, ContactIdentity.inbox_id == inbox.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if external_id is None:
            raise PermanentError("the contact has no identity on this inbox")
        reply_to = None
        if message.reply_to_id:
            reply_to = (
                await session.execute(
                    sa.select(Message.provider_message_id).where(Message.id == message.reply_to_id)
                )
            ).scalar_one_or_none()
        sender_name = None
        if message.sender_user_id:
            sender_name = (
                await session.execute(sa.select(User.name).where(User.id == message.sender_user_id))
            ).scalar_one_or_none()
        spec = spec_for(inbox.channel_type)
        stmt = (
            sa.select(Attachment)
            .where(Attachment.workspace_id == message.workspace_id, Attachment.message_id == message.id)
            .order_by(Attachment.created_at, Attachment.id)
        )
        if spec is not None and spec.wants_attachment_bytes:
            stmt = stmt.options(sa.orm.undefer(Attachment.data))
        attachments = list((await session.execute(stmt)).scalars())
        files: list[NewAttachment] = []
        if spec is not None and spec.wants_attachment_bytes:
            files = [
                NewAttachment(storage.read_attachment_name(a), a.content_type, storage.read_attachment(a))
                for a in attachments
            ]
        context: ReplyContext | None = None
        if spec is not None and spec.wants_reply_context:
            found = await message_queries.reply_context(session, message.workspace_id, conv.id)
            if found is not None:
                latest, original = found
                context = ReplyContext(
                    provider_message_id=latest.provider_message_id,
                    attributes=dict(latest.content_attributes or {}),
                    original=storage.read_attachment(original) if original is not None else None,
                )
        outbound = OutboundMessage(
            message_id=str(message.id),
            conversation_id=str(conv.id),
            conversation_number=conv.display_number,
            recipient_external_id=external_id,
            text=storage.read_message_content(message),
            attachments=[
                {
                    "id": str(a.id),
                    "filename": storage.read_attachment_name(a),
                    "content_type": a.content_type,
                    "size": a.size,
                }
                for a in attachments
            ],
            reply_to_provider_id=reply_to,
            sender_name=sender_name,
            created_at=message.created_at,
            last_incoming_at=conv.last_incoming_at,
            sent_by=message.sender_kind,
            files=files,
            reply_context=context,
        )
    return message, inbox, outbound


@handler("outbound.deliver")
async def deliver(ctx: JobContext) -> None:
    loaded = await _load(ctx)
    if loaded is None:
        return
    message, inbox, outbound = loaded
    by_email = await _email_fallback(ctx, message, inbox, outbound)
    if by_email is not None:
        inbox, outbound = by_email
    spec = spec_for(inbox.channel_type)
    if spec is None:
        await _fail(ctx, message.id, inbox.id, f"the {inbox.channel_type} channel is not available")
    if inbox.reauth_since is not None:
        await _fail(
            ctx,
            message.id,
            None,
            f"this inbox needs re-authorisation ({inbox.reauth_reason}): an admin must replace its "
            "credentials, then retry",
        )
    settings = inbox.settings or {}
    refusal = spec.pre_send(outbound, settings, utcnow())
    if refusal:
        await _fail(ctx, message.id, None, refusal)
    http = ctx.services.http_for("channels")
    try:
        result = await spec.send(http, outbound, storage.read_inbox_credentials(inbox), settings)
    except ReauthorisationNeeded as exc:
        async with ctx.services.db.write() as session:
            await mark_needs_reauthorisation(session, inbox.id, str(exc))
        await _fail(ctx, message.id, None, f"the provider refused this inbox's credentials: {exc}")
    except PermanentSendError as exc:
        await _fail(ctx, message.id, inbox.id, str(exc), health=f"delivery refused: {exc}")
    except RetryableSendError as exc:
        async with ctx.services.db.write() as session:
            await record_inbox_health(session, inbox.id, error=f"delivery failed, will retry: {exc}")
        if exc.retry_after:
            raise RetryLater(str(exc), exc.retry_after) from None
        raise
    async with ctx.services.db.write() as session:
        # Locked: a receipt committed meanwhile (the widget visitor's "read") must be seen, not overwritten
        # by "sent" from a stale read (PostgreSQL's READ COMMITTED would otherwise lose that update).
        fresh = await session.get(Message, message.id, with_for_update=True)
        if fresh is not None:
            if by_email is not None:
                offline_fallback.record_email_delivery(fresh, inbox.id)
            await update_delivery(
                session, fresh, result.status, provider_message_id=result.provider_message_id
            )


async def _email_fallback(
    ctx: JobContext, message: Message, inbox: Inbox, outbound: OutboundMessage
) -> tuple[Inbox, OutboundMessage] | None:
    """A chat reply whose visitor has left goes through the chat's e-mail inbox instead, to the visitor's
    address, threaded on the chat conversation (actions/offline_fallback.py); None: deliver as usual."""
    if not (inbox.settings or {}).get(offline_fallback.SETTING):
        return None
    async with ctx.services.db.read() as session:
        route = await offline_fallback.email_route(session, message, inbox)
        if route is None:
            return None
        files = await offline_fallback.attachment_files(session, message)
    mail = dataclasses.replace(
        outbound,
        recipient_external_id=route.address,
        files=files,
        reply_context=None,
        reply_to_provider_id=None,
    )
    return route.inbox, mail


async def _fail(
    ctx: JobContext,
    message_id: uuid.UUID,
    inbox_id: uuid.UUID | None,
    reason: str,
    *,
    health: str | None = None,
) -> NoReturn:
    """Mark the message failed with `reason` (the agent sees it) and end the job without retrying."""
    async with ctx.services.db.write() as session:
        fresh = await session.get(Message, message_id)
        if fresh is not None:
            await update_delivery(session, fresh, "failed", reason=reason)
        if inbox_id is not None and health:
            await record_inbox_health(session, inbox_id, error=health)
    raise PermanentError(reason)


@handler("outbound.deliver:dead")
async def delivery_dead(ctx: JobContext) -> None:
    """Retries ran out: the agent sees the message as failed, with the last error as the reason."""
    async with ctx.services.db.write() as session:
        message = await session.get(Message, uuid.UUID(ctx.payload["message_id"]))
        if message is not None and message.status == "pending":
            await update_delivery(session, message, "failed", reason=ctx.job.last_error or "delivery failed")
