"""The single call the rest of Relaydesk makes for each inbound message.

Keeping one entry point means the inbox, the bot and the routing rules see
the same intent, sentiment and language for a message, and the timings let
operators see which stage to blame when the CPU is busy.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from relaydesk.ai.default_intents import DEFAULT_INTENTS, as_training_pairs
from relaydesk.ai.intent import IntentClassifier, IntentPrediction
from relaydesk.ai.language import DetectedLanguage, LanguageDetector
from relaydesk.ai.sentiment import Sentiment, SentimentAnalyzer


@dataclass(frozen=True, slots=True)
class Understanding:
    """Everything the product needs to route and answer one message."""

    intent: str
    confidence: float
    out_of_scope: bool
    sentiment: Sentiment
    language: DetectedLanguage
    timings: dict[str, float] = field(default_factory=dict)
    alternatives: tuple[tuple[str, float], ...] = ()


_sentiment = SentimentAnalyzer()
_languages: dict[tuple[str, ...], LanguageDetector] = {}
_lock = threading.Lock()
_default_model: IntentClassifier | None = None


def language_detector(languages: tuple[str, ...] | None = None) -> LanguageDetector:
    """One detector per language set, shared across workspaces that use the same set."""
    key = tuple(languages) if languages else ()
    with _lock:
        if key not in _languages:
            _languages[key] = LanguageDetector(languages) if languages else LanguageDetector()
        return _languages[key]


def default_model() -> IntentClassifier:
    """Classifier trained on the built-in intents, built once on first use (~1 s)."""
    global _default_model
    with _lock:
        if _default_model is None:
            texts, labels = as_training_pairs(DEFAULT_INTENTS)
            _default_model = IntentClassifier().fit(texts, labels)
        return _default_model


def understand(
    text: str,
    model: IntentClassifier | None = None,
    languages: tuple[str, ...] | None = None,
) -> Understanding:
    """Classify intent, score sentiment and detect language for one message.

    ``model`` is the workspace's classifier (falls back to the built-in
    intents); ``languages`` the workspace's language set.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    clf = model or default_model()
    pred: IntentPrediction = clf.predict(text)
    t1 = time.perf_counter()
    sentiment = _sentiment.analyze(text)
    t2 = time.perf_counter()
    language = language_detector(languages).detect(text)
    t3 = time.perf_counter()
    timings = {
        "intent_ms": round((t1 - t0) * 1000, 3),
        "sentiment_ms": round((t2 - t1) * 1000, 3),
        "language_ms": round((t3 - t2) * 1000, 3),
        "total_ms": round((t3 - t0) * 1000, 3),
    }
    return Understanding(
        intent=pred.intent,
        confidence=pred.confidence,
        out_of_scope=pred.out_of_scope,
        sentiment=sentiment,
        language=language,
        timings=timings,
        alternatives=pred.alternatives,
    )


def warm_up(model: IntentClassifier | None = None, languages: tuple[str, ...] | None = None) -> None:
    """Load every model now (e.g. at worker start) so the first customer does not wait."""
    understand("hello, where is my order?", model, languages)
