"""What the agent needs from the offline understanding models, behind one small seam.

Sentiment comes from `relaydesk.ai.sentiment`. Intent detection is built by the understanding models
(`relaydesk.ai`'s `understand(text, model)`); until a workspace has a trained model loaded, intent is
reported as unknown and the policy relies on its keyword rules and retrieval scores, which never need a
model to keep their promises (a request for a human always hands off).
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Any

from relaydesk.ai.embeddings import default_embedder
from relaydesk.ai.sentiment import SentimentAnalyzer

_sentiment = SentimentAnalyzer()
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    confidence: float
    out_of_scope: bool


def embed(texts: list[str] | tuple[str, ...]):  # type: ignore[no-untyped-def]
    """MiniLM vectors (unit length) from the shared, lazily loaded embedder."""
    return default_embedder().encode(list(texts))


def sentiment(text: str) -> float:
    return _sentiment.analyze(text).score


def _understand_fn() -> Any:
    for module in ("relaydesk.ai.understand", "relaydesk.ai.understanding", "relaydesk.ai.pipeline"):
        try:
            fn = getattr(importlib.import_module(module), "understand", None)
        except ImportError:
            continue
        if callable(fn):
            return fn
    return None


def detect_intent(text: str, model: Any = None) -> Intent | None:
    """The intent with its confidence, or None when no intent model is available."""
    fn = _understand_fn()
    if fn is None or model is None:
        return None
    try:
        result = fn(text, model)
    except Exception:  # a model failure must never stop a customer from being answered or handed off
        return None
    intent = getattr(result, "intent", None)
    name = (
        getattr(intent, "name", None)
        or getattr(intent, "label", None)
        or (intent if isinstance(intent, str) else None)
    )
    if not name:
        return None
    confidence = float(getattr(intent, "confidence", getattr(result, "confidence", 0.0)) or 0.0)
    oos = bool(getattr(intent, "out_of_scope", getattr(result, "out_of_scope", False)))
    return Intent(str(name), confidence, oos)
