"""Redaction before an external LLM, and bounding the context."""

from __future__ import annotations

from relaydesk.ai.agent.redaction import Redactor, bound_context


def test_redacts_personal_data_but_keeps_order_numbers():
    r = Redactor.for_contact("Ada Lovelace")
    text = (
        "Hi, I'm Ada Lovelace (ada.l@example.org, +44 20 7946 0958). Card 4111 1111 1111 1111, "
        "IBAN DE89 3704 0044 0532 0130 00. Order 100234 never came, ada says."
    )
    out = r(text)
    for secret in ("Ada", "Lovelace", "ada.l@example.org", "7946", "4111", "DE89", "3704"):
        assert secret.lower() not in out.lower(), (secret, out)
    assert "[EMAIL]" in out and "[PHONE]" in out and "[CARD]" in out and "[IBAN]" in out and "[NAME]" in out
    assert "100234" in out  # too short for a phone, fails Luhn as a card: kept, the prompt needs it
    assert Redactor.for_contact("Ada", enabled=False)(text) == text
    assert "Ada" in Redactor.for_contact("Ada", redact_name=False)("Ada here")


def test_bound_context_keeps_the_newest_turns_within_budget():
    turns = [("user", f"message {i} " + "x" * 50) for i in range(10)]
    kept = bound_context(turns, max_messages=4, max_chars=150)
    assert [t[1].split()[1] for t in kept] == ["8", "9"]  # an older turn that does not fit whole is dropped
    assert sum(len(t[1]) for t in kept) <= 150
    huge = bound_context([("user", "y" * 5000)], max_messages=5, max_chars=300)
    assert len(huge[0][1]) == 300
