"""Sealed-blob format, AAD binding, key wrapping and master-key parsing."""

from __future__ import annotations

import base64
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from relaydesk.privacy import crypto
from relaydesk.privacy.crypto import (
    DecryptionError,
    InvalidMasterKey,
    UnknownKey,
    aad_for,
    generate_key,
    key_id_of,
    open_sealed,
    resolver_for,
    seal,
)

WS = uuid.UUID("0190b5a0-0000-7000-8000-000000000001")
ROW = uuid.UUID("0190b5a0-0000-7000-8000-0000000000aa")
OTHER_ROW = uuid.UUID("0190b5a0-0000-7000-8000-0000000000bb")


@pytest.fixture
def key() -> bytes:
    return generate_key()


def test_round_trip_and_key_id_prefix(key: bytes) -> None:
    aad = aad_for(WS, "messages", "content", ROW)
    blob = seal(key, "c0123abc", "Grüße, order #42".encode(), aad)
    assert key_id_of(blob) == "c0123abc"
    assert blob[0] == crypto.FORMAT_VERSION
    assert open_sealed(resolver_for({"c0123abc": key}), blob, aad).decode() == "Grüße, order #42"


def test_layout_is_version_keyid_nonce_ciphertext_tag(key: bytes) -> None:
    """Decrypt by hand from the documented layout, so the format is pinned independently of the code."""
    aad = aad_for(WS, "messages", "content", ROW)
    plaintext = b"hello"
    blob = seal(key, "w1", plaintext, aad)
    n = blob[1]
    header = blob[: 2 + n]
    nonce = blob[2 + n : 2 + n + 12]
    body = blob[2 + n + 12 :]
    assert header == b"\x01\x02w1"
    assert len(body) == len(plaintext) + 16
    assert AESGCM(key).decrypt(nonce, body, header + aad) == plaintext


def test_each_seal_uses_a_fresh_nonce(key: bytes) -> None:
    aad = aad_for(WS, "messages", "content", ROW)
    a, b = seal(key, "w1", b"same", aad), seal(key, "w1", b"same", aad)
    assert a != b
    assert a[4:16] != b[4:16]


@pytest.mark.parametrize("position", [0, 1, 3, 10, -1, -17])
def test_flipped_byte_fails(key: bytes, position: int) -> None:
    aad = aad_for(WS, "messages", "content", ROW)
    blob = bytearray(seal(key, "w1", b"secret text", aad))
    blob[position] ^= 0x01
    with pytest.raises((DecryptionError, UnknownKey)):
        open_sealed(resolver_for({"w1": key, "w0": key}), bytes(blob), aad)


def test_relabelled_key_id_fails_even_if_it_resolves_to_the_same_key(key: bytes) -> None:
    aad = aad_for(WS, "messages", "content", ROW)
    blob = seal(key, "w1", b"secret", aad)
    relabelled = blob[:2] + b"w2" + blob[4:]
    assert key_id_of(relabelled) == "w2"
    with pytest.raises(DecryptionError):
        open_sealed(resolver_for({"w1": key, "w2": key}), relabelled, aad)


def test_ciphertext_moved_to_another_row_or_column_or_workspace_fails(key: bytes) -> None:
    blob = seal(key, "w1", b"alice@example.com", aad_for(WS, "contacts", "email", ROW))
    resolve = resolver_for({"w1": key})
    for wrong in (
        aad_for(WS, "contacts", "email", OTHER_ROW),
        aad_for(WS, "contacts", "phone", ROW),
        aad_for(WS, "messages", "email", ROW),
        aad_for(uuid.uuid4(), "contacts", "email", ROW),
    ):
        with pytest.raises(DecryptionError):
            open_sealed(resolve, blob, wrong)


def test_wrong_key_fails(key: bytes) -> None:
    aad = aad_for(WS, "messages", "content", ROW)
    blob = seal(key, "w1", b"x", aad)
    with pytest.raises(DecryptionError):
        open_sealed(resolver_for({"w1": generate_key()}), blob, aad)


def test_unknown_key_id_raises_unknown_key(key: bytes) -> None:
    aad = aad_for(WS, "messages", "content", ROW)
    with pytest.raises(UnknownKey):
        open_sealed(resolver_for({}), seal(key, "w9", b"x", aad), aad)


@pytest.mark.parametrize(
    "blob", [b"", b"\x01", b"\x02\x02w1" + bytes(40), b"\x01\x00" + bytes(40), b"\x01\x02w1short"]
)
def test_malformed_blobs_raise_decryption_error(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        key_id_of(blob)


def test_aad_is_canonical_and_unambiguous() -> None:
    assert aad_for(WS, "messages", "content", ROW) == aad_for(str(WS), "messages", "content", ROW.hex)
    assert aad_for(WS, "messages", "content", ROW) == aad_for(
        str(WS).upper(), "messages", "content", str(ROW)
    )
    assert aad_for(WS, "ab", "c", ROW) != aad_for(WS, "a", "bc", ROW)
    with pytest.raises(ValueError):
        aad_for(WS, "Messages; drop", "content", ROW)


def test_needs_reencrypt_and_reencrypt(key: bytes) -> None:
    aad = aad_for(WS, "inboxes", "credentials", ROW)
    new_key = generate_key()
    old = seal(key, "w1", b"token", aad)
    assert crypto.needs_reencrypt(old, "w2")
    assert not crypto.needs_reencrypt(old, "w1")
    resolve = resolver_for({"w1": key, "w2": new_key})
    new = crypto.reencrypt(resolve, old, aad, new_key, "w2")
    assert key_id_of(new) == "w2" and not crypto.needs_reencrypt(new, "w2")
    assert open_sealed(resolve, new, aad) == b"token"


def test_wrapped_key_moved_to_another_owner_fails(key: bytes) -> None:
    contact_a, contact_b = uuid.uuid4(), uuid.uuid4()
    data_key = generate_key()
    wrapped = crypto.wrap_key(key, "w1", data_key, crypto.contact_key_aad(WS, contact_a, "ca"))
    resolve = resolver_for({"w1": key})
    assert crypto.unwrap_key(resolve, wrapped, crypto.contact_key_aad(WS, contact_a, "ca")) == data_key
    with pytest.raises(DecryptionError):
        crypto.unwrap_key(resolve, wrapped, crypto.contact_key_aad(WS, contact_b, "ca"))
    with pytest.raises(DecryptionError):
        crypto.unwrap_key(resolve, wrapped, crypto.workspace_key_aad(WS, "ca"))


def test_master_key_generate_and_parse() -> None:
    text = crypto.generate_master_key()
    assert text.startswith("rdmk_") and len(text) == 5 + 43
    parsed = crypto.parse_master_key(f"  {text}\n")
    assert parsed.key == base64.urlsafe_b64decode(text[5:] + "=")
    assert parsed.key_id.startswith("m") and parsed.key_id == crypto.parse_master_key(text).key_id
    assert parsed.key_id != crypto.parse_master_key(crypto.generate_master_key()).key_id
    assert text[5:] not in repr(parsed)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("rdxx_" + "A" * 43, "start with"),
        ("rdmk_" + "A" * 42 + "!", "alphabet"),
        ("rdmk_" + "A" * 40, "32 bytes"),
        ("rdmk_" + "A" * 42 + "B", "canonical"),
    ],
)
def test_master_key_errors_are_clear(text: str, fragment: str) -> None:
    with pytest.raises(InvalidMasterKey, match=fragment) as info:
        crypto.parse_master_key(text)
    if len(text) > 10:
        assert text[5:] not in str(info.value)


def test_derive_subkey_separates_purposes(key: bytes) -> None:
    assert crypto.derive_subkey(key, "a") != crypto.derive_subkey(key, "b")
    assert crypto.derive_subkey(key, "a", b"x") != crypto.derive_subkey(key, "a", b"y")
    assert len(crypto.derive_subkey(key, "a")) == 32
