"""Split an article into passages that retrieval can rank and an answer can quote.

By heading first (a help-center section usually answers one question), then by paragraphs packed up to
a size that fits MiniLM's 128-token window without losing the end of the passage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CHARS = 700
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


@dataclass(frozen=True, slots=True)
class Chunk:
    heading: str
    text: str


def _pack(paragraphs: list[str], limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for para in paragraphs:
        while len(para) > limit:  # one huge paragraph: cut at a sentence end if there is one
            cut = para.rfind(". ", 0, limit)
            cut = cut + 1 if cut > limit // 3 else limit
            if current:
                out.append(current)
                current = ""
            out.append(para[:cut].strip())
            para = para[cut:].strip()
        if current and len(current) + len(para) + 2 > limit:
            out.append(current)
            current = para
        else:
            current = f"{current}\n\n{para}" if current else para
    if current:
        out.append(current)
    return [c for c in out if c.strip()]


def chunk_article(title: str, body: str, *, kind: str = "article", limit: int = MAX_CHARS) -> list[Chunk]:
    """FAQ entries stay whole (the answer is the unit); articles split by Markdown heading, then size."""
    body = body.strip()
    if kind == "faq" or len(body) <= limit:
        return [Chunk(title, body)] if body else []
    sections: list[tuple[str, list[str]]] = [(title, [])]
    para: list[str] = []

    def flush() -> None:
        if para:
            sections[-1][1].append("\n".join(para).strip())
            para.clear()

    for line in body.splitlines():
        m = _HEADING.match(line.strip())
        if m:
            flush()
            sections.append((m.group(2).strip() or title, []))
        elif not line.strip():
            flush()
        else:
            para.append(line.rstrip())
    flush()
    chunks: list[Chunk] = []
    for heading, paragraphs in sections:
        for text in _pack([p for p in paragraphs if p], limit):
            chunks.append(Chunk(heading, text))
    return chunks
