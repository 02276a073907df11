"""Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature: v1,<base64>).

Used for every webhook Relaydesk sends, and verified the same way by `verify` so integrators' test
code and ours agree on one definition.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time


class SignatureError(Exception):
    """Missing, malformed, stale or wrong signature."""


def new_signing_secret() -> str:
    """A Standard-Webhooks style secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_bytes(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_") :])
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
        "content-type": "application/json",
    }


def verify(
    secret: str, headers: dict[str, str], body: bytes, *, tolerance: int = 300, now: float | None = None
) -> None:
    msg_id = headers.get("webhook-id")
    ts_text = headers.get("webhook-timestamp")
    sig_header = headers.get("webhook-signature")
    if not (msg_id and ts_text and sig_header):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        ts = int(ts_text)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise SignatureError("webhook-timestamp outside the allowed window")
    expected = sign(secret, msg_id, ts, body)
    for candidate in sig_header.split():
        if hmac.compare_digest(candidate, expected):
            return
    raise SignatureError("no matching signature")
