"""Attachments: bytes and file name sealed under the key of the message's contact, content digest keyed
from that key (so shredding takes all three); content type and size in clear. Rows from before revision
0007 still have a clear name and SHA-256 until the `attachments.seal_metadata` job converts them."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.models.conversations import Conversation
from relaydesk.models.messages import Attachment, Message
from relaydesk.privacy import crypto
from relaydesk.privacy.crypto import aad_for
from relaydesk.privacy.keys import contact_id_from_key_id, contact_key_id
from relaydesk.privacy.storage.datamap import DataClass, Retention
from relaydesk.privacy.storage.sealing import (
    KEYS,
    OWNER,
    KeysNotLoaded,
    pin,
    read_column,
    remember,
    seal_column,
    stored_contact_keys,
    text,
    zeroing_freed_space,
)

DATA_CLASSES = (
    DataClass(
        name="attachments",
        about="files the contact sent or was sent: bytes, file name, content digest",
        tables={"attachments": ("data", "filename_sealed", "digest", "filename", "sha256")},
        subject="attachments.message_id → messages.conversation_id → conversations.contact_id",
        export="`attachments/<id>/<file name>` in the archive, listed under their message",
        erase="bytes, sealed name and keyed digest unreadable once the contact key is destroyed; clear "
        "pre-0007 name and SHA-256 emptied at once; rows deleted with the message",
        retention=Retention.CONVERSATION,
        enforced="no time-based purge yet",
    ),
)


def _message_contact(message: Message) -> tuple[uuid.UUID, bytes]:
    contact_id = message.__dict__.get(OWNER)
    if contact_id is None and message.content is not None:
        contact_id = contact_id_from_key_id(crypto.key_id_of(message.content))
    key = message.__dict__.get(KEYS, {}).get(contact_id) if contact_id else None
    if contact_id is None or key is None:
        raise KeysNotLoaded("attachments are added to a message written with write_message_content first")
    return contact_id, key


ATTACHMENT_NAME = "filename_sealed"  # the sealed column (and the column named in its associated data)
CLEAR_METADATA_BATCH = 200
_DIGEST_PURPOSE = "attachment-digest"
# Enough of a sealed value to read its key id: version, length, id (≤ 255), nonce and tag.
_SEALED_HEAD = 2 + 255 + 12 + 16


def _content_digest(key: bytes, content_sha256: bytes) -> bytes:
    """Keyed digest of an attachment: HMAC-SHA256 of the content's SHA-256 under a subkey of the contact key.

    Keyed, so holding a candidate file confirms nothing without the contact key, and after shredding the
    digest is noise; not the workspace index key, which outlives an erasure (docs/privacy.md). Taken over
    the SHA-256 rather than the bytes so old rows convert from their stored clear digest without reading
    and decrypting up to 10 MiB each."""
    return hmac.new(crypto.derive_subkey(key, _DIGEST_PURPOSE), content_sha256, hashlib.sha256).digest()


def _seal_name(
    workspace_id: uuid.UUID, attachment_id: uuid.UUID, contact_id: uuid.UUID, key: bytes, name: str
) -> bytes:
    aad = aad_for(workspace_id, Attachment.__tablename__, ATTACHMENT_NAME, attachment_id)
    return crypto.seal(key, contact_key_id(contact_id), name.encode("utf-8"), aad)


def new_attachment(message: Message, filename: str, content_type: str, data: bytes) -> Attachment:
    """An attachment sealed under the same contact key as its message (written just before, or a
    `transient_message` of the batch inbound path): bytes and file name sealed, content digest keyed."""
    contact_id, key = _message_contact(message)
    att = Attachment(
        workspace_id=message.workspace_id,
        message_id=message.id,
        content_type=content_type,
        size=len(data),
        digest=_content_digest(key, hashlib.sha256(data).digest()),
    )
    pin(att, contact_id, key)
    att.data = seal_column(att, "data", key, contact_id, data)  # type: ignore[assignment]
    remember(att, "data", att.data, data)
    att.filename_sealed = _seal_name(att.workspace_id, att.id, contact_id, key, filename)
    remember(att, ATTACHMENT_NAME, att.filename_sealed, filename)
    return att


def read_attachment(attachment: Attachment) -> bytes:
    """The attachment's bytes; empty when its contact was shredded."""
    return read_column(attachment, "data", bytes) or b""  # type: ignore[no-any-return]


def read_attachment_name(attachment: Attachment) -> str:
    """The attachment's file name; empty when its contact was shredded. A row written before revision
    0007 that the conversion job has not reached yet still holds it in clear."""
    if attachment.filename_sealed is None:
        return attachment.legacy_filename or ""
    return read_column(attachment, ATTACHMENT_NAME, text) or ""  # type: ignore[no-any-return]


def content_digest_matches(attachment: Attachment, data: bytes) -> bool:
    """Whether `data` is this attachment's content, by its keyed digest (False once shredded)."""
    if attachment.digest is None:
        return attachment.legacy_sha256 == hashlib.sha256(data).hexdigest()
    keys = [k for k in attachment.__dict__.get(KEYS, {}).values() if k is not None]
    if not keys:
        return False
    return hmac.compare_digest(attachment.digest, _content_digest(keys[0], hashlib.sha256(data).digest()))


async def workspaces_with_clear_attachment_metadata(session: AsyncSession) -> list[uuid.UUID]:
    """Workspaces that still have attachments with a clear name or digest (an index probe when none)."""
    stmt = sa.select(Attachment.workspace_id).where(Attachment.legacy_filename.is_not(None)).distinct()
    return list((await session.execute(stmt)).scalars())


async def seal_clear_attachment_metadata(
    session: AsyncSession, workspace_id: uuid.UUID, *, limit: int = CLEAR_METADATA_BATCH
) -> int:
    """Convert up to `limit` of the workspace's attachments written before revision 0007: seal the clear
    file name under the contact key of the bytes, replace the clear SHA-256 by the keyed digest, and clear
    both. A shredded contact's rows just lose their clear name and digest. Returns how many rows were
    converted; fewer than `limit` means the workspace is done.

    Resumable without a cursor: a converted row leaves the partial index the batch is read from, so a
    killed run loses at most its uncommitted batch, and converting a row twice cannot happen (the UPDATE
    requires the clear name to still be there). The key is the one named in the sealed bytes' header, so
    the name is sealed under exactly the key its content is."""
    rows = (
        await session.execute(
            sa.select(
                Attachment.id,
                Attachment.legacy_filename,
                Attachment.legacy_sha256,
                sa.func.substr(Attachment.data, 1, _SEALED_HEAD).label("head"),
            )
            .where(Attachment.workspace_id == workspace_id, Attachment.legacy_filename.is_not(None))
            .order_by(Attachment.id)
            .limit(limit)
        )
    ).all()
    if not rows:
        return 0
    owners: dict[uuid.UUID, uuid.UUID] = {}
    for row in rows:
        contact_id = contact_id_from_key_id(crypto.key_id_of(bytes(row.head)))
        if contact_id is None:
            raise crypto.DecryptionError(f"attachment {row.id}: its bytes are not sealed under a contact key")
        owners[row.id] = contact_id
    keys = await stored_contact_keys(session, workspace_id, sorted(set(owners.values())))
    params = []
    for row in rows:
        contact_id = owners[row.id]
        key = keys[contact_id]
        sealed = digest = None
        if key is not None:
            sealed = _seal_name(workspace_id, row.id, contact_id, key, row.legacy_filename)
            if row.legacy_sha256:
                digest = _content_digest(key, bytes.fromhex(row.legacy_sha256))
        params.append({"row_id": row.id, "sealed": sealed, "keyed": digest})
    table = Attachment.__table__
    async with zeroing_freed_space(session):
        await session.execute(
            sa.update(table)
            .where(
                table.c.workspace_id == workspace_id,
                table.c.id == sa.bindparam("row_id"),
                table.c.filename.is_not(None),
            )
            .values(
                filename_sealed=sa.bindparam("sealed"),
                digest=sa.bindparam("keyed"),
                filename=None,
                sha256=None,
            ),
            params,
        )
    return len(rows)


async def drop_clear_attachment_metadata(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID
) -> None:
    """Attachments not yet converted from revision 0007's clear columns lose their clear name and digest:
    no key can make those unreadable, so erasure deletes them (sealed names go with the key)."""
    of_contact = (
        sa.select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.workspace_id == workspace_id, Conversation.contact_id == contact_id)
    )
    async with zeroing_freed_space(session):
        await session.execute(
            sa.update(Attachment)
            .where(
                Attachment.workspace_id == workspace_id,
                Attachment.message_id.in_(of_contact),
                Attachment.legacy_filename.is_not(None),
            )
            .values(legacy_filename=None, legacy_sha256=None)
            .execution_options(synchronize_session=False)
        )
