"""Normalise text into words and turn each into a keyed, truncated digest.

Normalisation (NFKC, case folding, accents stripped) makes "Café" match "cafe". Digests are truncated
to 12 bytes: collisions stay negligible per workspace while the index stays small.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)
DIGEST_BYTES = 12
MAX_TOKEN_CHARS = 64


def normalise_words(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    stripped = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return {w[:MAX_TOKEN_CHARS] for w in _WORD.findall(stripped)}


def digest_tokens(key: bytes, text: str) -> set[bytes]:
    return {hmac.new(key, w.encode(), hashlib.sha256).digest()[:DIGEST_BYTES] for w in normalise_words(text)}
