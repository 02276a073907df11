"""The pure parts of the widget's identity: tokens, proofs, origins."""

from __future__ import annotations

import pytest

from relaydesk.channels.widget import identity
from relaydesk.channels.widget.fake import identify_jwt
from relaydesk.channels.widget.identity import IdentityRefused, InvalidToken

SECRET = "s" * 64


def test_tokens_are_bound_signed_and_expire():
    token, visitor = identity.issue_token(
        SECRET, "inbox1", "anon:abc", "https://shop.example", persistent=True
    )
    assert identity.read_token(SECRET, "inbox1", token) == visitor
    with pytest.raises(InvalidToken, match="not valid"):
        identity.read_token("t" * 64, "inbox1", token)
    with pytest.raises(InvalidToken, match="another widget"):
        # The same secret on another inbox still refuses it (the inbox id is inside the signed part).
        identity.read_token(SECRET, "inbox2", token)
    prefix, payload, mac = token.split(".")
    with pytest.raises(InvalidToken):
        identity.read_token(SECRET, "inbox1", f"{prefix}.{payload[:-2]}AA.{mac}")
    with pytest.raises(InvalidToken, match="expired"):
        identity.read_token(SECRET, "inbox1", token, now=visitor.expires_at + 1)
    session, short = identity.issue_token(
        SECRET, "inbox1", "anon:abc", "https://shop.example", persistent=False
    )
    assert (
        short.expires_at - visitor.expires_at < 0
        and identity.read_token(SECRET, "inbox1", session).persistent is False
    )


def test_identity_proofs():
    good = identity.user_hash(SECRET, "user-1")
    assert identity.verified_user(SECRET, {"user_id": "user-1", "user_hash": good}, enforce=True) == "user-1"
    assert (
        identity.verified_user(SECRET, {"user_id": "user-1", "user_hash": good.upper()}, enforce=True)
        == "user-1"
    )
    assert identity.verified_user(SECRET, identify_jwt(SECRET, "user-1"), enforce=True) == "user-1"
    assert identity.verified_user(SECRET, {"user_id": "user-1"}, enforce=False) is None
    for proof, enforce in (
        ({"user_id": "user-1"}, True),
        ({"user_id": "user-1", "user_hash": good[:-1] + "0"}, False),
        ({"user_id": "user-2", "user_hash": good}, False),
        ({"user_id": "has space", "user_hash": good}, False),
        ({"user_id": "x" * 201}, False),
        ({"jwt": "not.a.jwt"}, False),
        (identify_jwt(SECRET, "user-1", lifetime=-5), False),
        ({"jwt": __import__("jwt").encode({"sub": "user-1"}, SECRET, algorithm="HS256")}, False),  # no exp
    ):
        with pytest.raises(IdentityRefused):
            identity.verified_user(SECRET, proof, enforce=enforce)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://Shop.Example", "https://shop.example"),
        ("https://shop.example:443/", "https://shop.example"),
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
        ("http://[::1]:8001", "http://[::1]:8001"),
        ("ftp://shop.example", None),
        ("https://shop.example;script-src *", None),
        ("https://sh op.example", None),
        ("javascript:alert(1)", None),
        ("", None),
    ],
)
def test_origins_are_normalised_or_refused(given, expected):
    assert identity.normalise_origin(given) == expected
