"""Remove personal data a prompt does not need before any text leaves for an external LLM.

Rules, in order: IBANs, payment card numbers (Luhn-checked, so order numbers survive), e-mail addresses,
phone numbers, and the contact's own name. Each is replaced by a placeholder the prompt explains, so
the model still knows *that* something was there. The context is then bounded (last N messages, at most
M characters) so a long conversation never ships whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(r"(?<![\w/])(?:\+|00)?\d[\d ().-]{6,18}\d(?![\w/])")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn(digits) else m.group(0)


def _phone(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "[PHONE]" if 7 <= len(digits) <= 15 else m.group(0)


@dataclass(frozen=True)
class Redactor:
    names: tuple[str, ...] = ()
    enabled: bool = True

    @classmethod
    def for_contact(cls, name: str | None, *, enabled: bool = True, redact_name: bool = True) -> Redactor:
        parts: list[str] = []
        if name and redact_name:
            parts = [p for p in re.split(r"\s+", name.strip()) if len(p) >= 2]
            if len(parts) > 1:
                parts.insert(0, name.strip())
        return cls(tuple(parts), enabled)

    def __call__(self, text: str) -> str:
        if not self.enabled or not text:
            return text
        text = _IBAN.sub("[IBAN]", text)
        text = _EMAIL.sub("[EMAIL]", text)
        text = _CARD.sub(_card, text)
        text = _PHONE.sub(_phone, text)
        for name in self.names:
            text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "[NAME]", text, flags=re.IGNORECASE)
        return text


def bound_context(
    turns: Sequence[tuple[str, str]], max_messages: int, max_chars: int
) -> list[tuple[str, str]]:
    """Keep the newest turns that fit: at most `max_messages`, at most `max_chars` in total (the newest
    turn is cut rather than dropped)."""
    kept: list[tuple[str, str]] = []
    budget = max_chars
    for role, text in reversed(list(turns)[-max_messages:]):
        if budget <= 0:
            break
        if len(text) > budget:
            text = text[-budget:] if not kept else ""
            if not text:
                break
        kept.append((role, text))
        budget -= len(text)
    return list(reversed(kept))


def redact_all(redactor: Redactor, texts: Iterable[str]) -> list[str]:
    return [redactor(t) for t in texts]
