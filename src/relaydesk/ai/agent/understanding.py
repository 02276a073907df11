"""What the agent needs from the offline understanding models, behind one small seam.

Embeddings, sentiment and intent come from the understanding layer in `relaydesk.ai` (MiniLM, VADER, the
intent classifier with its out-of-scope flag). Intent uses the classifier directly rather than
`understand()`, because the agent needs no language detection and should not pay for loading it.
A failing or missing intent model never stops anything: the policy's keyword rules and retrieval scores
keep every promise on their own (a request for a human always hands off).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from relaydesk.ai.embeddings import default_embedder
from relaydesk.ai.sentiment import SentimentAnalyzer

log = logging.getLogger(__name__)
_sentiment = SentimentAnalyzer()


@dataclass(frozen=True, slots=True)
class Intent:
    """A detected intent, and what the workspace asked to happen when it is detected
    (`ai.agent.workspace_intents.apply_rules` fills those in)."""

    name: str
    confidence: float
    out_of_scope: bool
    handoff: bool = False
    label_id: str | None = None
    priority: str | None = None
    model_version: int | None = None  # the workspace's model version; None: the built-in model
    alternatives: tuple[tuple[str, float], ...] = ()


def embed(texts: list[str] | tuple[str, ...]):  # type: ignore[no-untyped-def]
    """MiniLM vectors (unit length) from the shared, lazily loaded embedder."""
    return default_embedder().encode(list(texts))


def sentiment(text: str) -> float:
    return _sentiment.analyze(text).score


def detect_intent(text: str, model: Any = None) -> Intent | None:
    """The intent with its confidence and out-of-scope flag; `model` is a workspace's own classifier
    (default: the built-in customer-service intents). None when no intent model can be used."""
    try:
        if model is None:
            from relaydesk.ai.understand import default_model

            model = default_model()
        pred = model.predict(text)
    except Exception:  # a model failure must never stop a customer from being answered or handed off
        log.warning("intent detection failed", exc_info=True)
        return None
    return Intent(
        str(pred.intent),
        float(pred.confidence),
        bool(pred.out_of_scope),
        alternatives=tuple((str(n), float(c)) for n, c in pred.alternatives),
    )
