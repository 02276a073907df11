"""How well a workspace's intent model tells its intents apart, estimated from its own example phrases.

An admin who adds intents cannot see what the classifier will confuse until customers hit it. So every
training also runs a stratified k-fold cross-validation on the same phrases (the protocol of Rasa's
`rasa test nlu --cross-validation`): each phrase is predicted by a model that never saw it, which gives an
accuracy estimate, each intent's recall and precision, and the pairs of intents most often mistaken for
each other with one phrase as the example. The figures describe the training phrases, not live traffic:
phrases written by one person are more alike than customers' messages, so live accuracy is usually lower.

Cost: one extra fit per fold on the phrases. The MiniLM vectors are computed once and shared by the
folds; folds stop once `max_evaluated` phrases have been predicted, so a workspace with 10,000 phrases
pays one or two extra fits, not five.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from relaydesk.ai.embeddings import MiniLMEmbedder, default_embedder
from relaydesk.ai.intent import IntentClassifier, IntentConfig

FOLDS = 5
MAX_EVALUATED = 2000
TOP_CONFUSIONS = 10


@dataclass(frozen=True)
class Confusion:
    """`count` phrases of `intent` were predicted as `predicted_as`; `example` is one of them."""

    intent: str
    predicted_as: str
    count: int
    example: str


@dataclass(frozen=True)
class IntentScore:
    intent: str
    support: int  # phrases of this intent that were predicted
    recall: float  # share of them predicted as this intent
    precision: float | None  # share of predictions of this intent that were right (None: never predicted)


@dataclass(frozen=True)
class Evaluation:
    """The cross-validated estimate; `to_dict()` is what the training stores beside the model."""

    accuracy: float
    evaluated: int  # phrases predicted by a model that had not seen them
    folds: int  # folds actually run
    not_evaluated: list[str] = field(default_factory=list)  # intents with too few phrases to hold one out
    intents: list[IntentScore] = field(default_factory=list)  # weakest recall first
    confusions: list[Confusion] = field(default_factory=list)  # most frequent first

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SharedVectors:
    """Encodes each phrase once for all folds (the encoder is most of a fit's cost)."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self.inner = inner
        self.vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, self.inner.encode(missing), strict=True))
        if not texts:
            return self.inner.encode([])
        return np.stack([self.vectors[t] for t in texts])


def _fold_of(labels: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """Fold number per phrase, stratified: each intent's phrases are dealt round-robin after a shuffle.
    An intent with fewer phrases than two gets -1 (always trained on, never held out)."""
    rng = np.random.default_rng(seed)
    out = np.full(len(labels), -1, dtype=np.int64)
    arr = np.asarray(labels, dtype=object)
    start = 0
    for intent in sorted(set(labels)):
        idx = rng.permutation(np.flatnonzero(arr == intent))
        if len(idx) < 2:
            continue
        out[idx] = (np.arange(len(idx)) + start) % folds
        start += len(idx)  # spread the intents' first phrases over the folds
    return out


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    folds: int = FOLDS,
    max_evaluated: int = MAX_EVALUATED,
    seed: int = 0,
    config: IntentConfig | None = None,
    embedder: MiniLMEmbedder | SharedVectors | None = None,
) -> Evaluation | None:
    """Estimate the classifier's accuracy on these phrases; None when there is nothing to hold out
    (fewer than two intents, or no intent with two phrases)."""
    texts, labels = [str(t) for t in texts], [str(label) for label in labels]
    if len(set(labels)) < 2:
        return None
    fold = _fold_of(labels, folds, seed)
    vectors = (
        embedder if isinstance(embedder, SharedVectors) else SharedVectors(embedder or default_embedder())
    )
    gold: list[str] = []
    predicted: list[str] = []
    held_texts: list[str] = []
    ran = 0
    for k in range(folds):
        held = np.flatnonzero(fold == k)
        train = np.flatnonzero(fold != k)
        if not held.size or len({labels[i] for i in train}) < 2:
            continue
        model = IntentClassifier(config or IntentConfig(), embedder=vectors)  # type: ignore[arg-type]
        model.fit([texts[i] for i in train], [labels[i] for i in train])
        for i, pred in zip(held, model.predict_batch([texts[i] for i in held]), strict=True):
            gold.append(labels[i])
            predicted.append(pred.intent)
            held_texts.append(texts[i])
        ran += 1
        if len(gold) >= max_evaluated:
            break
    if not gold:
        return None
    return _summarise(gold, predicted, held_texts, ran, sorted({labels[i] for i in np.flatnonzero(fold < 0)}))


def _summarise(
    gold: list[str], predicted: list[str], texts: list[str], folds: int, not_evaluated: list[str]
) -> Evaluation:
    right = [g == p for g, p in zip(gold, predicted, strict=True)]
    support = Counter(gold)
    hits = Counter(g for g, ok in zip(gold, right, strict=True) if ok)
    guessed = Counter(predicted)
    scores = [
        IntentScore(
            intent,
            support[intent],
            round(hits[intent] / support[intent], 4),
            round(hits[intent] / guessed[intent], 4) if guessed[intent] else None,
        )
        for intent in support
    ]
    scores.sort(key=lambda s: (s.recall, s.intent))
    pairs: Counter[tuple[str, str]] = Counter()
    example: dict[tuple[str, str], str] = {}
    for g, p, t in zip(gold, predicted, texts, strict=True):
        if g != p:
            pairs[(g, p)] += 1
            example.setdefault((g, p), t)
    confusions = [
        Confusion(g, p, n, example[(g, p)])
        for (g, p), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CONFUSIONS]
    ]
    return Evaluation(
        accuracy=round(sum(right) / len(right), 4),
        evaluated=len(right),
        folds=folds,
        not_evaluated=not_evaluated,
        intents=scores,
        confusions=confusions,
    )
