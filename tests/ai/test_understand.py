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


def test_one_message_is_encoded_once_for_all_the_steps_that_embed_it(monkeypatch) -> None:
    from relaydesk.ai.embeddings import RECENT, MiniLMEmbedder

    emb = MiniLMEmbedder()
    calls: list[list[str]] = []
    real = emb._encode
    monkeypatch.setattr(emb, "_encode", lambda texts: calls.append(list(texts)) or real(texts))
    first = emb.encode(["where is my order"])
    again = emb.encode(["where is my order"])  # e.g. sentiment after intent
    assert calls == [["where is my order"]] and (first == again).all()
    again[0, 0] = 42.0  # callers get their own array, never the cached vector
    assert emb.encode(["where is my order"])[0, 0] != 42.0
    batch = [f"message {i}" for i in range(5)]  # training batches bypass the cache
    emb.encode(batch)
    emb.encode(batch)
    assert calls[-2:] == [batch, batch]
    for i in range(RECENT + 1):  # bounded: the oldest message falls out
        emb.encode([f"filler {i}"])
    emb.encode(["where is my order"])
    assert calls[-1] == ["where is my order"]
