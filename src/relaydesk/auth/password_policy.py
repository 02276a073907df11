"""Password rules after OWASP ASVS 5.0 V6.2: length, not composition, and no common passwords.

Length is what makes a password strong, so there are no "one digit, one symbol" rules (6.2.5); at least
`min_length` (8 by default, 15 recommended in docs/encryption.md) and up to `max_length` characters
(6.2.9: 64 or more must be accepted). Passwords are checked against the 30,000 most common passwords
shipped by the `zxcvbn` package (frequency-ranked from leaked-password corpora; read from disk, so no
network at run time), which covers ASVS 6.2.4's "top 3,000 matching the policy" several times over.
Breached-password lookups (6.2.12, L2) need an online k-anonymity service and are left to a later option.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

PRODUCT_NAME = "relaydesk"
MIN_CONTEXT_WORD = 3  # two-letter local parts ("jo") would forbid too many good passwords


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 8
    max_length: int = 128
    # How many of the most common passwords to refuse (None: the whole shipped list).
    common_list_size: int | None = None

    def __post_init__(self) -> None:
        if self.min_length < 8:
            raise ValueError("ASVS 6.2.1 requires at least 8 characters")
        if self.max_length < 64:
            raise ValueError("ASVS 6.2.9 requires accepting at least 64 characters")


DEFAULT_POLICY = PasswordPolicy()


@functools.lru_cache(maxsize=4)
def common_passwords(limit: int | None = None) -> frozenset[str]:
    """The most common passwords, case-folded; loaded lazily because the module is ~1 MB of literals."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    ranked = FREQUENCY_LISTS["passwords"]
    return frozenset(p.casefold() for p in (ranked if limit is None else ranked[:limit]))


def _normalise(text: str) -> str:
    # NFKC so that look-alike forms (full-width letters, ligatures) count and compare as what they show.
    return unicodedata.normalize("NFKC", text)


def check_password(
    password: str,
    *,
    email: str | None = None,
    context_words: Iterable[str] = (),
    policy: PasswordPolicy = DEFAULT_POLICY,
) -> list[str]:
    """Every reason the password is refused, as messages fit to show the user; empty means accepted.

    `context_words` are other guessable words for this account (workspace name, user name).
    """
    normalised = _normalise(password)
    folded = normalised.casefold()
    problems: list[str] = []
    length = len(normalised)
    if length < policy.min_length:
        problems.append(
            f"Use at least {policy.min_length} characters (a short phrase of several words works well)."
        )
    if length > policy.max_length:
        problems.append(f"Use at most {policy.max_length} characters.")
    if folded in common_passwords(policy.common_list_size):
        problems.append("This is one of the most commonly used passwords; choose something less predictable.")
    words = [PRODUCT_NAME, *context_words]
    if email and "@" in email:
        words.append(email.rsplit("@", 1)[0])
    for word in words:
        word_folded = _normalise(word).strip().casefold()
        if len(word_folded) >= MIN_CONTEXT_WORD and word_folded in folded:
            problems.append(f'Don\'t use "{word.strip()}" (your e-mail name, the product or workspace name).')
    return problems
