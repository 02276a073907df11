"""TOTP with replay protection (fixed times) and single-use recovery codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest

from relaydesk.auth import totp

# RFC 6238 appendix B secret ("12345678901234567890", SHA-1) and its published 8-digit vectors.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
NOW = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)
STEP = int(NOW.timestamp()) // 30


def hotp(secret_b32: str, counter: int, digits: int = 6) -> str:
    """Independent RFC 4226 implementation, so the tests do not trust pyotp blindly."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def test_rfc6238_vectors_six_digit_truncation() -> None:
    # Published 8-digit values at T=59 and T=1111111109; 6-digit codes are their last six digits.
    assert totp.code_at_step(RFC_SECRET, 59 // 30) == "94287082"[-6:]
    assert totp.code_at_step(RFC_SECRET, 1111111109 // 30) == "07081804"[-6:]


def test_secret_has_160_bits_and_is_random() -> None:
    secret = totp.generate_secret()
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) >= 20
    assert secret != totp.generate_secret()
    with pytest.raises(ValueError):
        totp.verify("JBSWY3DPEHPK3PXP", "123456", None, NOW)  # 80-bit secret refused


def test_provisioning_uri() -> None:
    secret = totp.generate_secret()
    uri = urlparse(totp.provisioning_uri(secret, "agent@example.com"))
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    query = parse_qs(uri.query)
    assert query["secret"] == [secret] and query["issuer"] == ["Relaydesk"]
    assert "agent%40example.com" in uri.path or "agent@example.com" in uri.path


def test_accepts_current_and_adjacent_steps_only() -> None:
    secret = totp.generate_secret()
    for offset in (-1, 0, 1):
        assert totp.verify(secret, hotp(secret, STEP + offset), None, NOW) == STEP + offset
    for offset in (-3, -2, 2, 3):
        assert totp.verify(secret, hotp(secret, STEP + offset), None, NOW) is None
    assert totp.verify(secret, hotp(secret, STEP), None, NOW.timestamp()) == STEP


def test_replay_is_refused() -> None:
    secret = totp.generate_secret()
    code = hotp(secret, STEP)
    used = totp.verify(secret, code, None, NOW)
    assert used == STEP
    assert totp.verify(secret, code, used, NOW) is None  # same code again
    assert totp.verify(secret, code, used, NOW.timestamp() + 25) is None  # still in the window later
    assert totp.verify(secret, hotp(secret, STEP - 1), used, NOW) is None  # an older code
    assert totp.verify(secret, hotp(secret, STEP + 1), used, NOW) == STEP + 1  # the next one is fine


def test_malformed_codes() -> None:
    secret = totp.generate_secret()
    good = hotp(secret, STEP)
    assert totp.verify(secret, f" {good[:3]} {good[3:]} ", None, NOW) == STEP
    for bad in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦"):
        assert totp.verify(secret, bad, None, NOW) is None


def test_recovery_codes_format_and_uniqueness() -> None:
    codes = totp.generate_recovery_codes()
    assert len(codes) == 10 == len(set(codes))
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4, 4]
        assert not set(code.replace("-", "")) & set("ILOU")


def test_recovery_codes_are_single_use() -> None:
    codes = totp.generate_recovery_codes()
    hashes = [totp.hash_recovery_code(c) for c in codes]
    assert all(codes[0] not in h for h in hashes)
    remaining = totp.consume_recovery_code(codes[3], hashes)
    assert remaining is not None and len(remaining) == 9
    assert totp.hash_recovery_code(codes[3]) not in remaining
    assert totp.consume_recovery_code(codes[3], remaining) is None  # second use refused
    again = totp.consume_recovery_code(codes[4].lower().replace("-", " "), remaining)  # forgiving input
    assert again is not None and len(again) == 8
    assert totp.consume_recovery_code("AAAA-AAAA-AAAA-AAAA", again) is None


def test_recovery_code_confusables_map_to_the_same_hash() -> None:
    assert totp.hash_recovery_code("0O1I-L000-1111-ABCD") == totp.hash_recovery_code("0011-1000-1111-abcd")
