"""Process a stored inbound provider event: parse it and hand the result to the actions."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from relaydesk.actions.inboxes import record_inbox_health
from relaydesk.actions.messages import receive_incoming, update_delivery
from relaydesk.channels.base import InvalidPayload
from relaydesk.channels.registry import adapter_for
from relaydesk.db.base import utcnow
from relaydesk.jobs.registry import JobContext, PermanentError, handler
from relaydesk.models.inbound import InboundEvent
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Message
from relaydesk.privacy import storage


@handler("inbound.process")
async def process_inbound(ctx: JobContext) -> None:
    event_id = uuid.UUID(ctx.payload["inbound_event_id"])
    async with ctx.runtime.db.write() as session:
        event = await session.get(InboundEvent, event_id)
        if event is None or event.state == "processed":
            return
        inbox = await session.get(Inbox, event.inbox_id)
        adapter = adapter_for(event.channel_type)
        if inbox is None or adapter is None:
            raise PermanentError("inbox or channel no longer exists")
        try:
            parsed = adapter.parse(storage.open_raw_body(event.workspace_id, event.body))
        except InvalidPayload as exc:
            event.state = "failed"
            event.error = str(exc)
            raise PermanentError(str(exc)) from None
        for incoming in parsed.messages:
            await receive_incoming(session, inbox, incoming)
        for status in parsed.statuses:
            column = Message.provider_message_id if status.by_provider_id else Message.id
            try:
                ref: object = status.message_ref if status.by_provider_id else uuid.UUID(status.message_ref)
            except ValueError:
                continue
            message = (
                await session.execute(
                    sa.select(Message).where(
                        Message.workspace_id == inbox.workspace_id,
                        Message.inbox_id == inbox.id,
                        column == ref,
                    )
                )
            ).scalar_one_or_none()
            if message is not None and message.message_type == "outgoing":
                await update_delivery(session, message, status.status, at=status.at, reason=status.reason)
        event.state = "processed"
        event.processed_at = utcnow()
        await record_inbox_health(session, inbox.id, event=True)
