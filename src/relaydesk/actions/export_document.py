"""What a contact's export holds: `export.json` (schema `relaydesk.contact-export/1`, `EXPORT_SCHEMA`,
documented in docs/privacy.md), the schema itself as `schema.json`, and every attachment under
`attachments/<attachment id>/<file name>`, in one zip.

Everything is read through the storage layer (decrypted with the contact's key) in one read transaction;
the zip is compressed off the event loop."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from relaydesk.db.base import utcnow
from relaydesk.models.ai import AiContactPreference, AiConversationState, AiDecision
from relaydesk.models.contacts import Contact, ContactIdentity
from relaydesk.models.conversations import Conversation, ConversationLabel, Label
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Attachment, Message
from relaydesk.models.privacy_requests import SubjectRequest
from relaydesk.models.workspaces import Workspace
from relaydesk.privacy import storage
from relaydesk.queries.serializers import iso

SCHEMA_ID = "relaydesk.contact-export/1"

_TS = {"type": ["string", "null"], "format": "date-time"}
_STR = {"type": ["string", "null"]}
_ID = {"type": "string", "format": "uuid"}
_OBJ = {"type": "object"}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(properties),
        "additionalProperties": False,
        "properties": properties,
    }


_ATTACHMENT = _object(
    {
        "id": _ID,
        "file_name": {"type": "string"},
        "content_type": {"type": "string"},
        "size": {"type": "integer"},
        "path": {"type": "string"},
    }
)
_MESSAGE = _object(
    {
        "id": _ID,
        "message_type": {"type": "string"},
        "private": {"type": "boolean"},
        "sender_kind": {"type": "string"},
        "content": _STR,
        "content_attributes": _OBJ,
        "status": _STR,
        "created_at": _TS,
        "sent_at": _TS,
        "delivered_at": _TS,
        "read_at": _TS,
        "failed_at": _TS,
        "failure_reason": _STR,
        "provider_message_id": _STR,
        "reply_to_id": {"type": ["string", "null"]},
        "attachments": {"type": "array", "items": _ATTACHMENT},
    }
)
_DECISION = _object(
    {
        "id": _ID,
        "message_id": {"type": ["string", "null"]},
        "reply_message_id": {"type": ["string", "null"]},
        "action": {"type": "string"},
        "reason_category": _STR,
        "provider": _STR,
        "inputs": {},
        "sources": {},
        "contested": {"type": "boolean"},
        "contested_at": _TS,
        "contest_note": _STR,
        "created_at": _TS,
    }
)
_CONVERSATION = _object(
    {
        "id": _ID,
        "display_number": {"type": "integer"},
        "inbox": _object({"id": _ID, "name": {"type": "string"}, "channel_type": {"type": "string"}}),
        "status": {"type": "string"},
        "priority": _STR,
        "labels": {"type": "array", "items": {"type": "string"}},
        "custom_attributes": _OBJ,
        "ai_off": {"type": "boolean"},
        "created_at": _TS,
        "last_activity_at": _TS,
        "messages": {"type": "array", "items": _MESSAGE},
        "ai_decisions": {"type": "array", "items": _DECISION},
    }
)
_IDENTITY = _object(
    {
        "inbox_id": _ID,
        "channel_type": {"type": "string"},
        "external_id": {"type": "string"},
        "created_at": _TS,
    }
)
_CONSENT = _object(
    {
        "conversation_id": _ID,
        "channel_type": {"type": "string"},
        "text": _STR,
        "version": _STR,
        "accepted_at": _TS,
    }
)
_REQUEST = _object(
    {
        "id": _ID,
        "kind": {"type": "string"},
        "received_at": _TS,
        "deadline_at": _TS,
        "state": {"type": "string"},
        "completed_at": _TS,
    }
)
EXPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "Everything a Relaydesk workspace holds about one contact",
    **_object(
        {
            "schema": {"const": SCHEMA_ID},
            "generated_at": {"type": "string", "format": "date-time"},
            "workspace": _object({"id": _ID, "name": {"type": "string"}}),
            "request": _object({"id": _ID, "received_at": _TS, "deadline_at": _TS}),
            "contact": _object(
                {
                    "id": _ID,
                    "name": _STR,
                    "email": _STR,
                    "phone": _STR,
                    "notes": _STR,
                    "custom_attributes": _OBJ,
                    "created_at": _TS,
                    "updated_at": _TS,
                    "last_activity_at": _TS,
                    "identities": {"type": "array", "items": _IDENTITY},
                    "ai_off": {"type": "boolean"},
                    "ai_off_reason": _STR,
                    "restricted_at": _TS,
                }
            ),
            "conversations": {"type": "array", "items": _CONVERSATION},
            "consents": {"type": "array", "items": _CONSENT},
            "requests": {"type": "array", "items": _REQUEST},
        }
    ),
}


@dataclass
class ExportContent:
    document: dict[str, Any]
    files: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        conversations = self.document["conversations"]
        return {
            "conversations": len(conversations),
            "messages": sum(len(c["messages"]) for c in conversations),
            "attachments": len(self.files),
            "ai_decisions": sum(len(c["ai_decisions"]) for c in conversations),
        }


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def _file_name(name: str) -> str:
    """A file name safe inside a zip on every system: no directories, no control characters."""
    cleaned = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    return cleaned[:120] or "attachment"


async def collect(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID, request: SubjectRequest
) -> ExportContent:
    """Read everything the workspace holds about the contact (see docs/privacy.md, "Map of personal
    data": the classes whose export column names a place in this document)."""
    contact = (
        await session.execute(
            sa.select(Contact).where(Contact.workspace_id == workspace_id, Contact.id == contact_id)
        )
    ).scalar_one()
    workspace = await session.get(Workspace, workspace_id)
    pii = storage.read_contact(contact)
    inboxes = {
        inbox.id: inbox
        for inbox in (
            await session.execute(sa.select(Inbox).where(Inbox.workspace_id == workspace_id))
        ).scalars()
    }
    identities = (
        await session.execute(
            sa.select(ContactIdentity)
            .where(ContactIdentity.workspace_id == workspace_id, ContactIdentity.contact_id == contact_id)
            .order_by(ContactIdentity.id)
        )
    ).scalars()
    preference = (
        await session.execute(
            sa.select(AiContactPreference).where(
                AiContactPreference.workspace_id == workspace_id, AiContactPreference.contact_id == contact_id
            )
        )
    ).scalar_one_or_none()
    conversations = list(
        (
            await session.execute(
                sa.select(Conversation)
                .where(Conversation.workspace_id == workspace_id, Conversation.contact_id == contact_id)
                .order_by(Conversation.created_at, Conversation.id)
            )
        ).scalars()
    )
    conv_ids = [c.id for c in conversations]
    messages = list(
        (
            await session.execute(
                sa.select(Message)
                .where(Message.workspace_id == workspace_id, Message.conversation_id.in_(conv_ids))
                .order_by(Message.ordered_at, Message.id)
            )
        ).scalars()
    )
    attachments = list(
        (
            await session.execute(
                sa.select(Attachment)
                .where(
                    Attachment.workspace_id == workspace_id,
                    Attachment.message_id.in_([m.id for m in messages]),
                )
                .options(undefer(Attachment.data))
                .order_by(Attachment.id)
            )
        ).scalars()
    )
    decisions = list(
        (
            await session.execute(
                sa.select(AiDecision)
                .where(AiDecision.workspace_id == workspace_id, AiDecision.conversation_id.in_(conv_ids))
                .order_by(AiDecision.created_at, AiDecision.id)
            )
        ).scalars()
    )
    states = {
        s.conversation_id: s
        for s in (
            await session.execute(
                sa.select(AiConversationState).where(
                    AiConversationState.workspace_id == workspace_id,
                    AiConversationState.conversation_id.in_(conv_ids),
                )
            )
        ).scalars()
    }
    labels: dict[uuid.UUID, list[str]] = {}
    for conv_id, name in await session.execute(
        sa.select(ConversationLabel.conversation_id, Label.name)
        .join(Label, Label.id == ConversationLabel.label_id)
        .where(
            ConversationLabel.workspace_id == workspace_id, ConversationLabel.conversation_id.in_(conv_ids)
        )
        .order_by(Label.name)
    ):
        labels.setdefault(conv_id, []).append(name)
    requests = (
        await session.execute(
            sa.select(SubjectRequest)
            .where(SubjectRequest.workspace_id == workspace_id, SubjectRequest.contact_id == contact_id)
            .order_by(SubjectRequest.received_at, SubjectRequest.id)
        )
    ).scalars()

    files: list[tuple[str, bytes]] = []
    by_message: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for att in attachments:
        path = f"attachments/{att.id}/{_file_name(storage.read_attachment_name(att))}"
        files.append((path, storage.read_attachment(att)))
        by_message.setdefault(att.message_id, []).append(
            {
                "id": str(att.id),
                "file_name": storage.read_attachment_name(att),
                "content_type": att.content_type,
                "size": att.size,
                "path": path,
            }
        )
    thread: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for msg in messages:
        thread.setdefault(msg.conversation_id, []).append(
            {
                "id": str(msg.id),
                "message_type": msg.message_type,
                "private": msg.message_type == "note",
                "sender_kind": msg.sender_kind,
                "content": storage.read_message_content(msg),
                "content_attributes": dict(msg.content_attributes or {}),
                "status": msg.status,
                "created_at": iso(msg.created_at),
                "sent_at": iso(msg.sent_at),
                "delivered_at": iso(msg.delivered_at),
                "read_at": iso(msg.read_at),
                "failed_at": iso(msg.failed_at),
                "failure_reason": msg.failure_reason,
                "provider_message_id": msg.provider_message_id,
                "reply_to_id": str(msg.reply_to_id) if msg.reply_to_id else None,
                "attachments": by_message.get(msg.id, []),
            }
        )
    logged: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for d in decisions:
        logged.setdefault(d.conversation_id, []).append(
            {
                "id": str(d.id),
                "message_id": str(d.message_id) if d.message_id else None,
                "reply_message_id": str(d.reply_message_id) if d.reply_message_id else None,
                "action": d.action,
                "reason_category": d.reason_category,
                "provider": d.provider,
                "inputs": d.inputs,
                "sources": d.sources,
                "contested": bool(d.contested),
                "contested_at": iso(d.contested_at),
                "contest_note": d.contest_note,
                "created_at": iso(d.created_at),
            }
        )
    document = {
        "schema": SCHEMA_ID,
        "generated_at": iso(utcnow()),
        "workspace": {"id": str(workspace_id), "name": workspace.name if workspace else ""},
        "request": {
            "id": str(request.id),
            "received_at": iso(request.received_at),
            "deadline_at": iso(request.deadline_at),
        },
        "contact": {
            "id": str(contact.id),
            "name": pii.name,
            "email": pii.email,
            "phone": pii.phone,
            "notes": pii.notes,
            "custom_attributes": pii.custom_attributes,
            "created_at": iso(contact.created_at),
            "updated_at": iso(contact.updated_at),
            "last_activity_at": iso(contact.last_activity_at),
            "identities": [
                {
                    "inbox_id": str(i.inbox_id),
                    "channel_type": inboxes[i.inbox_id].channel_type if i.inbox_id in inboxes else "",
                    "external_id": i.external_id,
                    "created_at": iso(i.created_at),
                }
                for i in identities
            ],
            "ai_off": bool(preference and preference.ai_off),
            "ai_off_reason": preference.reason if preference and preference.ai_off else None,
            "restricted_at": iso(contact.restricted_at),
        },
        "conversations": [
            {
                "id": str(c.id),
                "display_number": c.display_number,
                "inbox": {
                    "id": str(c.inbox_id),
                    "name": inboxes[c.inbox_id].name if c.inbox_id in inboxes else "",
                    "channel_type": inboxes[c.inbox_id].channel_type if c.inbox_id in inboxes else "",
                },
                "status": c.status,
                "priority": c.priority,
                "labels": labels.get(c.id, []),
                "custom_attributes": dict(c.custom_attributes or {}),
                "ai_off": bool(states.get(c.id) and states[c.id].ai_off),
                "created_at": iso(c.created_at),
                "last_activity_at": iso(c.last_activity_at),
                "messages": thread.get(c.id, []),
                "ai_decisions": logged.get(c.id, []),
            }
            for c in conversations
        ],
        "consents": [_consent(c, inboxes) for c in conversations if _consent(c, inboxes)],
        "requests": [
            {
                "id": str(r.id),
                "kind": r.kind,
                "received_at": iso(r.received_at),
                "deadline_at": iso(r.deadline_at),
                "state": r.state,
                "completed_at": iso(r.completed_at),
            }
            for r in requests
        ],
    }
    return ExportContent(document, files)


def _consent(conv: Conversation, inboxes: dict[uuid.UUID, Inbox]) -> dict[str, Any] | None:
    """The consent the person gave when the conversation started, where a channel records one (the
    widget's pre-chat consent, kept in the conversation's attributes): text, version and time."""
    record = (conv.custom_attributes or {}).get("widget_consent")
    if not isinstance(record, dict):
        return None
    return {
        "conversation_id": str(conv.id),
        "channel_type": inboxes[conv.inbox_id].channel_type if conv.inbox_id in inboxes else "",
        "text": record.get("text"),
        "version": None if record.get("version") is None else str(record.get("version")),
        "accepted_at": record.get("accepted_at"),
    }


def _zip(content: ExportContent) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", json.dumps(content.document, indent=2, ensure_ascii=False))
        archive.writestr("schema.json", json.dumps(EXPORT_SCHEMA, indent=2))
        for path, data in content.files:
            archive.writestr(path, data)
    return buffer.getvalue()


async def archive(content: ExportContent) -> bytes:
    """The zip, compressed in a worker thread (attachments may weigh megabytes)."""
    return await asyncio.to_thread(_zip, content)
