"""JSON shapes of the main resources, shared by the API, the web app and realtime hydration (read models
live in queries/, so the read path never depends on the HTTP layer above it).

Personal fields are read through relaydesk.privacy.storage only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from relaydesk.models.contacts import Contact
from relaydesk.models.conversations import Conversation, Label
from relaydesk.models.messages import Attachment, Message
from relaydesk.privacy import storage

PREVIEW_CHARS = 160


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def contact_brief(contact: Contact) -> dict[str, Any]:
    pii = storage.read_contact(contact)
    return {"id": str(contact.id), "name": pii.name, "email": pii.email, "phone": pii.phone}


def contact_full(contact: Contact) -> dict[str, Any]:
    pii = storage.read_contact(contact)
    return {
        "id": str(contact.id),
        "name": pii.name,
        "email": pii.email,
        "phone": pii.phone,
        "custom_attributes": pii.custom_attributes,
        "notes": pii.notes,
        "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
        "last_activity_at": iso(contact.last_activity_at),
        # Processing restricted since then (AI, automations and webhooks skip the contact), or null.
        "restricted_at": iso(contact.restricted_at),
    }


def label_json(label: Label) -> dict[str, Any]:
    return {"id": str(label.id), "name": label.name, "color": label.color, "description": label.description}


def message_preview(message: Message | None) -> dict[str, Any] | None:
    if message is None:
        return None
    text = storage.read_message_content(message) or ""
    return {
        "id": str(message.id),
        "message_type": message.message_type,
        "sender_kind": message.sender_kind,
        "preview": text[:PREVIEW_CHARS],
        "created_at": iso(message.created_at),
    }


def conversation_json(
    conv: Conversation, contact: Contact | None, last: Message | None, labels: list[Label]
) -> dict[str, Any]:
    return {
        "id": str(conv.id),
        "display_number": conv.display_number,
        "inbox_id": str(conv.inbox_id),
        "status": conv.status,
        "snoozed_until": iso(conv.snoozed_until),
        "priority": conv.priority,
        "assignee_id": str(conv.assignee_id) if conv.assignee_id else None,
        "team_id": str(conv.team_id) if conv.team_id else None,
        "contact": contact_brief(contact) if contact else None,
        "labels": [label_json(label) for label in labels],
        "last_message": message_preview(last),
        "unread_count": conv.unread_count,
        "custom_attributes": conv.custom_attributes,
        "last_activity_at": iso(conv.last_activity_at),
        "last_incoming_at": iso(conv.last_incoming_at),
        "waiting_since": iso(conv.waiting_since),
        "first_reply_at": iso(conv.first_reply_at),
        "created_at": iso(conv.created_at),
    }


def attachment_json(att: Attachment) -> dict[str, Any]:
    return {
        "id": str(att.id),
        "filename": storage.read_attachment_name(att),
        "content_type": att.content_type,
        "size": att.size,
        "url": f"/api/v1/attachments/{att.id}",
    }


def message_json(
    message: Message, attachments: list[Attachment], sender_name: str | None = None
) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "inbox_id": str(message.inbox_id),
        "message_type": message.message_type,
        "private": message.message_type == "note",
        "sender_kind": message.sender_kind,
        "sender_user_id": str(message.sender_user_id) if message.sender_user_id else None,
        "sender_contact_id": str(message.sender_contact_id) if message.sender_contact_id else None,
        "sender_name": sender_name,
        "content": storage.read_message_content(message),
        "attachments": [attachment_json(a) for a in attachments],
        # Clear flags and ids the channel recorded (never personal data): e.g. `email.html`,
        # `email.remote_images`, `no_auto_reply`, `original_attachment` (docs/email.md).
        "content_attributes": message.content_attributes or {},
        "status": message.status,
        "sent_at": iso(message.sent_at),
        "delivered_at": iso(message.delivered_at),
        "read_at": iso(message.read_at),
        "failed_at": iso(message.failed_at),
        "failure_reason": message.failure_reason,
        "provider_message_id": message.provider_message_id,
        "reply_to_id": str(message.reply_to_id) if message.reply_to_id else None,
        "created_at": iso(message.created_at),
        # Thread position: the customer's send time when plausible, else created_at (api-channel.md).
        "ordered_at": iso(message.ordered_at),
    }
