"""The offline provider: extractive answers from retrieved passages, no network, no generative model.

A FAQ entry is answered with its own answer text; an article with its sentences closest to the question
(MiniLM cosine), kept in reading order. Nothing is generated, so nothing can be made up: the answer is
the company's own words, with its source.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np

from relaydesk.ai.providers.base import (
    ChatMessage,
    Completion,
    GroundedAnswer,
    Passage,
    ProviderError,
    ToolSpec,
)

Embed = Callable[[Sequence[str]], np.ndarray]

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")
MAX_ANSWER_CHARS = 600


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


class LocalProvider:
    name = "local"

    def __init__(self, embed: Embed, *, max_sentences: int = 3) -> None:
        self._embed = embed
        self.max_sentences = max_sentences

    def _extract(self, question: str, passage: Passage) -> str:
        sentences = split_sentences(passage.text)
        if len(sentences) <= self.max_sentences or passage.kind == "faq":
            return passage.text.strip()[:MAX_ANSWER_CHARS]
        vectors = self._embed([question, *sentences])
        sims = vectors[1:] @ vectors[0]
        keep = sorted(np.argsort(-sims)[: self.max_sentences].tolist())
        return " ".join(sentences[i] for i in keep)[:MAX_ANSWER_CHARS]

    async def answer(
        self, question: str, passages: Sequence[Passage], context: Sequence[ChatMessage] = ()
    ) -> GroundedAnswer:
        if not passages:
            return GroundedAnswer(None, provider=self.name)
        top = passages[0]
        return GroundedAnswer(self._extract(question, top), cited=(top,), provider=self.name)

    async def complete(
        self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec] = (), temperature: float = 0.0
    ) -> Completion:
        raise ProviderError("the local provider has no generative model; configure an openai provider")

    async def stream(
        self, messages: Sequence[ChatMessage], *, temperature: float = 0.0
    ) -> AsyncIterator[str]:
        raise ProviderError("the local provider has no generative model; configure an openai provider")
        yield ""  # pragma: no cover  (makes this an async generator)

    async def probe(self) -> dict[str, Any]:
        return {
            "ok": True,
            "provider": self.name,
            "models": ["all-MiniLM-L6-v2-int8"],
            "tool_calling": False,
            "streaming": False,
        }
