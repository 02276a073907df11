"""Password hashing with argon2id.

argon2-cffi's defaults (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4) are above the OWASP minimum,
and `check_needs_rehash` lets us upgrade old hashes transparently at login.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

# A hash of a random password, verified against when the account does not exist, so that unknown and
# known users cost the same time (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("relaydesk-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Check a password; return (ok, new_hash) where new_hash is set when the stored one must be upgraded."""
    if not stored_hash:
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        return False, None
    try:
        _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if _hasher.check_needs_rehash(stored_hash):
        return True, _hasher.hash(password)
    return True, None
