"""Extractive summaries: the conversation's own sentences, picked by centroid similarity and MMR.

Extractive on purpose: the agent reading a handoff note must be able to trust that every sentence was
said by the customer, and it runs offline on CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from relaydesk.ai.providers.local import split_sentences

Embed = Callable[[Sequence[str]], np.ndarray]


def extractive_summary(
    texts: Sequence[str], embed: Embed, *, max_sentences: int = 3, lam: float = 0.7
) -> list[str]:
    """Up to `max_sentences` sentences, central but not redundant, returned in the order they were said."""
    sentences: list[str] = []
    for text in texts:
        for s in split_sentences(text):
            if len(s) >= 3 and s not in sentences:
                sentences.append(s[:300])
    if len(sentences) <= max_sentences:
        return sentences
    sentences = sentences[-60:]
    vectors = embed(sentences)
    centroid = vectors.mean(axis=0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-9)
    relevance = vectors @ centroid
    chosen: list[int] = []
    while len(chosen) < max_sentences:
        best, best_score = -1, -np.inf
        for i in range(len(sentences)):
            if i in chosen:
                continue
            redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            score = lam * float(relevance[i]) - (1 - lam) * redundancy
            if score > best_score:
                best, best_score = i, score
        chosen.append(best)
    return [sentences[i] for i in sorted(chosen)]
