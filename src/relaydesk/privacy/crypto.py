"""AES-256-GCM envelope encryption: master key -> workspace keys -> contact data keys -> field values.

Every ciphertext ("sealed blob") names the key that sealed it in a cleartext prefix, so several key
generations can be live at once and rotation is a background re-encrypt rather than a stop-the-world
migration. The prefix is also authenticated: it is part of the GCM associated data, so relabelling a blob
with another key id fails like any other tampering. The caller's associated data (see `aad_for`) binds a
ciphertext to its workspace, table, column and row, so a value copied into another row does not decrypt.

Wrapped keys are sealed blobs too (a 32-byte key sealed under its parent), with associated data naming
their owner, so a wrapped contact key moved to another contact or workspace does not unwrap.

Blob layout, version 1 (docs/encryption.md):

    0x01 | len(key_id) : u8 | key_id : ASCII | nonce : 12 bytes | ciphertext | tag : 16 bytes
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MASTER_KEY_PREFIX = "rdmk_"

_KEY_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,255}$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class CryptoError(Exception):
    """Base of every error this module raises, so callers can catch one type at a boundary."""


class InvalidMasterKey(CryptoError, ValueError):
    """The configured master key text is not a valid `rdmk_` key; the message says what is wrong."""


class DecryptionError(CryptoError):
    """The blob is malformed, was tampered with, was moved to another row, or the key is wrong."""


class UnknownKey(CryptoError):
    """No key with this id is available to the resolver (never existed, or not loaded)."""


class KeyDestroyed(UnknownKey):
    """The key was deliberately destroyed (crypto-shredding): the data it protected is gone for good."""


# --- keys --------------------------------------------------------------------------------------------


def generate_key() -> bytes:
    """A fresh random 256-bit key from the OS CSPRNG."""
    return os.urandom(KEY_BYTES)


@dataclass(frozen=True, repr=False)
class MasterKey:
    """A parsed master key. `key_id` is a fingerprint, so wrapped workspace keys say which master key
    wrapped them and the master key itself can be rotated by configuring old and new side by side."""

    key_id: str
    key: bytes

    def __repr__(self) -> str:  # never leak key bytes into logs or tracebacks
        return f"MasterKey(key_id={self.key_id!r})"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _master_key_id(key: bytes) -> str:
    # A one-way fingerprint (domain-separated) so the id reveals nothing usable about the key.
    return "m" + hashlib.sha256(b"relaydesk/v1/master-key-id\x00" + key).hexdigest()[:12]


def generate_master_key() -> str:
    """A new master key in its configuration text form, `rdmk_<base64url of 32 random bytes>`."""
    return MASTER_KEY_PREFIX + _b64url(generate_key())


def parse_master_key(text: str) -> MasterKey:
    """Validate configuration text and return the key; errors say what is wrong but never echo the key."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidMasterKey("master key is empty; see docs/encryption.md for generating one (rdmk_...)")
    text = text.strip()
    if not text.startswith(MASTER_KEY_PREFIX):
        raise InvalidMasterKey("master key must start with 'rdmk_' followed by 43 base64url characters")
    body = text[len(MASTER_KEY_PREFIX) :]
    if not re.fullmatch(r"[A-Za-z0-9_-]+", body):
        raise InvalidMasterKey(
            "master key contains characters outside the base64url alphabet (A-Z a-z 0-9 - _)"
        )
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidMasterKey("master key is not valid base64url") from exc
    if len(raw) != KEY_BYTES:
        raise InvalidMasterKey(f"master key must encode exactly {KEY_BYTES} bytes, got {len(raw)}")
    if _b64url(raw) != body:
        # Non-canonical trailing bits: refuse, so one key has exactly one spelling (and one fingerprint).
        raise InvalidMasterKey("master key is not in canonical base64url form (was it edited by hand?)")
    return MasterKey(key_id=_master_key_id(raw), key=raw)


def derive_subkey(key: bytes, purpose: str, context: bytes = b"") -> bytes:
    """HKDF-SHA256 a purpose-specific 32-byte key, so one secret never serves two algorithms (e.g. the
    blind-index key, or a throttle pepper derived from the master key)."""
    if not purpose:
        raise ValueError("purpose must be non-empty")
    info = b"relaydesk/v1/" + purpose.encode("utf-8") + b"\x00" + context
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(key)


# --- associated data ---------------------------------------------------------------------------------


def _id_text(value: uuid.UUID | str) -> str:
    """One spelling per id: a UUID given as object, hex or upper case yields the same AAD."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not value:
        raise ValueError("ids must be UUIDs or non-empty strings")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


def _encode_fields(*fields: str) -> bytes:
    # Length-prefixed, so ("a|b", "c") and ("a", "b|c") can never produce the same bytes.
    out = bytearray()
    for text in fields:
        data = text.encode("utf-8")
        if len(data) > 0xFFFF:
            raise ValueError("associated-data field too long")
        out += len(data).to_bytes(2, "big") + data
    return bytes(out)


def aad_for(workspace_id: uuid.UUID | str, table: str, column: str, row_id: uuid.UUID | str) -> bytes:
    """Canonical associated data for an encrypted column value: the value only opens in that exact cell."""
    if not _NAME_RE.match(table) or not _NAME_RE.match(column):
        raise ValueError("table and column must be lower-case SQL identifiers")
    return _encode_fields("relaydesk/v1/field", _id_text(workspace_id), table, column, _id_text(row_id))


def workspace_key_aad(workspace_id: uuid.UUID | str, key_id: str) -> bytes:
    """Associated data for a wrapped workspace key: it unwraps only as that key of that workspace."""
    return _encode_fields("relaydesk/v1/workspace-key", _id_text(workspace_id), key_id)


def contact_key_aad(workspace_id: uuid.UUID | str, contact_id: uuid.UUID | str, key_id: str) -> bytes:
    """Associated data for a wrapped contact key: it unwraps only for that contact in that workspace."""
    return _encode_fields("relaydesk/v1/contact-key", _id_text(workspace_id), _id_text(contact_id), key_id)


# --- sealing -----------------------------------------------------------------------------------------


def _header(key_id: str) -> bytes:
    if not _KEY_ID_RE.match(key_id):
        raise ValueError("key id must be 1-255 characters of [A-Za-z0-9._:-]")
    raw = key_id.encode("ascii")
    return bytes([FORMAT_VERSION, len(raw)]) + raw


def _split(blob: bytes) -> tuple[bytes, str, bytes, bytes]:
    """(header, key_id, nonce, ciphertext+tag), or DecryptionError for anything not a v1 blob."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionError("sealed value must be bytes")
    blob = bytes(blob)
    if len(blob) < 2 or blob[0] != FORMAT_VERSION:
        raise DecryptionError("not a sealed value of a known format version")
    n = blob[1]
    end = 2 + n
    if n == 0 or len(blob) < end + NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("sealed value is truncated")
    try:
        key_id = blob[2:end].decode("ascii")
    except UnicodeDecodeError as exc:
        raise DecryptionError("sealed value has a malformed key id") from exc
    if not _KEY_ID_RE.match(key_id):
        raise DecryptionError("sealed value has a malformed key id")
    return blob[:end], key_id, blob[end : end + NONCE_BYTES], blob[end + NONCE_BYTES :]


def key_id_of(blob: bytes) -> str:
    """The id of the key that sealed `blob`, read without decrypting (a hint until `open_sealed` succeeds)."""
    return _split(blob)[1]


def seal(key: bytes, key_id: str, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt under `key` with a fresh random 96-bit nonce. Random nonces are safe for ~2**32 seals per
    key; per-contact keys keep every key far below that."""
    if len(key) != KEY_BYTES:
        raise ValueError("AES-256-GCM needs a 32-byte key")
    header = _header(key_id)
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + AESGCM(key).encrypt(nonce, bytes(plaintext), header + aad)


def open_sealed(resolve: Callable[[str], bytes], blob: bytes, aad: bytes) -> bytes:
    """Decrypt a sealed blob, asking `resolve` for the key named in its prefix.

    `resolve` raises `UnknownKey`/`KeyDestroyed` for keys it cannot give; those propagate unchanged so the
    caller can tell "this data was erased" from "this data was tampered with" (`DecryptionError`).
    """
    header, key_id, nonce, body = _split(blob)
    key = resolve(key_id)
    if len(key) != KEY_BYTES:
        raise DecryptionError(f"resolver returned a key of the wrong size for {key_id!r}")
    try:
        return AESGCM(key).decrypt(nonce, body, header + aad)
    except InvalidTag as exc:
        raise DecryptionError(
            "authentication failed: wrong key, tampered value, or value moved to another row"
        ) from exc


def needs_reencrypt(blob: bytes, current_key_id: str) -> bool:
    """Whether a background rotation job should re-seal this blob under the current key/format."""
    return blob[:1] != bytes([FORMAT_VERSION]) or key_id_of(blob) != current_key_id


def reencrypt(
    resolve: Callable[[str], bytes], blob: bytes, aad: bytes, new_key: bytes, new_key_id: str
) -> bytes:
    """Open with whatever old key sealed `blob` and seal again under the new one (same AAD)."""
    return seal(new_key, new_key_id, open_sealed(resolve, blob, aad), aad)


# --- key wrapping ------------------------------------------------------------------------------------


def wrap_key(kek: bytes, kek_id: str, key: bytes, aad: bytes) -> bytes:
    """Wrap a data or workspace key under its parent. AES-GCM rather than AES-KW so the owner can be bound
    as associated data and the wrapped form shares the blob format (and its key-id prefix)."""
    if len(key) != KEY_BYTES:
        raise ValueError("only 32-byte keys are wrapped")
    return seal(kek, kek_id, key, aad)


def unwrap_key(resolve: Callable[[str], bytes], wrapped: bytes, aad: bytes) -> bytes:
    """Unwrap a key; a wrapped key moved to another owner fails with `DecryptionError`."""
    key = open_sealed(resolve, wrapped, aad)
    if len(key) != KEY_BYTES:
        raise DecryptionError("wrapped value is not a 32-byte key")
    return key


def resolver_for(keys: dict[str, bytes]) -> Callable[[str], bytes]:
    """A resolver over a fixed mapping of key id -> key, for tests and simple callers."""

    def resolve(key_id: str) -> bytes:
        try:
            return keys[key_id]
        except KeyError:
            raise UnknownKey(f"no key {key_id!r} available") from None

    return resolve
