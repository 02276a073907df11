"""The sealing core every data class of the storage package shares: which columns are sealed under a
contact's key, how a row's plaintext is sealed, opened and cached on the row, and the keys pinned to it.

Rows of `Contact`, `Message` and `Attachment` carry, in their `__dict__`, the contact keys pinned when
they were loaded or written (`keyload.py` pins them right after a SELECT) and the plaintext this process
already decrypted or wrote, so a page of rows decrypts each column once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import Conflict
from relaydesk.models.contacts import Contact
from relaydesk.models.messages import Attachment, Message
from relaydesk.privacy import crypto, vault
from relaydesk.privacy.blind_index import BlindIndex
from relaydesk.privacy.crypto import MasterKey, aad_for
from relaydesk.privacy.keys import KeyRing, contact_id_from_key_id, contact_key_id

CONTACT_FIELDS = ("name", "email", "phone", "notes", "custom_attributes")
# Sealed columns per model, all under the key of the contact the row belongs to.
SEALED_COLUMNS: dict[type, tuple[str, ...]] = {
    Contact: CONTACT_FIELDS,
    Message: ("content",),
    Attachment: ("data", "filename_sealed"),
}

PLAIN = "_rd_plain"  # {column: (blob, plaintext)} decrypted or written by this process
KEYS = "_rd_keys"  # {contact id: key or None when shredded} pinned when the row was loaded/written
OWNER = "_rd_contact"  # the contact whose key seals a message (set when written)


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


def table_of(obj: Any) -> str:
    return str(obj.__tablename__)


def row_aad(obj: Any, column: str) -> bytes:
    """Associated data binding a sealed value to its workspace, table, column and row id."""
    return aad_for(obj.workspace_id, table_of(obj), column, obj.id)


def pin(obj: Any, contact_id: uuid.UUID, key: bytes | None) -> None:
    """Attach a contact key (None: shredded) to a row, for the reads that follow."""
    obj.__dict__.setdefault(KEYS, {})[contact_id] = key


def remember(obj: Any, column: str, blob: bytes | None, plain: Any) -> None:
    obj.__dict__.setdefault(PLAIN, {})[column] = (blob, plain)


def pinned_keys(obj: Any) -> dict[uuid.UUID, bytes | None]:
    return dict(obj.__dict__.get(KEYS, {}))


def contact_plaintext(column: str, value: Any) -> bytes | None:
    """The bytes a contact column seals: its custom attributes as canonical JSON, the rest as UTF-8."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True).encode() if column == "custom_attributes" else value.encode()


def seal_column(
    obj: Any, column: str, key: bytes, contact_id: uuid.UUID, plain: bytes | None
) -> bytes | None:
    if plain is None:
        return None
    return crypto.seal(key, contact_key_id(contact_id), plain, row_aad(obj, column))


def open_column(obj: Any, column: str) -> bytes | None:
    """Plaintext bytes of a sealed column; None when empty or when its contact was shredded."""
    blob = obj.__dict__.get(column)
    if blob is None:
        return None
    contact_id = contact_id_from_key_id(crypto.key_id_of(blob))
    if contact_id is None:
        raise crypto.DecryptionError(f"{table_of(obj)}.{column} is not sealed under a contact key")
    pinned = obj.__dict__.get(KEYS, {})
    if contact_id in pinned:
        key = pinned[contact_id]
    else:
        key = vault.ring().cached_contact_key(obj.workspace_id, contact_id)
        if key is None:
            raise KeysNotLoaded(f"{table_of(obj)} row {obj.id} was read before its key was loaded")
    if key is None:
        return None
    return crypto.open_sealed(lambda _kid: key, blob, row_aad(obj, column))


def read_column(obj: Any, column: str, decode: Any) -> Any:
    """A sealed column's decoded plaintext, decrypted at most once per stored value."""
    blob = obj.__dict__.get(column)
    cached = obj.__dict__.get(PLAIN, {}).get(column)
    if cached is not None and cached[0] is blob:
        return cached[1]
    raw = open_column(obj, column)
    value = None if raw is None else decode(raw)
    remember(obj, column, blob, value)
    return value


def text(raw: bytes) -> str:
    return raw.decode("utf-8")


def is_shredded(obj: Contact | Message | Attachment) -> bool:
    """Whether the row's contact key was destroyed (its personal fields read as None)."""
    return None in obj.__dict__.get(KEYS, {}).values()


async def contact_key(session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> bytes:
    """The contact's data key, created on first use; a shredded contact refuses new data (409)."""
    try:
        return await vault.run(session, lambda ring: ring.contact_key(workspace_id, contact_id))
    except crypto.KeyDestroyed:
        raise Conflict("this contact's data was erased; nothing more can be stored for it") from None


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


async def stored_contact_keys(
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


@asynccontextmanager
async def zeroing_freed_space(session: AsyncSession) -> AsyncIterator[None]:
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
