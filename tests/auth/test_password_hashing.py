"""Production password hashing: argon2id at or above the OWASP minimum, upgraded at login."""

from __future__ import annotations

from argon2 import PasswordHasher, extract_parameters

from relaydesk.auth import passwords


def test_production_parameters_meet_owasp_minimum():
    # The suite swaps in cheap parameters (tests/support/fixtures.py); the module's own hasher is rebuilt here.
    params = extract_parameters(PasswordHasher().hash("x" * 12))
    assert params.type.name == "ID"
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2
    assert passwords._DUMMY_HASH.startswith("$argon2id$")


def test_weaker_hash_is_upgraded_on_login():
    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash("a long enough password")
    ok, new_hash = passwords.verify_password(weak, "a long enough password")
    assert ok and new_hash is not None and new_hash != weak
    assert passwords.verify_password(weak, "wrong password") == (False, None)


def test_unknown_user_costs_a_verification_too():
    assert passwords.verify_password(None, "anything") == (False, None)
