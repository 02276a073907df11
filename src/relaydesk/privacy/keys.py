"""The key ring: turns wrapped keys from a store into usable keys, creates, rotates and shreds them.

The store only ever sees wrapped keys (sealed under their parent, owner-bound associated data); the ring
holds unwrapped keys in process memory for `cache_ttl` seconds. The TTL matters for crypto-shredding with
several processes: another process that cached a contact key stops using it at the latest one TTL after
the key was destroyed (call `forget_contact` from an invalidation message to make it immediate).

Key ids, as they appear in blob prefixes:
- master keys: `m<fingerprint>` (see `crypto.parse_master_key`);
- workspace keys: `w<generation>` (`w1`, `w2`, ...), unique within a workspace; the highest is current;
- contact data keys: `c<contact uuid hex>`, so any blob sealed for a contact names the contact's key and
  can be opened knowing only its workspace.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from relaydesk.privacy import crypto
from relaydesk.privacy.blind_index import derive_index_key
from relaydesk.privacy.crypto import KeyDestroyed, MasterKey, UnknownKey

INDEX_ROOT_KEY_ID = "w1"


@dataclass(frozen=True)
class WrappedKey:
    """A key as stored: its id and its sealed form (whose own prefix names the key that wrapped it)."""

    key_id: str
    wrapped: bytes


class KeyStore(Protocol):
    """Persistence for wrapped keys; the DB-backed implementation lives with the storage layer.

    Implementations must make the `add_*` methods insert-if-absent (a unique key on the owner and key id)
    and return the row that won, so two processes creating the same key concurrently agree on one.
    """

    async def load_workspace_keys(self, workspace_id: uuid.UUID) -> list[WrappedKey]:
        """Every live workspace key generation, in any order."""
        ...

    async def add_workspace_key(self, workspace_id: uuid.UUID, key: WrappedKey) -> WrappedKey:
        """Insert if no key with this id exists for the workspace; return the stored one."""
        ...

    async def replace_workspace_key(self, workspace_id: uuid.UUID, key: WrappedKey) -> None:
        """Overwrite the wrapped form of an existing key (master-key rotation re-wraps in place)."""
        ...

    async def load_contact_key(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> WrappedKey | None:
        """The contact's wrapped key, None if never created; raise `KeyDestroyed` if it was destroyed,
        even if a stale copy of the key row reappeared (for example from a restored backup)."""
        ...

    async def add_contact_key(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, key: WrappedKey
    ) -> WrappedKey:
        """Insert if absent and return the stored key; raise `KeyDestroyed` if the contact was shredded."""
        ...

    async def replace_contact_key(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, key: WrappedKey
    ) -> None:
        """Overwrite the wrapped form of an existing contact key (re-wrap after workspace-key rotation)."""
        ...

    async def list_contact_keys(self, workspace_id: uuid.UUID) -> list[tuple[uuid.UUID, WrappedKey]]:
        """All live contact keys of a workspace, for re-wrapping; a DB store would page through them."""
        ...

    async def load_contact_keys(
        self, workspace_id: uuid.UUID, contact_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, WrappedKey | None]:
        """Many keys at once: the wrapped key, None for a destroyed one; absent ids are left out."""
        ...

    async def add_contact_keys(
        self, workspace_id: uuid.UUID, keys: dict[uuid.UUID, WrappedKey]
    ) -> dict[uuid.UUID, WrappedKey]:
        """Insert-if-absent for many contacts; returns what is stored (a concurrent winner's key)."""
        ...

    async def destroy_contact_key(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> None:
        """Delete the wrapped key and record a PII-free tombstone (contact id, time) in the ledger."""
        ...


@dataclass
class InMemoryKeyStore:
    """A dict-backed `KeyStore` for tests and the demo; keeps tombstones like the real one must."""

    workspace_keys: dict[uuid.UUID, dict[str, WrappedKey]] = field(default_factory=dict)
    contact_keys: dict[tuple[uuid.UUID, uuid.UUID], WrappedKey] = field(default_factory=dict)
    tombstones: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)

    async def load_workspace_keys(self, workspace_id: uuid.UUID) -> list[WrappedKey]:
        return list(self.workspace_keys.get(workspace_id, {}).values())

    async def add_workspace_key(self, workspace_id: uuid.UUID, key: WrappedKey) -> WrappedKey:
        return self.workspace_keys.setdefault(workspace_id, {}).setdefault(key.key_id, key)

    async def replace_workspace_key(self, workspace_id: uuid.UUID, key: WrappedKey) -> None:
        keys = self.workspace_keys.get(workspace_id, {})
        if key.key_id not in keys:
            raise UnknownKey(f"workspace key {key.key_id!r} does not exist")
        keys[key.key_id] = key

    async def load_contact_key(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> WrappedKey | None:
        if (workspace_id, contact_id) in self.tombstones:
            raise KeyDestroyed(f"contact key of {contact_id} was destroyed")
        return self.contact_keys.get((workspace_id, contact_id))

    async def add_contact_key(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, key: WrappedKey
    ) -> WrappedKey:
        if (workspace_id, contact_id) in self.tombstones:
            raise KeyDestroyed(f"contact key of {contact_id} was destroyed")
        return self.contact_keys.setdefault((workspace_id, contact_id), key)

    async def replace_contact_key(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, key: WrappedKey
    ) -> None:
        if (workspace_id, contact_id) not in self.contact_keys:
            raise UnknownKey(f"contact key of {contact_id} does not exist")
        self.contact_keys[(workspace_id, contact_id)] = key

    async def list_contact_keys(self, workspace_id: uuid.UUID) -> list[tuple[uuid.UUID, WrappedKey]]:
        return [(c, k) for (w, c), k in self.contact_keys.items() if w == workspace_id]

    async def load_contact_keys(
        self, workspace_id: uuid.UUID, contact_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, WrappedKey | None]:
        found: dict[uuid.UUID, WrappedKey | None] = {}
        for contact_id in contact_ids:
            if (workspace_id, contact_id) in self.tombstones:
                found[contact_id] = None
            elif (workspace_id, contact_id) in self.contact_keys:
                found[contact_id] = self.contact_keys[(workspace_id, contact_id)]
        return found

    async def add_contact_keys(
        self, workspace_id: uuid.UUID, keys: dict[uuid.UUID, WrappedKey]
    ) -> dict[uuid.UUID, WrappedKey]:
        return {cid: await self.add_contact_key(workspace_id, cid, key) for cid, key in keys.items()}

    async def destroy_contact_key(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> None:
        self.contact_keys.pop((workspace_id, contact_id), None)
        self.tombstones.add((workspace_id, contact_id))


def contact_key_id(contact_id: uuid.UUID) -> str:
    return "c" + contact_id.hex


def contact_id_from_key_id(key_id: str) -> uuid.UUID | None:
    """The contact a `c...` key id belongs to, or None for other kinds of key id."""
    if not key_id.startswith("c") or len(key_id) != 33:
        return None
    try:
        return uuid.UUID(hex=key_id[1:])
    except ValueError:
        return None


def _generation(key_id: str) -> int:
    if not (key_id.startswith("w") and key_id[1:].isdigit()):
        raise ValueError(f"not a workspace key id: {key_id!r}")
    return int(key_id[1:])


@dataclass
class _Cached:
    key: bytes
    loaded_at: float


class KeyRing:
    """Unwrapped-key cache over a `KeyStore`, with the operations the storage layer needs.

    `master_keys` lists every configured master key, newest first: new workspace keys are wrapped under
    the first, older ones still unwrap, and `rewrap_workspace_keys` migrates them.
    """

    def __init__(
        self,
        store: KeyStore,
        master_keys: Sequence[MasterKey],
        *,
        cache_ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_cached_contacts: int = 100_000,
    ) -> None:
        if not master_keys:
            raise ValueError("at least one master key is required")
        self._store = store
        self._masters = {m.key_id: m.key for m in master_keys}
        self._current_master = master_keys[0]
        self._ttl = cache_ttl
        self._max_contacts = max_cached_contacts
        self._clock = clock
        self._workspace: dict[uuid.UUID, dict[str, bytes]] = {}
        self._workspace_loaded_at: dict[uuid.UUID, float] = {}
        self._contacts: dict[tuple[uuid.UUID, uuid.UUID], _Cached] = {}
        self._index_keys: dict[uuid.UUID, tuple[bytes, bytes]] = {}

    # -- workspace keys --

    def _resolve_master(self, key_id: str) -> bytes:
        try:
            return self._masters[key_id]
        except KeyError:
            raise UnknownKey(f"master key {key_id!r} is not configured") from None

    def _fresh(self, loaded_at: float) -> bool:
        return self._clock() - loaded_at < self._ttl

    async def _workspace_keys(self, workspace_id: uuid.UUID, *, create: bool) -> dict[str, bytes]:
        cached = self._workspace.get(workspace_id)
        if cached and self._fresh(self._workspace_loaded_at[workspace_id]):
            return cached
        stored = await self._store.load_workspace_keys(workspace_id)
        if not stored and create:
            stored = [await self._add_workspace_key(workspace_id, INDEX_ROOT_KEY_ID)]
        keys = {
            w.key_id: crypto.unwrap_key(
                self._resolve_master, w.wrapped, crypto.workspace_key_aad(workspace_id, w.key_id)
            )
            for w in stored
        }
        if keys:
            self._workspace[workspace_id] = keys
            self._workspace_loaded_at[workspace_id] = self._clock()
        return keys

    async def _add_workspace_key(self, workspace_id: uuid.UUID, key_id: str) -> WrappedKey:
        master = self._current_master
        wrapped = crypto.wrap_key(
            master.key, master.key_id, crypto.generate_key(), crypto.workspace_key_aad(workspace_id, key_id)
        )
        return await self._store.add_workspace_key(workspace_id, WrappedKey(key_id, wrapped))

    async def current_workspace_key(self, workspace_id: uuid.UUID) -> tuple[str, bytes]:
        """(key id, key) that new workspace-level writes use; creates the workspace's first key."""
        keys = await self._workspace_keys(workspace_id, create=True)
        key_id = max(keys, key=_generation)
        return key_id, keys[key_id]

    async def workspace_key(self, workspace_id: uuid.UUID, key_id: str) -> bytes:
        keys = await self._workspace_keys(workspace_id, create=False)
        if key_id not in keys:
            # Maybe another process rotated since we cached: reload once before giving up.
            self._workspace.pop(workspace_id, None)
            keys = await self._workspace_keys(workspace_id, create=False)
        if key_id not in keys:
            raise UnknownKey(f"workspace key {key_id!r} not found")
        return keys[key_id]

    async def rotate_workspace_key(self, workspace_id: uuid.UUID) -> str:
        """Add the next key generation and make it current; every older generation still unwraps."""
        keys = await self._workspace_keys(workspace_id, create=True)
        next_id = f"w{max(map(_generation, keys)) + 1}"
        await self._add_workspace_key(workspace_id, next_id)
        self._workspace.pop(workspace_id, None)
        return next_id

    async def rewrap_workspace_keys(self, workspace_id: uuid.UUID) -> int:
        """Re-wrap every workspace key still under an older master key; returns how many changed."""
        master = self._current_master
        changed = 0
        for stored in await self._store.load_workspace_keys(workspace_id):
            if not crypto.needs_reencrypt(stored.wrapped, master.key_id):
                continue
            aad = crypto.workspace_key_aad(workspace_id, stored.key_id)
            wrapped = crypto.reencrypt(self._resolve_master, stored.wrapped, aad, master.key, master.key_id)
            await self._store.replace_workspace_key(workspace_id, WrappedKey(stored.key_id, wrapped))
            changed += 1
        return changed

    async def index_key(self, workspace_id: uuid.UUID, *, create: bool = True) -> bytes:
        """The workspace's blind-index key. Derived from the first generation, which is never retired,
        so rotating the encryption key does not invalidate every stored index digest. With
        `create=False` (read paths) a workspace without keys raises `UnknownKey`."""
        cached = self.cached_index_key(workspace_id)
        if cached is not None:
            return cached
        await self._workspace_keys(workspace_id, create=create)
        root = await self.workspace_key(workspace_id, INDEX_ROOT_KEY_ID)
        return derive_index_key(root, workspace_id)

    def cached_index_key(self, workspace_id: uuid.UUID) -> bytes | None:
        """The index key if this process holds the workspace's keys fresh, without touching the store
        (the hot paths ask for it on every batch)."""
        keys = self._workspace.get(workspace_id)
        if (
            not keys
            or INDEX_ROOT_KEY_ID not in keys
            or not self._fresh(self._workspace_loaded_at[workspace_id])
        ):
            return None
        root = keys[INDEX_ROOT_KEY_ID]
        derived = self._index_keys.get(workspace_id)
        if derived is None or derived[0] is not root:
            derived = (root, derive_index_key(root, workspace_id))
            self._index_keys[workspace_id] = derived
        return derived[1]

    # -- contact keys --

    async def contact_key(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, *, create: bool = True
    ) -> bytes:
        """The contact's data key, created (wrapped under the current workspace key) on first use.
        Raises `KeyDestroyed` once the contact was shredded, `UnknownKey` if absent and not `create`."""
        cached = self._contacts.get((workspace_id, contact_id))
        if cached and self._fresh(cached.loaded_at):
            return cached.key
        stored = await self._store.load_contact_key(workspace_id, contact_id)
        if stored is None:
            if not create:
                raise UnknownKey(f"contact {contact_id} has no data key")
            ws_key_id, ws_key = await self.current_workspace_key(workspace_id)
            kid = contact_key_id(contact_id)
            wrapped = crypto.wrap_key(
                ws_key,
                ws_key_id,
                crypto.generate_key(),
                crypto.contact_key_aad(workspace_id, contact_id, kid),
            )
            stored = await self._store.add_contact_key(workspace_id, contact_id, WrappedKey(kid, wrapped))
        key = await self._unwrap_contact(workspace_id, contact_id, stored)
        self._cache_contact(workspace_id, contact_id, key)
        return key

    async def contact_keys(
        self, workspace_id: uuid.UUID, contact_ids: Sequence[uuid.UUID], *, new: bool = False
    ) -> dict[uuid.UUID, bytes]:
        """`contact_key` for many contacts with one store query for the uncached ones and one insert for
        those that have no key yet. With `new`, the contacts were just created (fresh ids): no lookup.
        Raises `KeyDestroyed` if any of them was shredded."""
        keys: dict[uuid.UUID, bytes] = {}
        missing = []
        for contact_id in dict.fromkeys(contact_ids):
            cached = None if new else self._contacts.get((workspace_id, contact_id))
            if cached and self._fresh(cached.loaded_at):
                keys[contact_id] = cached.key
            else:
                missing.append(contact_id)
        if not missing:
            return keys
        stored = {} if new else await self._store.load_contact_keys(workspace_id, missing)
        for contact_id, wrapped in stored.items():
            if wrapped is None:
                raise KeyDestroyed(f"contact key of {contact_id} was destroyed")
        absent = [cid for cid in missing if cid not in stored]
        if absent:
            ws_key_id, ws_key = await self.current_workspace_key(workspace_id)
            fresh = {
                cid: WrappedKey(
                    contact_key_id(cid),
                    crypto.wrap_key(
                        ws_key,
                        ws_key_id,
                        crypto.generate_key(),
                        crypto.contact_key_aad(workspace_id, cid, contact_key_id(cid)),
                    ),
                )
                for cid in absent
            }
            stored = {**stored, **await self._store.add_contact_keys(workspace_id, fresh)}
        for contact_id in missing:
            wrapped = stored[contact_id]
            assert wrapped is not None
            key = await self._unwrap_contact(workspace_id, contact_id, wrapped)
            self._cache_contact(workspace_id, contact_id, key)
            keys[contact_id] = key
        return keys

    async def _unwrap_contact(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, stored: WrappedKey
    ) -> bytes:
        kek_id = crypto.key_id_of(stored.wrapped)
        kek = await self.workspace_key(workspace_id, kek_id)
        return crypto.unwrap_key(
            lambda _kid: kek, stored.wrapped, crypto.contact_key_aad(workspace_id, contact_id, stored.key_id)
        )

    async def destroy_contact_key(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> None:
        """Crypto-shred: delete the wrapped key (tombstoned) and drop our cached copy."""
        await self._store.destroy_contact_key(workspace_id, contact_id)
        self.forget_contact(workspace_id, contact_id)

    def _cache_contact(self, workspace_id: uuid.UUID, contact_id: uuid.UUID, key: bytes) -> None:
        """Bounded: past `max_cached_contacts` the oldest entry goes (dicts keep insertion order), so a
        process that reads every contact once does not keep every key in memory."""
        self._contacts.pop((workspace_id, contact_id), None)
        while len(self._contacts) >= self._max_contacts:
            self._contacts.pop(next(iter(self._contacts)))
        self._contacts[(workspace_id, contact_id)] = _Cached(key, self._clock())

    def cached_contact_key(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> bytes | None:
        """The contact's key if this process holds a fresh copy, without touching the store."""
        cached = self._contacts.get((workspace_id, contact_id))
        return cached.key if cached and self._fresh(cached.loaded_at) else None

    async def install_contact_key(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, stored: WrappedKey
    ) -> bytes:
        """Unwrap and cache a contact key the caller loaded itself (batch loads for a page of rows)."""
        key = await self._unwrap_contact(workspace_id, contact_id, stored)
        self._cache_contact(workspace_id, contact_id, key)
        return key

    def forget_workspace(self, workspace_id: uuid.UUID) -> None:
        """Drop cached workspace keys (after a rotation elsewhere, or a rolled-back key insert)."""
        self._workspace.pop(workspace_id, None)
        self._workspace_loaded_at.pop(workspace_id, None)

    @property
    def current_master(self) -> MasterKey:
        return self._current_master

    def master_key(self, key_id: str) -> bytes:
        """A configured master key by id (raises `UnknownKey`), for secrets sealed under master subkeys."""
        return self._resolve_master(key_id)

    def forget_contact(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> None:
        """Evict a cached contact key (e.g. on an invalidation message from the process that shredded)."""
        self._contacts.pop((workspace_id, contact_id), None)

    async def rewrap_contact_keys(self, workspace_id: uuid.UUID) -> int:
        """Re-wrap contact keys still under an older workspace key generation; returns how many changed."""
        ws_key_id, ws_key = await self.current_workspace_key(workspace_id)
        changed = 0
        for contact_id, stored in await self._store.list_contact_keys(workspace_id):
            if not crypto.needs_reencrypt(stored.wrapped, ws_key_id):
                continue
            key = await self._unwrap_contact(workspace_id, contact_id, stored)
            aad = crypto.contact_key_aad(workspace_id, contact_id, stored.key_id)
            rewrapped = WrappedKey(stored.key_id, crypto.wrap_key(ws_key, ws_key_id, key, aad))
            await self._store.replace_contact_key(workspace_id, contact_id, rewrapped)
            changed += 1
        return changed

    async def rewrap_contact_key(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, stored: WrappedKey
    ) -> bool:
        """Re-wrap one contact key under the current workspace generation; False if it already was.
        The rotation job calls this batch by batch so it can resume from a cursor."""
        ws_key_id, ws_key = await self.current_workspace_key(workspace_id)
        if not crypto.needs_reencrypt(stored.wrapped, ws_key_id):
            return False
        key = await self._unwrap_contact(workspace_id, contact_id, stored)
        aad = crypto.contact_key_aad(workspace_id, contact_id, stored.key_id)
        rewrapped = WrappedKey(stored.key_id, crypto.wrap_key(ws_key, ws_key_id, key, aad))
        await self._store.replace_contact_key(workspace_id, contact_id, rewrapped)
        return True

    # -- sealing helpers for the storage layer --

    async def seal_for_contact(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, plaintext: bytes, aad: bytes
    ) -> bytes:
        """Seal personal data under the contact's key, so erasing the contact shreds it everywhere."""
        key = await self.contact_key(workspace_id, contact_id)
        return crypto.seal(key, contact_key_id(contact_id), plaintext, aad)

    async def seal_for_workspace(self, workspace_id: uuid.UUID, plaintext: bytes, aad: bytes) -> bytes:
        """Seal workspace-level secrets (channel credentials, raw webhook bodies) under the current key."""
        key_id, key = await self.current_workspace_key(workspace_id)
        return crypto.seal(key, key_id, plaintext, aad)

    async def open(self, workspace_id: uuid.UUID, blob: bytes, aad: bytes) -> bytes:
        """Open any blob of the workspace, whichever key (contact or workspace generation) sealed it."""
        key_id = crypto.key_id_of(blob)
        contact_id = contact_id_from_key_id(key_id)
        if contact_id is not None:
            key = await self.contact_key(workspace_id, contact_id, create=False)
        else:
            key = await self.workspace_key(workspace_id, key_id)
        return crypto.open_sealed(lambda _kid: key, blob, aad)

    async def needs_reencrypt(self, workspace_id: uuid.UUID, blob: bytes) -> bool:
        """For the rotation job: workspace-sealed blobs not under the current generation need re-sealing.
        Contact-sealed blobs follow their contact key, which workspace rotation re-wraps instead."""
        key_id = crypto.key_id_of(blob)
        if contact_id_from_key_id(key_id) is not None:
            return False
        current_id, _ = await self.current_workspace_key(workspace_id)
        return crypto.needs_reencrypt(blob, current_id)
