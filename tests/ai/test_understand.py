"""The single entry point the product calls for every message."""

from __future__ import annotations

from relaydesk.ai import IntentClassifier, Understanding, understand


def test_understand_combines_all_signals(small_model: IntentClassifier) -> None:
    u = understand("This is unacceptable, I want to cancel my order right now!", small_model)
    assert isinstance(u, Understanding)
    assert u.intent == "cancel_order" and not u.out_of_scope
    assert u.sentiment.label == "negative"
    assert u.language.code == "en"
    assert set(u.timings) == {"intent_ms", "sentiment_ms", "language_ms", "total_ms"}
    assert u.timings["total_ms"] >= u.timings["intent_ms"] > 0


def test_understand_flags_unrelated_message(small_model: IntentClassifier) -> None:
    u = understand("Wie wird das Wetter morgen in Berlin?", small_model, languages=("en", "de"))
    assert u.out_of_scope
    assert u.language.code == "de"


def test_default_model_covers_builtin_intents() -> None:
    u = understand("I need to talk to a human being, now")
    assert u.intent == "talk_to_human" and not u.out_of_scope
