"""Message content, sealed under the key of the conversation's contact, and its blind search tokens; and
the conversation rows that tie a thread to its contact."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import InvalidInput
from relaydesk.models.conversations import Conversation
from relaydesk.models.messages import Message
from relaydesk.privacy import crypto
from relaydesk.privacy.crypto import aad_for
from relaydesk.privacy.keys import contact_key_id
from relaydesk.privacy.storage.datamap import DataClass, Retention
from relaydesk.privacy.storage.sealing import (
    OWNER,
    contact_key,
    index_for,
    pin,
    read_column,
    remember,
    seal_column,
)
from relaydesk.search import index as search_index

DATA_CLASSES = (
    DataClass(
        name="messages",
        about="what the contact wrote and what was written to or about them (replies, private notes), with "
        "channel metadata (subject, headers, provider ids, delivery errors)",
        tables={"messages": ("content", "content_attributes", "provider_message_id", "failure_reason")},
        subject="messages.conversation_id → conversations.contact_id",
        export="`conversations[].messages[]`: content decrypted, metadata, attachment references",
        erase="content unreadable once the contact key is destroyed; rows deleted with the conversation",
        retention=Retention.CONVERSATION,
        enforced="no time-based purge yet",
    ),
    DataClass(
        name="conversations",
        about="the threads a contact had: status, timestamps, assignment, labels, custom attributes",
        tables={"conversations": ("custom_attributes",), "conversation_labels": ()},
        subject="conversations.contact_id",
        export="`conversations[]`: number, inbox, status, timestamps, labels, custom attributes",
        erase="rows deleted with the contact (foreign key cascade)",
        retention=Retention.CONVERSATION,
        enforced="no time-based purge yet",
    ),
)


async def _conversation_contact(session: AsyncSession, message: Message) -> uuid.UUID:
    conversation = await session.get(Conversation, message.conversation_id)
    if conversation is None or conversation.workspace_id != message.workspace_id:
        raise InvalidInput("message has no conversation in this workspace")
    return conversation.contact_id


async def write_message_content(session: AsyncSession, message: Message, text: str | None) -> None:
    """Seal a new message's content under its conversation contact's key and index its words.

    Agents' replies and private notes are sealed under the same contact key: they are about that person,
    and erasing the contact must make the whole thread unreadable."""
    contact_id = await _conversation_contact(session, message)
    key = await contact_key(session, message.workspace_id, contact_id)
    pin(message, contact_id, key)
    message.__dict__[OWNER] = contact_id
    blob = seal_column(
        message, "content", key, contact_id, text.encode("utf-8") if text is not None else None
    )
    message.content = blob
    remember(message, "content", blob, text)
    if text and message.message_type != "activity":
        index = await index_for(session, message.workspace_id)
        await search_index.index_subject(
            session, index, message.workspace_id, search_index.MESSAGE, message.id, [text]
        )


def read_message_content(message: Message) -> str | None:
    return read_column(message, "content", lambda raw: raw.decode("utf-8"))  # type: ignore[no-any-return]


async def search_messages(
    session: AsyncSession, workspace_id: uuid.UUID, query: str, *, before: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    try:
        index = await index_for(session, workspace_id, create=False)
    except crypto.UnknownKey:
        return []  # nothing was ever stored for this workspace
    return list(
        await search_index.search(
            session, index, workspace_id, search_index.MESSAGE, query, before=before, limit=limit
        )
    )


# --- batch writes: the inbound path -------------------------------------------------------------------
# Inbound processing stores hundreds of messages per transaction with Core inserts (no ORM unit of work),
# so it seals values for rows it builds itself. Same keys, same associated data as the per-row functions.


def seal_message_text(
    workspace_id: uuid.UUID, message_id: uuid.UUID, contact_id: uuid.UUID, key: bytes, text: str | None
) -> bytes | None:
    """A new message's sealed content, for a row the caller inserts itself."""
    if text is None:
        return None
    aad = aad_for(workspace_id, Message.__tablename__, "content", message_id)
    return crypto.seal(key, contact_key_id(contact_id), text.encode("utf-8"), aad)


def transient_message(
    workspace_id: uuid.UUID, message_id: uuid.UUID, contact_id: uuid.UUID, key: bytes
) -> Message:
    """A Message object for a row inserted with Core, carrying its contact key so `new_attachment` can
    seal the message's attachments under the same key. Not added to any session."""
    message = Message(id=message_id, workspace_id=workspace_id)
    pin(message, contact_id, key)
    message.__dict__[OWNER] = contact_id
    return message
