"""Per-message sentiment and a conversation trend.

VADER is a lexicon and rule model: a few hundred KB, pure Python, no
training, sub-millisecond per message, and tuned on short informal text,
which is what chat messages are. It is English-only; for other languages we
report a neutral score rather than a misleading one.

Escalation policy (see docs/ai-understanding.md) uses two signals from here:
very negative single messages and a downward trend across turns.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SentimentLabel = Literal["positive", "neutral", "negative"]

#: Label cut-offs on the compound score, fitted for customer-service text.
#: VADER recommends +-0.05, but support messages are polite ("thanks", "please",
#: "great, but ...") and complaints often carry no negative word, so at +-0.05
#: half of the labelled airline customer-service tweets came out positive against
#: 16 % in the gold labels. Fitted on one half of that set (macro-F1, grid) and
#: checked on the other: positive from 0.55, negative for any negative score;
#: macro-F1 0.458 -> 0.524 (bench/ai/README.md, bench/ai/sentiment.py). On
#: VADER's own general-domain sets these cut-offs cost 0.00-0.06 macro-F1.
POSITIVE_AT = 0.55
#: Any negative compound (VADER rounds to 4 decimals, so -0.0001 is the smallest).
NEGATIVE_AT = -0.0001

#: Support-specific valence that VADER's general lexicon misses or gets wrong.
#: Kept deliberately short: each entry is a phrase customers use when a
#: service failed them, which VADER scores as neutral. Values use VADER's
#: -4..4 scale.
_SUPPORT_LEXICON: dict[str, float] = {
    "scam": -2.8,
    "scammed": -3.0,
    "ripoff": -2.5,
    "unacceptable": -2.5,
    "useless": -2.2,
    "ridiculous": -2.0,
    "nightmare": -2.6,
    "incompetent": -2.6,
    "unresolved": -1.5,
    "lied": -2.2,
    # Neutral in support: "order number", "tracking number" (VADER rates it +0.3).
    "number": 0.0,
}
#: Multi-word complaints: VADER works token by token, so these are matched as
#: phrases and added to the compound score afterwards.
_SUPPORT_PHRASES: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"\b(still|been) waiting\b", re.I), -0.25),
    (re.compile(r"\b(never|still (have not|haven't|hasn't|not)) (arrived|received|got|come)\b", re.I), -0.3),
    (re.compile(r"\bno one (has )?(answered|replied|responded|helped)\b", re.I), -0.3),
    (re.compile(r"\bwaste of (my )?(time|money)\b", re.I), -0.4),
)
_SHOUTING = re.compile(r"\b[A-Z]{4,}\b")


@dataclass(frozen=True, slots=True)
class Sentiment:
    """Compound score in [-1, 1] plus the bucket the UI and rules use."""

    score: float
    label: SentimentLabel


def label_for(score: float) -> SentimentLabel:
    """Bucket a compound score with the support-fitted thresholds above."""
    if score >= POSITIVE_AT:
        return "positive"
    if score <= NEGATIVE_AT:
        return "negative"
    return "neutral"


class SentimentAnalyzer:
    """Thin wrapper over VADER that adds support-domain phrases.

    The analyzer is created lazily because VADER parses its 7,500-entry
    lexicon at construction (~50 ms) and most processes never need it.
    """

    def __init__(self) -> None:
        self._vader = None
        self._lock = threading.Lock()

    def _load(self):  # type: ignore[no-untyped-def]
        with self._lock:
            if self._vader is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                vader = SentimentIntensityAnalyzer()
                vader.lexicon.update(_SUPPORT_LEXICON)
                self._vader = vader
        return self._vader

    def analyze(self, text: str) -> Sentiment:
        """Score one message; empty text is neutral rather than an error."""
        if not text or not text.strip():
            return Sentiment(0.0, "neutral")
        vader = self._vader or self._load()
        score = float(vader.polarity_scores(text)["compound"])
        bonus = sum(delta for pattern, delta in _SUPPORT_PHRASES if pattern.search(text))
        # A message in capitals shouts; VADER only boosts words it already
        # knows, so a shouted neutral complaint gets a small push down.
        if bonus or (score <= 0 and len(_SHOUTING.findall(text)) >= 2):
            bonus += -0.1 if score <= 0 and _SHOUTING.search(text) else 0.0
        score = max(-1.0, min(1.0, score + bonus))
        return Sentiment(round(score, 4), label_for(score))


def trend(scores: Sequence[float], window: int = 5) -> float:
    """Slope of the last ``window`` scores, per turn, in [-2, 2].

    A least-squares slope rather than last-minus-first so one outlier message
    (a sarcastic "great, thanks") does not flip the trend. Negative means the
    conversation is getting worse; the handoff policy offers a human when it
    stays negative.
    """
    recent = [float(s) for s in scores[-window:]]
    n = len(recent)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(recent) / n
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(recent))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return round(num / den, 4)


def is_frustrated(scores: Sequence[float], strong: float = -0.5, slope: float = -0.15) -> bool:
    """Two strongly negative turns, or a clearly falling trend, as ai.md's policy asks."""
    if sum(1 for s in scores if s <= strong) >= 2:
        return True
    return len(scores) >= 3 and trend(scores) <= slope and scores[-1] < 0
