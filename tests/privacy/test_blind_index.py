"""Blind indexes: normalisation, keying per workspace, token search, and a pinned construction."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import pytest

from relaydesk.privacy import blind_index as bi
from relaydesk.privacy.crypto import generate_key

WS_A = uuid.UUID("0190b5a0-0000-7000-8000-000000000001")
WS_B = uuid.UUID("0190b5a0-0000-7000-8000-000000000002")


@pytest.fixture
def index() -> bi.BlindIndex:
    return bi.BlindIndex(bi.derive_index_key(generate_key(), WS_A))


def test_email_normalisation(index: bi.BlindIndex) -> None:
    assert index.email("A@B.com ") == index.email("a@b.com")
    assert index.email("\tAlice@Example.COM") == index.email("alice@example.com")
    assert index.email("alice@example.com") != index.email("alicia@example.com")
    assert len(index.email("a@b.com")) == 16
    for bad in ("", "no-at-sign", "@example.com", "alice@", "a b@example.com"):
        with pytest.raises(ValueError):
            index.email(bad)


def test_phone_normalisation(index: bi.BlindIndex) -> None:
    assert bi.normalize_phone("020 7946 0958", "GB") == "+442079460958"
    assert index.phone("+44 20 7946 0958") == index.phone("020 7946 0958", default_region="GB")
    assert index.phone("+44 (0)20-7946-0958", "US") == index.phone("020 7946 0958", "GB")
    # The same national digits mean a different number in another region.
    assert bi.normalize_phone("06 12 34 56 78", "FR") == "+33612345678"
    assert index.phone("06 12 34 56 78", "FR") != index.phone("06 12 34 56 78", "NL")
    with pytest.raises(ValueError):
        index.phone("020 7946 0958")  # national number without a region
    with pytest.raises(ValueError):
        index.phone("not a phone", "GB")
    with pytest.raises(ValueError):
        index.phone("+44 12", "GB")  # too short to be possible


def test_exact_is_exact_but_separated_by_purpose(index: bi.BlindIndex) -> None:
    assert index.exact("contact.external_id", "AbC") != index.exact("contact.external_id", "abc")
    assert index.exact("contact.external_id", "e\u0301") == index.exact(
        "contact.external_id", "\u00e9"
    )  # NFC
    assert index.exact("contact.external_id", "x") != index.exact("order.number", "x")
    assert index.exact("email", "a@b.com") != index.email("a@b.com")


def test_workspaces_get_different_digests() -> None:
    same_key = generate_key()
    a = bi.BlindIndex(bi.derive_index_key(same_key, WS_A))
    b = bi.BlindIndex(bi.derive_index_key(same_key, WS_B))
    other = bi.BlindIndex(bi.derive_index_key(generate_key(), WS_A))
    assert a.email("a@b.com") != b.email("a@b.com")
    assert a.email("a@b.com") != other.email("a@b.com")
    assert a.document_tokens("refund") != b.document_tokens("refund")


def test_index_key_is_not_the_workspace_key() -> None:
    key = generate_key()
    assert bi.derive_index_key(key, WS_A) != key


def test_stable_for_the_same_key() -> None:
    key = bi.derive_index_key(bytes(range(32)), WS_A)
    assert bi.BlindIndex(key).email("a@b.com") == bi.BlindIndex(key).email(" A@B.COM")


def test_construction_matches_the_documented_formula() -> None:
    """Recompute HKDF (RFC 5869) and HMAC by hand, so a silent change of the scheme fails this test."""
    workspace_key = bytes(range(32))
    prk = hmac.new(b"\x00" * 32, workspace_key, hashlib.sha256).digest()  # HKDF-Extract, no salt
    info = b"relaydesk/v1/blind-index\x00" + WS_A.bytes
    okm = hmac.new(prk, info + b"\x01", hashlib.sha256).digest()  # HKDF-Expand, one block
    assert bi.derive_index_key(workspace_key, WS_A) == okm
    expected = hmac.new(okm, b"email\x00a@b.com", hashlib.sha256).digest()[:16]
    assert bi.BlindIndex(okm).email("A@B.com ") == expected
    token = hmac.new(okm, b"token\x00cafe", hashlib.sha256).digest()[:10]
    assert bi.BlindIndex(okm).document_tokens("Café") == {token}


def test_word_normalisation() -> None:
    assert bi.normalize_words("Café  CRÈME-brûlée!") == ["cafe", "creme", "brulee"]
    assert bi.normalize_words("Straße") == ["strasse"]
    assert bi.normalize_words("ﬁle №42") == ["file", "no42"]  # NFKC: ligature and numero sign
    assert bi.normalize_words("order_1234, ref:AB-9") == ["order", "1234", "ref", "ab", "9"]
    assert bi.normalize_words("  ...  ") == []
    assert len(bi.normalize_words("x" * 500)[0]) == bi.MAX_TOKEN_CHARS


def test_token_search(index: bi.BlindIndex) -> None:
    doc = index.document_tokens("Hello, my ORDER #4521 arrived damaged. Refund please!")
    assert len(next(iter(doc))) == 10
    assert len(doc) == len(set(bi.normalize_words("Hello my order 4521 arrived damaged refund please")))
    assert index.matches(doc, index.query_tokens("refund"))
    assert index.matches(doc, index.query_tokens("Damaged order"))
    assert index.matches(doc, index.query_tokens("ordér 4521"))
    assert not index.matches(doc, index.query_tokens("refund cancelled"))  # every word must match
    assert not index.matches(doc, index.query_tokens("refun"))  # no prefix/substring search
    assert not index.matches(doc, index.query_tokens(""))
    assert index.query_tokens("refund refund") == index.query_tokens("REFUND")


def test_digest_length_bounds() -> None:
    with pytest.raises(ValueError):
        bi.blind_digest(bytes(32), "email", "a", length=4)
    with pytest.raises(ValueError):
        bi.BlindIndex(bytes(16))
