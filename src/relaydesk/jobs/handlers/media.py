"""Fetch the attachments a provider only referenced (channels/envelopes.py `MediaRef`: a WhatsApp media
id, a Twilio MediaUrl) and add them to the customer's message.

The message is stored at once with its references in `content_attributes["pending_media"]`, and one
`inbound.fetch_media` job per message downloads them with the channel's `fetch_media` over the
SSRF-guarded client for channels, outside any transaction, so a slow provider holds up neither the
intake nor the batch of messages it came with. A file larger than `MAX_MEDIA_BYTES` is refused while it
downloads. A reference the provider refuses for good is dropped and its reason kept on the message
(`media_errors`, shown to the agent); a temporary failure retries the job (after the provider's
`retry_after` when it gives one); refused credentials mark the inbox for re-authorisation.
"""

from __future__ import annotations

import uuid
from typing import Any

from relaydesk.actions.inboxes import mark_needs_reauthorisation
from relaydesk.actions.incoming import FETCH_MEDIA_KIND, attach_fetched_media
from relaydesk.channels.envelopes import MediaRef, NewAttachment
from relaydesk.channels.registry import spec_for
from relaydesk.channels.spec import (
    InvalidPayload,
    PermanentSendError,
    ReauthorisationNeeded,
    RetryableSendError,
)
from relaydesk.jobs.registry import JobContext, RetryLater, handler
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Message
from relaydesk.privacy import storage


@handler(FETCH_MEDIA_KIND)
async def fetch_media(ctx: JobContext) -> None:
    message_id = uuid.UUID(ctx.payload["message_id"])
    async with ctx.services.db.read() as session:
        message = await session.get(Message, message_id)
        if message is None:
            return  # deleted (erased) meanwhile
        pending = list((message.content_attributes or {}).get("pending_media") or [])
        inbox = await session.get(Inbox, message.inbox_id)
        if not pending or inbox is None:
            return
        credentials = storage.read_inbox_credentials(inbox)
        spec = spec_for(inbox.channel_type)
    fetched: list[NewAttachment] = []
    errors: list[dict[str, Any]] = []
    http = ctx.services.http_for("channels")
    for item in pending:
        ref = MediaRef(ref=item["ref"], content_type=item.get("content_type"), filename=item.get("filename"))
        try:
            if spec is None:
                raise PermanentSendError(f"the {inbox.channel_type} channel is not available")
            fetched.append(await spec.fetch_media(http, ref, credentials))
        except RetryableSendError as exc:
            if exc.retry_after:
                raise RetryLater(str(exc), exc.retry_after) from None
            raise
        except ReauthorisationNeeded as exc:
            async with ctx.services.db.write() as session:
                await mark_needs_reauthorisation(session, inbox.id, str(exc))
            errors.append(
                {"filename": ref.filename, "reason": f"the provider refused the credentials: {exc}"}
            )
        except (PermanentSendError, InvalidPayload) as exc:
            errors.append({"filename": ref.filename, "reason": str(exc)[:500]})
    async with ctx.services.db.write() as session:
        await attach_fetched_media(session, message.workspace_id, message_id, fetched, errors)
