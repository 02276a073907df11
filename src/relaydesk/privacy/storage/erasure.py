"""Crypto-shredding a contact: destroy the key that seals every personal field, message and attachment of
theirs, and the derived data that would still identify them without that key."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.models.contacts import Contact
from relaydesk.models.conversations import Conversation
from relaydesk.models.messages import Message
from relaydesk.privacy import vault
from relaydesk.privacy.storage.attachments import drop_clear_attachment_metadata
from relaydesk.search import index as search_index


async def shred_contact(session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> int:
    """Crypto-shred a contact: destroy its data key (tombstoned) and the derived data that would still
    identify it (blind-index digests, search tokens of the contact and of its conversations' messages).
    Returns how many search-token subjects were removed. Used by erasure; callers audit it."""
    message_ids = list(
        (
            await session.execute(
                sa.select(Message.id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.workspace_id == workspace_id, Conversation.contact_id == contact_id)
            )
        ).scalars()
    )
    await search_index.unindex_subjects(session, workspace_id, [contact_id, *message_ids])
    await drop_clear_attachment_metadata(session, workspace_id, contact_id)
    await session.execute(
        sa.update(Contact)
        .where(Contact.workspace_id == workspace_id, Contact.id == contact_id)
        .values(email_bidx=None, phone_bidx=None)
    )
    await vault.run(session, lambda ring: ring.destroy_contact_key(workspace_id, contact_id))
    return len(message_ids) + 1
