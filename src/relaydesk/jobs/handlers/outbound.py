"""Deliver an outgoing message through its channel adapter and record the delivery status."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from relaydesk.actions.inboxes import record_inbox_health
from relaydesk.actions.messages import update_delivery
from relaydesk.channels.base import OutboundMessage, PermanentSendError, RetryableSendError
from relaydesk.channels.registry import adapter_for
from relaydesk.jobs.registry import JobContext, PermanentError, RetryLater, handler
from relaydesk.models.contacts import ContactIdentity
from relaydesk.models.conversations import Conversation
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Attachment, Message
from relaydesk.models.users import User
from relaydesk.models.workspaces import Workspace
from relaydesk.privacy import storage


async def _load(ctx: JobContext) -> tuple[Message, Inbox, OutboundMessage, bool] | None:
    message_id = uuid.UUID(ctx.payload["message_id"])
    async with ctx.services.db.read() as session:
        message = await session.get(Message, message_id)
        if message is None or message.status not in ("pending", "failed"):
            return None  # deleted, or already delivered by an earlier attempt
        conv = await session.get(Conversation, message.conversation_id)
        inbox = await session.get(Inbox, message.inbox_id)
        workspace = await session.get(Workspace, message.workspace_id)
        if conv is None or inbox is None or workspace is None:
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
        attachments = (
            await session.execute(
                sa.select(Attachment)
                .where(Attachment.workspace_id == message.workspace_id, Attachment.message_id == message.id)
                .order_by(Attachment.created_at, Attachment.id)
            )
        ).scalars()
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
        )
        allow_private = bool(workspace.settings.get("allow_private_webhook_targets"))
    return message, inbox, outbound, allow_private


@handler("outbound.deliver")
async def deliver(ctx: JobContext) -> None:
    loaded = await _load(ctx)
    if loaded is None:
        return
    message, inbox, outbound, allow_private = loaded
    adapter = adapter_for(inbox.channel_type)
    if adapter is None:
        raise PermanentError(f"no adapter for channel {inbox.channel_type}")
    http = ctx.services.http_for("channel", allow_private=allow_private)
    try:
        result = await adapter.send(http, outbound, storage.read_inbox_credentials(inbox), inbox.settings)
    except PermanentSendError as exc:
        async with ctx.services.db.write() as session:
            fresh = await session.get(Message, message.id)
            if fresh is not None:
                await update_delivery(session, fresh, "failed", reason=str(exc))
            await record_inbox_health(session, inbox.id, error=f"delivery refused: {exc}")
        raise PermanentError(str(exc)) from None
    except RetryableSendError as exc:
        async with ctx.services.db.write() as session:
            await record_inbox_health(session, inbox.id, error=f"delivery failed, will retry: {exc}")
        if exc.retry_after:
            raise RetryLater(str(exc), exc.retry_after) from None
        raise
    async with ctx.services.db.write() as session:
        fresh = await session.get(Message, message.id)
        if fresh is not None:
            await update_delivery(
                session, fresh, result.status, provider_message_id=result.provider_message_id
            )


@handler("outbound.deliver:dead")
async def delivery_dead(ctx: JobContext) -> None:
    """Retries ran out: the agent sees the message as failed, with the last error as the reason."""
    async with ctx.services.db.write() as session:
        message = await session.get(Message, uuid.UUID(ctx.payload["message_id"]))
        if message is not None and message.status == "pending":
            await update_delivery(session, message, "failed", reason=ctx.job.last_error or "delivery failed")
