"""ASVS 6.2 password rules."""

from __future__ import annotations

import pytest

from relaydesk.auth.password_policy import PasswordPolicy, check_password, common_passwords
from relaydesk.auth.passwords import hash_password, verify_password


def test_long_password_accepted() -> None:
    password = "correct horse battery staple and a quiet lake at dawn with 2 owls"[:64]
    assert len(password) == 64
    assert check_password(password, email="agent@example.com") == []
    ok, _ = verify_password(hash_password(password), password)  # the hasher takes it as well
    assert ok


def test_no_composition_rules() -> None:
    assert check_password("lowercase only words here") == []
    assert check_password("sixteen-chars-ok") == []


def test_common_password_rejected() -> None:
    problems = check_password("password123")
    assert len(problems) == 1 and "common" in problems[0]
    assert check_password("PassWord123") == problems  # case does not help
    assert check_password("ｐａｓｓｗｏｒｄ１２３") == problems  # nor full-width look-alikes (NFKC)


def test_length_bounds() -> None:
    assert any("at least 8" in p for p in check_password("k7#Qz!m"))  # 7 chars
    assert check_password("k7#Qz!mW") == []  # 8 chars
    assert any("at most 128" in p for p in check_password("x" * 129 + "unique"))
    stricter = PasswordPolicy(min_length=15)
    assert any("at least 15" in p for p in check_password("k7#Qz!mW", policy=stricter))


def test_email_local_part_and_product_name_rejected() -> None:
    assert any(
        "mariasilva" in p.lower() for p in check_password("mariasilva-2026!", email="MariaSilva@example.com")
    )
    assert check_password("MariaSilva", email="mariasilva@example.com") != []
    assert any("relaydesk" in p.lower() for p in check_password("MyRelayDesk2026!"))
    assert any("Acme" in p for p in check_password("acme support rocks", context_words=["Acme"]))
    assert check_password("harbour lights at nine", email="jo@example.com") == []  # short local parts ignored


def test_list_is_the_shipped_frequency_list() -> None:
    full = common_passwords()
    assert len(full) > 20_000 and "123456" in full and "password" in full
    assert common_passwords(3000) < full
    assert check_password("qwertyuiop", policy=PasswordPolicy(common_list_size=3000)) != []


@pytest.mark.parametrize(("minimum", "maximum"), [(7, 128), (8, 63)])
def test_policy_cannot_go_below_asvs(minimum: int, maximum: int) -> None:
    with pytest.raises(ValueError):
        PasswordPolicy(min_length=minimum, max_length=maximum)
