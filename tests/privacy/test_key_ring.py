"""KeyRing over the in-memory store: creation, rotation, master-key rotation and crypto-shredding."""

from __future__ import annotations

import copy
import uuid

import pytest

from relaydesk.privacy import crypto
from relaydesk.privacy.crypto import DecryptionError, KeyDestroyed, UnknownKey, aad_for, key_id_of
from relaydesk.privacy.keys import InMemoryKeyStore, KeyRing, WrappedKey, contact_key_id


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def master_text() -> str:
    return crypto.generate_master_key()


@pytest.fixture
def master(master_text: str) -> crypto.MasterKey:
    return crypto.parse_master_key(master_text)


@pytest.fixture
def store() -> InMemoryKeyStore:
    return InMemoryKeyStore()


@pytest.fixture
def ring(store: InMemoryKeyStore, master: crypto.MasterKey) -> KeyRing:
    return KeyRing(store, [master])


WS = uuid.UUID("0190b5a0-0000-7000-8000-000000000001")


def aad(row: uuid.UUID, column: str = "content") -> bytes:
    return aad_for(WS, "messages", column, row)


async def test_contact_round_trip_and_store_holds_only_wrapped_keys(
    ring: KeyRing, store: InMemoryKeyStore, master_text: str
) -> None:
    contact, row = uuid.uuid4(), uuid.uuid4()
    blob = await ring.seal_for_contact(WS, contact, b"my address is 1 Main St", aad(row))
    assert key_id_of(blob) == contact_key_id(contact)
    key = await ring.contact_key(WS, contact)
    stored = store.contact_keys[(WS, contact)]
    assert key not in stored.wrapped and len(stored.wrapped) > 32
    assert key_id_of(stored.wrapped) == "w1"

    # A new process configured with the same master-key text reads the data.
    fresh_ring = KeyRing(store, [crypto.parse_master_key(master_text)])
    assert await fresh_ring.open(WS, blob, aad(row)) == b"my address is 1 Main St"


async def test_concurrent_creation_agrees_on_one_key(
    store: InMemoryKeyStore, master: crypto.MasterKey
) -> None:
    a, b = KeyRing(store, [master]), KeyRing(store, [master])
    contact = uuid.uuid4()
    assert await a.contact_key(WS, contact) == await b.contact_key(WS, contact)
    assert (await a.current_workspace_key(WS)) == (await b.current_workspace_key(WS))


async def test_wrong_master_key_cannot_unwrap(store: InMemoryKeyStore, ring: KeyRing) -> None:
    contact, row = uuid.uuid4(), uuid.uuid4()
    blob = await ring.seal_for_contact(WS, contact, b"x", aad(row))
    other = KeyRing(store, [crypto.parse_master_key(crypto.generate_master_key())])
    with pytest.raises(UnknownKey):
        await other.open(WS, blob, aad(row))


async def test_master_key_with_same_id_but_wrong_bytes_fails(
    store: InMemoryKeyStore, ring: KeyRing, master: crypto.MasterKey
) -> None:
    blob = await ring.seal_for_workspace(WS, b"x", aad(uuid.uuid4()))
    impostor = crypto.MasterKey(key_id=master.key_id, key=crypto.generate_key())
    with pytest.raises(DecryptionError):
        await KeyRing(store, [impostor]).open(WS, blob, aad(uuid.uuid4()))


async def test_moved_ciphertext_fails_through_the_ring(ring: KeyRing) -> None:
    contact, row, other_row = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    blob = await ring.seal_for_contact(WS, contact, b"x", aad(row))
    with pytest.raises(DecryptionError):
        await ring.open(WS, blob, aad(other_row))


async def test_wrapped_contact_key_swapped_between_contacts_fails(
    ring: KeyRing, store: InMemoryKeyStore, master: crypto.MasterKey
) -> None:
    alice, bob, row = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    blob = await ring.seal_for_contact(WS, bob, b"bob's data", aad(row))
    await ring.contact_key(WS, alice)
    # An attacker with DB write access gives Bob's key row Alice's wrapped key.
    store.contact_keys[(WS, bob)] = WrappedKey(contact_key_id(bob), store.contact_keys[(WS, alice)].wrapped)
    with pytest.raises(DecryptionError):
        await KeyRing(store, [master]).open(WS, blob, aad(row))


async def test_workspace_rotation_old_data_opens_new_writes_use_new_id(
    ring: KeyRing, store: InMemoryKeyStore, master: crypto.MasterKey
) -> None:
    row = uuid.uuid4()
    early_contact, late_contact = uuid.uuid4(), uuid.uuid4()
    old_secret = await ring.seal_for_workspace(WS, b"old channel token", aad(row, "credentials"))
    old_personal = await ring.seal_for_contact(WS, early_contact, b"early", aad(row))
    assert key_id_of(old_secret) == "w1"

    assert await ring.rotate_workspace_key(WS) == "w2"
    new_secret = await ring.seal_for_workspace(WS, b"new channel token", aad(row, "credentials"))
    assert key_id_of(new_secret) == "w2"
    await ring.contact_key(WS, late_contact)
    assert key_id_of(store.contact_keys[(WS, late_contact)].wrapped) == "w2"
    assert key_id_of(store.contact_keys[(WS, early_contact)].wrapped) == "w1"

    assert await ring.open(WS, old_secret, aad(row, "credentials")) == b"old channel token"
    assert await ring.open(WS, old_personal, aad(row)) == b"early"
    assert await ring.needs_reencrypt(WS, old_secret)
    assert not await ring.needs_reencrypt(WS, new_secret)

    assert await ring.rewrap_contact_keys(WS) == 1
    assert key_id_of(store.contact_keys[(WS, early_contact)].wrapped) == "w2"
    assert await KeyRing(store, [master]).open(WS, old_personal, aad(row)) == b"early"


async def test_rotation_seen_by_another_process(store: InMemoryKeyStore, master: crypto.MasterKey) -> None:
    a, b = KeyRing(store, [master]), KeyRing(store, [master])
    await b.current_workspace_key(WS)  # b caches generation 1
    await a.rotate_workspace_key(WS)
    blob = await a.seal_for_workspace(WS, b"x", aad(uuid.UUID(int=1)))
    assert await b.open(WS, blob, aad(uuid.UUID(int=1))) == b"x"


async def test_master_key_rotation(store: InMemoryKeyStore, master: crypto.MasterKey) -> None:
    row = uuid.uuid4()
    blob = await KeyRing(store, [master]).seal_for_workspace(WS, b"x", aad(row))
    new_master = crypto.parse_master_key(crypto.generate_master_key())
    both = KeyRing(store, [new_master, master])
    assert await both.open(WS, blob, aad(row)) == b"x"
    assert await both.rewrap_workspace_keys(WS) == 1
    assert await both.rewrap_workspace_keys(WS) == 0
    assert await KeyRing(store, [new_master]).open(WS, blob, aad(row)) == b"x"
    with pytest.raises(UnknownKey):
        await KeyRing(store, [master]).open(WS, blob, aad(row))


async def test_index_key_survives_rotation_and_differs_per_workspace(ring: KeyRing) -> None:
    before = await ring.index_key(WS)
    await ring.rotate_workspace_key(WS)
    assert await ring.index_key(WS) == before
    assert await ring.index_key(uuid.uuid4()) != before
    _, enc_key = await ring.current_workspace_key(WS)
    assert before != enc_key


async def test_shredding(ring: KeyRing, store: InMemoryKeyStore, master: crypto.MasterKey) -> None:
    contact, survivor, row = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    blob = await ring.seal_for_contact(WS, contact, b"erase me", aad(row))
    kept = await ring.seal_for_contact(WS, survivor, b"keep me", aad(row, "other"))
    backup = copy.deepcopy(store)  # a copy of every table, wrapped keys included, taken before erasure
    assert await KeyRing(backup, [master]).open(WS, blob, aad(row)) == b"erase me"

    await ring.destroy_contact_key(WS, contact)
    assert (WS, contact) not in store.contact_keys
    with pytest.raises(KeyDestroyed):
        await ring.open(WS, blob, aad(row))  # cached copy dropped too
    with pytest.raises(KeyDestroyed):
        await KeyRing(store, [master]).open(WS, blob, aad(row))
    with pytest.raises(KeyDestroyed):
        await ring.seal_for_contact(WS, contact, b"new data for an erased contact", aad(row))
    assert await ring.open(WS, kept, aad(row, "other")) == b"keep me"

    # A restore that brings the old wrapped key back is refused while the tombstone (ledger) exists.
    store.contact_keys[(WS, contact)] = backup.contact_keys[(WS, contact)]
    with pytest.raises(KeyDestroyed):
        await KeyRing(store, [master]).open(WS, blob, aad(row))


async def test_other_process_cache_expires_after_ttl(
    store: InMemoryKeyStore, master: crypto.MasterKey
) -> None:
    clock = Clock()
    shredder = KeyRing(store, [master], clock=clock)
    reader = KeyRing(store, [master], clock=clock, cache_ttl=60)
    contact, row = uuid.uuid4(), uuid.uuid4()
    blob = await shredder.seal_for_contact(WS, contact, b"x", aad(row))
    assert await reader.open(WS, blob, aad(row)) == b"x"
    await shredder.destroy_contact_key(WS, contact)
    clock.now += 61
    with pytest.raises(KeyDestroyed):
        await reader.open(WS, blob, aad(row))


async def test_open_without_key_is_unknown_not_created(
    ring: KeyRing, store: InMemoryKeyStore, master: crypto.MasterKey
) -> None:
    other_ring = KeyRing(InMemoryKeyStore(), [master])
    blob = await other_ring.seal_for_contact(WS, uuid.uuid4(), b"x", aad(uuid.UUID(int=5)))
    await ring.current_workspace_key(WS)
    with pytest.raises(UnknownKey) as info:
        await ring.open(WS, blob, aad(uuid.UUID(int=5)))
    assert not isinstance(info.value, KeyDestroyed)
    assert store.contact_keys == {}


async def test_the_contact_key_cache_is_bounded(master):
    store = InMemoryKeyStore()
    ring = KeyRing(store, [master], max_cached_contacts=3)
    ws = uuid.uuid4()
    contacts = [uuid.uuid4() for _ in range(5)]
    keys = [await ring.contact_key(ws, c) for c in contacts]
    assert [ring.cached_contact_key(ws, c) for c in contacts] == [None, None, *keys[2:]]
    assert await ring.contact_key(ws, contacts[0]) == keys[0]  # evicted keys reload from the store
