"""Personal API tokens: `rd_` + 32 random bytes, stored as SHA-256 (a fast hash is right for random keys)."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "rd_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
