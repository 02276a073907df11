"""The normalised, provider-independent shapes adapters produce; pure dataclasses, no database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass
class NewAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class MediaRef:
    """An attachment the provider only references (WhatsApp media id, Twilio MediaUrl, Telegram file id).
    The message is stored at once; a job fetches the file with the channel's `fetch_media` and attaches it
    (jobs/handlers/media.py)."""

    ref: str
    content_type: str | None = None
    filename: str | None = None


@dataclass
class ThreadHint:
    """Where a message belongs by its own references (e-mail threading, docs/email.md).

    Without a hint, a customer's message joins the contact's latest open conversation on the inbox. With
    one, it joins the conversation holding the first of `message_ids` found (provider ids of earlier
    messages, ours or the customer's, most relevant first), else the one `conversation_token` names, else a
    NEW conversation: a mail with a new subject must not land in an old, unrelated thread."""

    message_ids: list[str] = field(default_factory=list)
    conversation_token: str | None = None


@dataclass
class IncomingMessage:
    """A customer's message as an adapter parsed it: everything the database needs, nothing provider-shaped."""

    external_contact_id: str
    provider_message_id: str
    text: str | None
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    sent_at: dt.datetime | None = None
    attachments: list[NewAttachment] = field(default_factory=list)
    # Attachments still at the provider, fetched after the message is stored.
    media: list[MediaRef] = field(default_factory=list)
    reply_to_provider_id: str | None = None
    # Clear JSON shown with the message: flags and ids, never personal data. By convention
    # `original_attachment` is the index in `attachments` of the provider's full original (an e-mail's
    # .eml) that a channel keeps beside the text it shows (OutboundMessage.reply_context opens it).
    content_attributes: dict[str, Any] = field(default_factory=dict)
    thread: ThreadHint | None = None
    # Why no automatic message (AI auto-reply, away message) may answer this one, e.g. an out-of-office
    # reply or a mailing-list post (RFC 3834); None for a person's message.
    no_auto_reply: str | None = None
