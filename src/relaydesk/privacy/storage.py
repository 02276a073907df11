"""The one module that reads and writes personal data, encrypted at rest (docs/encryption.md).

Message content, attachment bytes, contact PII, raw inbound bodies and channel credentials go in and out
of the database only through these functions, so encryption, blind indexing and erasure live in one place.
Nothing else assigns `Message.content`, `Contact.email`, `Attachment.data`, ... directly
(tests/core/test_layering.py greps for it).

* Message content, attachments and contact PII are sealed (AES-256-GCM) under the **contact's** data key,
  with associated data naming workspace, table, column and row id. Destroying the contact's key
  (`shred_contact`) makes all of it unreadable at once, wherever copies of the ciphertext went.
* Secrets and raw bodies are sealed under a per-workspace subkey of the master key (`vault.py`).
* Exact lookups use blind indexes (`email_bidx`, `phone_bidx`); search uses blind word tokens.

Reads stay synchronous (serializers call them while building JSON): rows of `Contact`, `Message` and
`Attachment` loaded through an AsyncSession get their contact keys fetched in one batched query right
after the SELECT (an ORM event, see `_prime_loaded`), and the read functions decrypt with them. A
shredded contact's fields read as None.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from relaydesk.errors import Conflict, InvalidInput
from relaydesk.models.contacts import Contact
from relaydesk.models.conversations import Conversation
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Attachment, Message
from relaydesk.privacy import crypto, vault
from relaydesk.privacy.blind_index import BlindIndex
from relaydesk.privacy.crypto import MasterKey, aad_for
from relaydesk.privacy.keys import KeyRing, contact_id_from_key_id, contact_key_id
from relaydesk.privacy.keystore import bound_session
from relaydesk.search import index as search_index

CONTACT_FIELDS = ("name", "email", "phone", "notes", "custom_attributes")
# Sealed columns per model, all under the key of the contact the row belongs to.
SEALED_COLUMNS: dict[type, tuple[str, ...]] = {
    Contact: CONTACT_FIELDS,
    Message: ("content",),
    Attachment: ("data", "filename_sealed"),
}

_PLAIN = "_rd_plain"  # {column: (blob, plaintext)} decrypted or written by this process
_KEYS = "_rd_keys"  # {contact id: key or None when shredded} pinned when the row was loaded/written
_OWNER = "_rd_contact"  # the contact whose key seals a message (set when written)
_LOADED = "relaydesk.loaded_sealed_rows"


class KeysNotLoaded(RuntimeError):
    """A sealed row was read without its key: it was loaded outside an AsyncSession query (for example a
    streamed result); reload it with `session.execute(select(...))`."""


def configure(master_keys: list[MasterKey] | MasterKey, *, cache_ttl: float = 300.0) -> KeyRing:
    """Called once at start-up with the configured master keys, newest first (see server/keys.py)."""
    keys = [master_keys] if isinstance(master_keys, MasterKey) else list(master_keys)
    return vault.configure(keys, cache_ttl=cache_ttl)


async def index_for(session: AsyncSession, workspace_id: uuid.UUID, *, create: bool = True) -> BlindIndex:
    """The workspace's blind index (raises `crypto.UnknownKey` on reads before any key exists)."""
    key = vault.ring().cached_index_key(workspace_id)
    if key is None:
        key = await vault.run(session, lambda ring: ring.index_key(workspace_id, create=create))
    return BlindIndex(key)


# --- per-row helpers ------------------------------------------------------------------------------------


def _table(obj: Any) -> str:
    return str(obj.__tablename__)


def _aad(obj: Any, column: str) -> bytes:
    return aad_for(obj.workspace_id, _table(obj), column, obj.id)


def _pin(obj: Any, contact_id: uuid.UUID, key: bytes | None) -> None:
    obj.__dict__.setdefault(_KEYS, {})[contact_id] = key


def _remember(obj: Any, column: str, blob: bytes | None, plain: Any) -> None:
    obj.__dict__.setdefault(_PLAIN, {})[column] = (blob, plain)


def _contact_plaintext(column: str, value: Any) -> bytes | None:
    """The bytes a contact column seals: its custom attributes as canonical JSON, the rest as UTF-8."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True).encode() if column == "custom_attributes" else value.encode()


def _seal(obj: Any, column: str, key: bytes, contact_id: uuid.UUID, plain: bytes | None) -> bytes | None:
    if plain is None:
        return None
    return crypto.seal(key, contact_key_id(contact_id), plain, _aad(obj, column))


def _open(obj: Any, column: str) -> bytes | None:
    """Plaintext bytes of a sealed column; None when empty or when its contact was shredded."""
    blob = obj.__dict__.get(column)
    if blob is None:
        return None
    contact_id = contact_id_from_key_id(crypto.key_id_of(blob))
    if contact_id is None:
        raise crypto.DecryptionError(f"{_table(obj)}.{column} is not sealed under a contact key")
    pinned = obj.__dict__.get(_KEYS, {})
    if contact_id in pinned:
        key = pinned[contact_id]
    else:
        key = vault.ring().cached_contact_key(obj.workspace_id, contact_id)
        if key is None:
            raise KeysNotLoaded(f"{_table(obj)} row {obj.id} was read before its key was loaded")
    if key is None:
        return None
    return crypto.open_sealed(lambda _kid: key, blob, _aad(obj, column))


def _read(obj: Any, column: str, decode: Any) -> Any:
    blob = obj.__dict__.get(column)
    cached = obj.__dict__.get(_PLAIN, {}).get(column)
    if cached is not None and cached[0] is blob:
        return cached[1]
    raw = _open(obj, column)
    value = None if raw is None else decode(raw)
    _remember(obj, column, blob, value)
    return value


def is_shredded(obj: Contact | Message | Attachment) -> bool:
    """Whether the row's contact key was destroyed (its personal fields read as None)."""
    return None in obj.__dict__.get(_KEYS, {}).values()


async def _contact_key(session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> bytes:
    try:
        return await vault.run(session, lambda ring: ring.contact_key(workspace_id, contact_id))
    except crypto.KeyDestroyed:
        raise Conflict("this contact's data was erased; nothing more can be stored for it") from None


# --- messages -------------------------------------------------------------------------------------------


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
    key = await _contact_key(session, message.workspace_id, contact_id)
    _pin(message, contact_id, key)
    message.__dict__[_OWNER] = contact_id
    blob = _seal(message, "content", key, contact_id, text.encode("utf-8") if text is not None else None)
    message.content = blob
    _remember(message, "content", blob, text)
    if text and message.message_type != "activity":
        index = await index_for(session, message.workspace_id)
        await search_index.index_subject(
            session, index, message.workspace_id, search_index.MESSAGE, message.id, [text]
        )


def read_message_content(message: Message) -> str | None:
    return _read(message, "content", lambda raw: raw.decode("utf-8"))  # type: ignore[no-any-return]


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


# --- contacts -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactPII:
    name: str | None
    email: str | None
    phone: str | None
    custom_attributes: dict[str, Any]
    notes: str | None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8")


def read_contact(contact: Contact) -> ContactPII:
    attrs = _read(contact, "custom_attributes", lambda raw: json.loads(raw))
    return ContactPII(
        name=_read(contact, "name", _text),
        email=_read(contact, "email", _text),
        phone=_read(contact, "phone", _text),
        custom_attributes=dict(attrs or {}),
        notes=_read(contact, "notes", _text),
    )


def normalise_email(email: str | None) -> str | None:
    return email.strip().lower() if email and email.strip() else None


_UNSET: Any = object()


def _email_digest(index: BlindIndex, email: str | None) -> bytes | None:
    if email is None:
        return None
    try:
        return index.email(email)
    except ValueError:
        raise InvalidInput("email is not an e-mail address") from None


def _phone_digest(index: BlindIndex, phone: str | None) -> bytes | None:
    """E.164 digest; a number without country code cannot be normalised and is simply not indexed."""
    if not phone:
        return None
    try:
        return index.phone(phone)
    except ValueError:
        return None


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
    """Update the given personal fields, their blind indexes and search tokens (old values stop matching).

    Every custom attribute is sealed, personal or not: it is simpler than tracking which definitions are
    marked personal, and attributes are only ever read with the contact."""
    current = read_contact(contact)
    values = {
        "name": current.name if name is _UNSET else name,
        "email": current.email if email is _UNSET else normalise_email(email),
        "phone": current.phone if phone is _UNSET else (phone.strip() or None if phone else None),
        "custom_attributes": current.custom_attributes
        if custom_attributes is _UNSET
        else dict(custom_attributes or {}),
        "notes": current.notes if notes is _UNSET else notes,
    }
    key = await _contact_key(session, contact.workspace_id, contact.id)
    _pin(contact, contact.id, key)
    index = await index_for(session, contact.workspace_id)
    for column, value in values.items():
        raw = _contact_plaintext(column, value)
        blob = _seal(contact, column, key, contact.id, raw)
        setattr(contact, column, blob)
        _remember(contact, column, blob, value)
    contact.email_bidx = _email_digest(index, values["email"])
    contact.phone_bidx = _phone_digest(index, values["phone"])
    await search_index.unindex_subject(session, contact.workspace_id, contact.id)
    await search_index.index_subject(
        session,
        index,
        contact.workspace_id,
        search_index.CONTACT,
        contact.id,
        [values["name"] or "", values["email"] or "", values["phone"] or ""],
    )


async def search_contacts(
    session: AsyncSession, workspace_id: uuid.UUID, query: str, *, before: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    try:
        index = await index_for(session, workspace_id, create=False)
    except crypto.UnknownKey:
        return []
    return list(
        await search_index.search(
            session, index, workspace_id, search_index.CONTACT, query, before=before, limit=limit
        )
    )


async def find_contacts_by_email(session: AsyncSession, workspace_id: uuid.UUID, email: str) -> list[Contact]:
    """Exact lookup through the blind index (the address itself is stored only sealed)."""
    try:
        index = await index_for(session, workspace_id, create=False)
    except crypto.UnknownKey:
        return []
    digest = _email_digest(index, normalise_email(email))
    stmt = sa.select(Contact).where(Contact.workspace_id == workspace_id, Contact.email_bidx == digest)
    return list((await session.execute(stmt)).scalars())


async def find_contacts_by_phone(session: AsyncSession, workspace_id: uuid.UUID, phone: str) -> list[Contact]:
    """Exact lookup by E.164 number through the blind index; numbers without country code match nothing."""
    try:
        index = await index_for(session, workspace_id, create=False)
    except crypto.UnknownKey:
        return []
    digest = _phone_digest(index, phone)
    if digest is None:
        return []
    stmt = sa.select(Contact).where(Contact.workspace_id == workspace_id, Contact.phone_bidx == digest)
    return list((await session.execute(stmt)).scalars())


@asynccontextmanager
async def _zeroing_freed_space(session: AsyncSession) -> AsyncIterator[None]:
    """Where clear personal data is overwritten (the pre-0007 attachment columns): SQLite otherwise leaves
    the old bytes in the file's free space, readable in a copy; `secure_delete` zeroes them. PostgreSQL
    keeps old row versions until VACUUM whatever we do (docs/encryption.md §4)."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    previous = int((await session.execute(sa.text("PRAGMA secure_delete"))).scalar_one())
    await session.execute(sa.text("PRAGMA secure_delete=1"))
    try:
        yield
    finally:
        await session.execute(sa.text(f"PRAGMA secure_delete={previous}"))


async def _drop_clear_attachment_metadata(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID
) -> None:
    """Attachments not yet converted from revision 0007's clear columns lose their clear name and digest:
    no key can make those unreadable, so erasure deletes them (sealed names go with the key)."""
    of_contact = (
        sa.select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.workspace_id == workspace_id, Conversation.contact_id == contact_id)
    )
    async with _zeroing_freed_space(session):
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
    await _drop_clear_attachment_metadata(session, workspace_id, contact_id)
    await session.execute(
        sa.update(Contact)
        .where(Contact.workspace_id == workspace_id, Contact.id == contact_id)
        .values(email_bidx=None, phone_bidx=None)
    )
    await vault.run(session, lambda ring: ring.destroy_contact_key(workspace_id, contact_id))
    return len(message_ids) + 1


# --- batch writes: the inbound path -------------------------------------------------------------------
# Inbound processing stores hundreds of messages per transaction with Core inserts (no ORM unit of work),
# so it seals values for rows it builds itself. Same keys, same associated data as the per-row functions.


async def contact_keys(
    session: AsyncSession, workspace_id: uuid.UUID, contact_ids: list[uuid.UUID], *, new: bool = False
) -> dict[uuid.UUID, bytes]:
    """Data keys of many contacts (created for those without one) with at most one query and one insert;
    `new=True` for contacts created in this transaction (no lookup: they cannot have a key yet)."""
    ring = vault.ring()
    if not new:  # all cached (the usual case for returning customers): no transaction work at all
        cached = {cid: ring.cached_contact_key(workspace_id, cid) for cid in contact_ids}
        if all(key is not None for key in cached.values()):
            return cached  # type: ignore[return-value]
    try:
        return await vault.run(session, lambda ring: ring.contact_keys(workspace_id, contact_ids, new=new))
    except crypto.KeyDestroyed:
        raise Conflict("this contact's data was erased; nothing more can be stored for it") from None


def seal_message_text(
    workspace_id: uuid.UUID, message_id: uuid.UUID, contact_id: uuid.UUID, key: bytes, text: str | None
) -> bytes | None:
    """A new message's sealed content, for a row the caller inserts itself."""
    if text is None:
        return None
    aad = aad_for(workspace_id, Message.__tablename__, "content", message_id)
    return crypto.seal(key, contact_key_id(contact_id), text.encode("utf-8"), aad)


def sealed_new_contact(
    index: BlindIndex,
    workspace_id: uuid.UUID,
    contact_id: uuid.UUID,
    key: bytes,
    *,
    name: str | None,
    email: str | None,
    phone: str | None,
) -> tuple[dict[str, Any], list[str]]:
    """Column values of a new contact row (sealed fields and blind indexes) and the texts to index.

    An address that is not an e-mail address is dropped rather than failing the message it came with."""
    email = normalise_email(email)
    email_bidx = None
    if email is not None:
        try:
            email_bidx = index.email(email)
        except ValueError:
            email = None
    phone = phone.strip() or None if phone else None
    values = {"name": name, "email": email, "phone": phone, "custom_attributes": {}, "notes": None}
    row: dict[str, Any] = {"id": contact_id, "workspace_id": workspace_id}
    for column, value in values.items():
        raw = _contact_plaintext(column, value)
        aad = aad_for(workspace_id, Contact.__tablename__, column, contact_id)
        row[column] = None if raw is None else crypto.seal(key, contact_key_id(contact_id), raw, aad)
    row["email_bidx"] = email_bidx
    row["phone_bidx"] = _phone_digest(index, phone)
    return row, [name or "", email or "", phone or ""]


def transient_message(
    workspace_id: uuid.UUID, message_id: uuid.UUID, contact_id: uuid.UUID, key: bytes
) -> Message:
    """A Message object for a row inserted with Core, carrying its contact key so `new_attachment` can
    seal the message's attachments under the same key. Not added to any session."""
    message = Message(id=message_id, workspace_id=workspace_id)
    _pin(message, contact_id, key)
    message.__dict__[_OWNER] = contact_id
    return message


# --- attachments ----------------------------------------------------------------------------------------


def _message_contact(message: Message) -> tuple[uuid.UUID, bytes]:
    contact_id = message.__dict__.get(_OWNER)
    if contact_id is None and message.content is not None:
        contact_id = contact_id_from_key_id(crypto.key_id_of(message.content))
    key = message.__dict__.get(_KEYS, {}).get(contact_id) if contact_id else None
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
    _pin(att, contact_id, key)
    att.data = _seal(att, "data", key, contact_id, data)  # type: ignore[assignment]
    _remember(att, "data", att.data, data)
    att.filename_sealed = _seal_name(att.workspace_id, att.id, contact_id, key, filename)
    _remember(att, ATTACHMENT_NAME, att.filename_sealed, filename)
    return att


def read_attachment(attachment: Attachment) -> bytes:
    """The attachment's bytes; empty when its contact was shredded."""
    return _read(attachment, "data", bytes) or b""  # type: ignore[no-any-return]


def read_attachment_name(attachment: Attachment) -> str:
    """The attachment's file name; empty when its contact was shredded. A row written before revision
    0007 that the conversion job has not reached yet still holds it in clear."""
    if attachment.filename_sealed is None:
        return attachment.legacy_filename or ""
    return _read(attachment, ATTACHMENT_NAME, _text) or ""  # type: ignore[no-any-return]


def content_digest_matches(attachment: Attachment, data: bytes) -> bool:
    """Whether `data` is this attachment's content, by its keyed digest (False once shredded)."""
    if attachment.digest is None:
        return attachment.legacy_sha256 == hashlib.sha256(data).hexdigest()
    keys = [k for k in attachment.__dict__.get(_KEYS, {}).values() if k is not None]
    if not keys:
        return False
    return hmac.compare_digest(attachment.digest, _content_digest(keys[0], hashlib.sha256(data).digest()))


async def workspaces_with_clear_attachment_metadata(session: AsyncSession) -> list[uuid.UUID]:
    """Workspaces that still have attachments with a clear name or digest (an index probe when none)."""
    stmt = sa.select(Attachment.workspace_id).where(Attachment.legacy_filename.is_not(None)).distinct()
    return list((await session.execute(stmt)).scalars())


async def _stored_contact_keys(
    session: AsyncSession, workspace_id: uuid.UUID, contact_ids: list[uuid.UUID]
) -> dict[uuid.UUID, bytes | None]:
    """The contacts' data keys, None for a shredded (or missing) one; never creates a key."""

    async def load(ring: KeyRing) -> dict[uuid.UUID, bytes | None]:
        stored = await vault.store().load_contact_keys(workspace_id, contact_ids)
        keys: dict[uuid.UUID, bytes | None] = {}
        for contact_id in contact_ids:
            wrapped = stored.get(contact_id)
            keys[contact_id] = (
                None if wrapped is None else await ring.install_contact_key(workspace_id, contact_id, wrapped)
            )
        return keys

    return await vault.run(session, load)


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
    keys = await _stored_contact_keys(session, workspace_id, sorted(set(owners.values())))
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
    async with _zeroing_freed_space(session):
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


# --- secrets and raw bodies -----------------------------------------------------------------------------


def write_inbox_credentials(inbox: Inbox, credentials: dict[str, Any]) -> None:
    raw = json.dumps(credentials, sort_keys=True).encode()
    inbox.credentials = vault.seal_secret_bytes(inbox.workspace_id, raw, _aad(inbox, "credentials"))


def read_inbox_credentials(inbox: Inbox) -> dict[str, Any]:
    if not inbox.credentials:
        return {}
    raw = vault.open_secret_bytes(inbox.workspace_id, inbox.credentials, _aad(inbox, "credentials"))
    return json.loads(raw)  # type: ignore[no-any-return]


def _scope_aad(scope: uuid.UUID, table: str, column: str) -> bytes:
    return aad_for(scope, table, column, scope)


def seal_secret(workspace_id: uuid.UUID, value: str) -> bytes:
    """A secret (webhook signing key, TOTP seed, provider API key) sealed for a workspace or another scope
    id (e.g. the platform scope for per-user secrets). Bound to the scope, not to one row: callers build
    Core statements with it before a row id is at hand."""
    return vault.seal_secret_bytes(workspace_id, value.encode(), _scope_aad(workspace_id, "secrets", "value"))


def open_secret(workspace_id: uuid.UUID, blob: bytes) -> str:
    return vault.open_secret_bytes(workspace_id, blob, _scope_aad(workspace_id, "secrets", "value")).decode()


def seal_raw_body(workspace_id: uuid.UUID, body: bytes) -> bytes:
    """Raw inbound provider bodies hold personal data until parsed; purge them with retention."""
    return vault.seal_secret_bytes(workspace_id, body, _scope_aad(workspace_id, "inbound_events", "body"))


def open_raw_body(workspace_id: uuid.UUID, blob: bytes | None) -> bytes:
    if not blob:
        return b""
    return vault.open_secret_bytes(workspace_id, blob, _scope_aad(workspace_id, "inbound_events", "body"))


# --- loading keys for rows read from the database -------------------------------------------------------


def _sealed_contacts(obj: Any) -> set[uuid.UUID]:
    found = set()
    for column in SEALED_COLUMNS[type(obj)]:
        blob = obj.__dict__.get(column)
        if isinstance(blob, bytes | bytearray | memoryview) and blob:
            try:
                contact_id = contact_id_from_key_id(crypto.key_id_of(bytes(blob)))
            except crypto.DecryptionError:
                continue
            if contact_id is not None:
                found.add(contact_id)
    return found


def _prime_loaded(session: Session, rows: list[Any]) -> None:
    """Pin the contact keys of freshly loaded rows: cached ones directly, the rest in one query per
    workspace, so a page of N messages costs one key query however large N is."""
    ring = vault.ring()
    missing: dict[uuid.UUID, dict[uuid.UUID, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for obj in rows:
        for contact_id in _sealed_contacts(obj):
            key = ring.cached_contact_key(obj.workspace_id, contact_id)
            if key is not None:
                _pin(obj, contact_id, key)
            else:
                missing[obj.workspace_id][contact_id].append(obj)
    for workspace_id, by_contact in missing.items():
        token = bound_session.set(session)
        try:
            stored = vault.store().contact_keys_for(workspace_id, list(by_contact))
        finally:
            bound_session.reset(token)
        for contact_id, objs in by_contact.items():
            wrapped = stored.get(contact_id)
            key: bytes | None = None
            if wrapped is not None:
                key = vault.drive(session, ring.install_contact_key(workspace_id, contact_id, wrapped))
            for obj in objs:
                _pin(obj, contact_id, key)


def _on_load(target: Any, context: Any) -> None:
    session = getattr(context, "session", None)
    if session is not None:
        session.info.setdefault(_LOADED, []).append(target)


def _on_refresh(target: Any, context: Any, _attrs: Any) -> None:
    _on_load(target, context)


for _model in SEALED_COLUMNS:
    event.listen(_model, "load", _on_load)
    event.listen(_model, "refresh", _on_refresh)


_SEALED_MODELS = tuple(SEALED_COLUMNS)


@event.listens_for(Session, "do_orm_execute")
def _after_select(state: ORMExecuteState) -> Any:
    if not state.is_select:
        return None
    result = state.invoke_statement()
    options = state.execution_options
    if (
        not options.get("prebuffer_rows")
        and not options.get("yield_per")
        and not options.get("stream_results")
        and any(issubclass(m.class_, _SEALED_MODELS) for m in state.all_mappers)
    ):
        # `AsyncSession.get()` and `refresh()` do not prebuffer: materialise the rows now, while SQL may
        # still run synchronously, so their keys are loaded before any caller reads them.
        result = result.freeze()()
    loaded = state.session.info.pop(_LOADED, None)
    if loaded:
        _prime_loaded(state.session, loaded)
    return result
