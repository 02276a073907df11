"""Keyed blind indexes: look up and search encrypted values without storing them in clear.

A blind index is HMAC-SHA256(index_key, purpose || 0x00 || normalise(value)), truncated. The index key is
per workspace and derived with HKDF from the workspace key (never the encryption key itself), so the same
e-mail in two workspaces gives unrelated digests and a leaked index cannot be joined across tenants.
The purpose label keeps an e-mail digest from ever equalling a search-token digest of the same string.

What this leaks to someone with database access (equality, frequency, no substring search) is written
down in docs/encryption.md; read it before indexing a new column.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
import uuid

import phonenumbers

from relaydesk.privacy.crypto import derive_subkey

EXACT_DIGEST_BYTES = 16
TOKEN_DIGEST_BYTES = 10
MAX_TOKEN_CHARS = 64

# Letters and digits only: underscores and punctuation separate words, so "order_1234" finds "1234".
_WORD = re.compile(r"[^\W_]+")


def derive_index_key(workspace_key: bytes, workspace_id: uuid.UUID) -> bytes:
    """The workspace's index key; the workspace id in the HKDF info makes equal keys still differ."""
    return derive_subkey(workspace_key, "blind-index", workspace_id.bytes)


# --- normalisers ---------------------------------------------------------------------------------------


def normalize_email(value: str) -> str:
    """Trimmed and lower-cased, so `A@B.com ` and `a@b.com` index alike. Lower-casing the local part is
    technically lossy (RFC 5321) but no real mailbox provider treats case as significant."""
    text = unicodedata.normalize("NFC", value).strip().lower()
    local, sep, domain = text.rpartition("@")
    if not sep or not local or not domain or any(ch.isspace() for ch in text):
        raise ValueError("not an e-mail address")
    return text


def normalize_phone(value: str, default_region: str | None = None) -> str:
    """E.164 (`+442079460958`); national numbers need `default_region` (ISO 3166 alpha-2, e.g. "GB").

    Accepts any *possible* number rather than only *valid* ones: validity depends on the metadata version
    of `phonenumbers`, and an index must not change meaning when the library is upgraded.
    """
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(number):
        raise ValueError("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_exact(value: str) -> str:
    """Unicode NFC only: canonically equal strings match, everything else (case, spaces) is significant."""
    return unicodedata.normalize("NFC", value)


def normalize_words(text: str) -> list[str]:
    """Search words: NFKC, case-folded, accents stripped ("Café" -> "cafe", "Straße" -> "strasse").

    Scripts without spaces (Chinese, Japanese, Thai) come out as one token per run; see the docs.
    """
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    stripped = unicodedata.normalize("NFC", "".join(ch for ch in folded if not unicodedata.combining(ch)))
    return [w[:MAX_TOKEN_CHARS] for w in _WORD.findall(stripped)]


# --- the index -----------------------------------------------------------------------------------------


def blind_digest(index_key: bytes, purpose: str, normalised: str, length: int = EXACT_DIGEST_BYTES) -> bytes:
    """The primitive, exposed for test vectors: HMAC-SHA256(key, purpose || 0x00 || value)[:length]."""
    if not 8 <= length <= 32:
        raise ValueError("digest length must be 8-32 bytes")
    if not purpose or "\x00" in purpose:
        raise ValueError("purpose must be non-empty and contain no NUL")
    message = purpose.encode("utf-8") + b"\x00" + normalised.encode("utf-8")
    return hmac.new(index_key, message, hashlib.sha256).digest()[:length]


class BlindIndex:
    """Digests for one workspace. Exact digests default to 16 bytes (no practical collisions, so a lookup
    needs no post-filter); token digests to 10 bytes to keep the token table small."""

    def __init__(
        self,
        index_key: bytes,
        *,
        exact_bytes: int = EXACT_DIGEST_BYTES,
        token_bytes: int = TOKEN_DIGEST_BYTES,
    ) -> None:
        if len(index_key) < 32:
            raise ValueError("index key must be at least 32 bytes")
        self._key = index_key
        self._exact_bytes = exact_bytes
        self._token_bytes = token_bytes

    def email(self, value: str) -> bytes:
        return blind_digest(self._key, "email", normalize_email(value), self._exact_bytes)

    def phone(self, value: str, default_region: str | None = None) -> bytes:
        return blind_digest(self._key, "phone", normalize_phone(value, default_region), self._exact_bytes)

    def exact(self, purpose: str, value: str) -> bytes:
        """Any other exact-match field; `purpose` (e.g. "contact.external_id") separates the columns."""
        return blind_digest(self._key, "exact:" + purpose, normalize_exact(value), self._exact_bytes)

    def _token(self, word: str) -> bytes:
        return blind_digest(self._key, "token", word, self._token_bytes)

    def document_tokens(self, text: str) -> frozenset[bytes]:
        """The set of word digests to store for a document (each distinct word once: no positions, no
        counts, so the index reveals less about the document than a positional one would)."""
        return frozenset(self._token(w) for w in normalize_words(text))

    def query_tokens(self, text: str) -> frozenset[bytes]:
        """Digests a document must *all* hold to match the query (AND semantics); empty means no query."""
        return self.document_tokens(text)

    def matches(self, document: frozenset[bytes], query: frozenset[bytes]) -> bool:
        """Reference semantics for the SQL the storage layer runs (GROUP BY ... HAVING count = len(q))."""
        return bool(query) and query <= document
