"""TOTP second factor (RFC 6238) and single-use recovery codes.

`verify` returns the time step a code matched so the caller stores it and refuses that step and every
earlier one afterwards (ASVS 6.5.1: one-time codes are single use), even within the ±1 step window.

Recovery codes are 80 random bits each, so they are hashed with plain SHA-256 rather than argon2id: a
slow hash protects low-entropy secrets from guessing, and 2**80 guesses are out of reach whatever the hash
costs. A deterministic hash also lets the database find and delete the used code in one statement
(`DELETE ... WHERE hash = ? RETURNING`), which makes "use once" atomic across concurrent logins, and
avoids spending 10 argon2 computations (and 640 MiB of memory) per attempt — an easy DoS lever.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime

import pyotp

INTERVAL = 30
DIGITS = 6
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended minimum
RECOVERY_CODE_COUNT = 10
# Crockford's base32: no I, L, O, U, so codes read aloud or copied by hand are unambiguous.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_RECOVERY_GROUPS = 4
_RECOVERY_GROUP_LEN = 4  # 16 symbols x 5 bits = 80 bits


def generate_secret() -> str:
    """A new shared secret, base32 (what authenticator apps expect), from the OS CSPRNG."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _check_secret(secret: str) -> None:
    try:
        raw = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("TOTP secret is not base32") from exc
    if len(raw) < SECRET_BYTES:
        raise ValueError("TOTP secret must hold at least 160 bits")


def provisioning_uri(secret: str, account_name: str, issuer: str = "Relaydesk") -> str:
    """The otpauth:// URI to show as a QR code when the user enrols."""
    _check_secret(secret)
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=account_name, issuer_name=issuer
    )


def time_step(now: datetime | float) -> int:
    timestamp = now.timestamp() if isinstance(now, datetime) else float(now)
    return int(timestamp // INTERVAL)


def code_at_step(secret: str, step: int) -> str:
    """The code for a given step (enrolment confirmation screens and tests use it)."""
    _check_secret(secret)
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).generate_otp(step)


def verify(
    secret: str, code: str, last_used_step: int | None, now: datetime | float, *, window: int = 1
) -> int | None:
    """The step `code` is valid for (within ±`window` steps of `now`), or None.

    Steps at or before `last_used_step` are never accepted, so a code cannot be replayed and an observed
    code cannot be used after a newer one. Every candidate is compared in constant time.
    """
    _check_secret(secret)
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    current = time_step(now)
    matched: int | None = None
    for step in range(current - window, current + window + 1):
        if step < 0:
            continue
        ok = hmac.compare_digest(totp.generate_otp(step), code)
        if ok and (last_used_step is None or step > last_used_step):
            matched = step  # keep the latest matching step, so skewed clocks cannot reopen older ones
    return matched


# --- recovery codes -------------------------------------------------------------------------------------


def generate_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Human-friendly codes like `7KQ2-M9XH-R4TD-0WZB`; show them once, store only `hash_recovery_code`.
    Generating a new set must replace (revoke) the old set."""
    group_len = _RECOVERY_GROUP_LEN
    return [
        "-".join(
            "".join(secrets.choice(_CROCKFORD) for _ in range(group_len)) for _ in range(_RECOVERY_GROUPS)
        )
        for _ in range(count)
    ]


def normalize_recovery_code(code: str) -> str:
    """Forgive case, spaces, hyphens and O/0, I/L/1 mix-ups: the user is typing this in a stressful moment."""
    return "".join(ch for ch in code.upper() if ch.isalnum()).translate(_CONFUSABLE)


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(b"relaydesk/recovery-code\x00" + normalize_recovery_code(code).encode()).hexdigest()


def consume_recovery_code(code: str, hashes: Sequence[str]) -> list[str] | None:
    """The remaining hashes with the matched one removed, or None if the code matches none.

    Compares against every hash without stopping early. The caller must persist the shorter list with a
    compare-and-swap (or delete the row by hash) so two concurrent uses cannot both succeed.
    """
    candidate = hash_recovery_code(code)
    matched: int | None = None
    for index, stored in enumerate(hashes):
        if hmac.compare_digest(candidate, stored) and matched is None:
            matched = index
    if matched is None:
        return None
    return [h for i, h in enumerate(hashes) if i != matched]
