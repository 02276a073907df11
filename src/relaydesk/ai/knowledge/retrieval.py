"""Hybrid retrieval over one workspace's published knowledge: BM25 + MiniLM cosine, fused by RRF.

The index is built from that workspace's rows only (every query filters on `workspace_id`) and cached
per process under a version read from the tables, so an edit is seen by the next question and one
workspace's passages never sit in another's index.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.ai.knowledge.lexical import BM25
from relaydesk.ai.providers.base import Passage
from relaydesk.models.knowledge import KnowledgeArticle, KnowledgeChunk

Embed = Callable[[Sequence[str]], np.ndarray]

RRF_K = 60
CANDIDATES = 20
DIM = 384


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    fused: float
    cosine: float
    bm25: float
    bm25_rank: int | None
    dense_rank: int | None


@dataclass
class WorkspaceIndex:
    workspace_id: uuid.UUID
    version: tuple[object, ...]
    rows: list[tuple[str, str, str, str, str | None, str]]  # chunk id, article id, title, text, url, kind
    vectors: np.ndarray  # every stored vector, one row each
    owners: np.ndarray  # the row index in `rows` each vector belongs to
    bm25: BM25

    def search(self, query: str, query_vector: np.ndarray, k: int = 5) -> list[Hit]:
        if not self.rows:
            return []
        lexical = np.asarray(self.bm25.scores(query))
        dense = np.full(len(self.rows), -1.0, dtype=np.float32)
        if len(self.vectors):
            np.maximum.at(
                dense, self.owners, self.vectors @ query_vector
            )  # a chunk scores by its best vector
        lex_order = [int(i) for i in np.argsort(-lexical)[:CANDIDATES] if lexical[i] > 0]
        dense_order = [int(i) for i in np.argsort(-dense)[:CANDIDATES]]
        lex_rank = {i: r for r, i in enumerate(lex_order)}
        dense_rank = {i: r for r, i in enumerate(dense_order)}
        fused: dict[int, float] = {}
        for ranks in (lex_rank, dense_rank):
            for i, r in ranks.items():
                fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + r + 1)
        best = sorted(fused, key=lambda i: (-fused[i], -dense[i]))[:k]
        hits = []
        for i in best:
            chunk_id, article_id, title, text, url, kind = self.rows[i]
            passage = Passage(chunk_id, article_id, title, text, url, kind, float(dense[i]))
            hits.append(
                Hit(
                    passage,
                    round(fused[i], 6),
                    round(float(dense[i]), 4),
                    round(float(lexical[i]), 4),
                    lex_rank.get(i),
                    dense_rank.get(i),
                )
            )
        return hits


_cache: OrderedDict[uuid.UUID, WorkspaceIndex] = OrderedDict()
_cache_lock = threading.Lock()
CACHE_WORKSPACES = 64


async def _version(session: AsyncSession, workspace_id: uuid.UUID) -> tuple[object, ...]:
    articles = sa.select(sa.func.count(), sa.func.max(KnowledgeArticle.updated_at)).where(
        KnowledgeArticle.workspace_id == workspace_id
    )
    chunks = sa.select(sa.func.count(), sa.func.max(KnowledgeChunk.created_at)).where(
        KnowledgeChunk.workspace_id == workspace_id
    )
    a = (await session.execute(articles)).one()
    c = (await session.execute(chunks)).one()
    return (a[0], str(a[1]), c[0], str(c[1]))


async def load_index(session: AsyncSession, workspace_id: uuid.UUID) -> WorkspaceIndex:
    """The workspace's index, rebuilt only when its knowledge changed since the cached copy."""
    version = await _version(session, workspace_id)
    with _cache_lock:
        cached = _cache.get(workspace_id)
        if cached is not None and cached.version == version:
            _cache.move_to_end(workspace_id)
            return cached
    stmt = (
        sa.select(
            KnowledgeChunk.id,
            KnowledgeChunk.article_id,
            KnowledgeArticle.title,
            KnowledgeChunk.heading,
            KnowledgeChunk.text,
            KnowledgeArticle.url,
            KnowledgeArticle.kind,
            KnowledgeChunk.embedding,
        )
        .join(KnowledgeArticle, KnowledgeArticle.id == KnowledgeChunk.article_id)
        .where(
            KnowledgeChunk.workspace_id == workspace_id,
            KnowledgeArticle.workspace_id == workspace_id,
            KnowledgeArticle.published.is_(True),
        )
        .order_by(KnowledgeChunk.article_id, KnowledgeChunk.ordinal)
    )
    rows = []
    vectors: list[np.ndarray] = []
    owners: list[int] = []
    documents = []
    for cid, aid, title, heading, text, url, kind, emb in (await session.execute(stmt)).all():
        rows.append((str(cid), str(aid), title, text, url, kind))
        # The title and section heading are part of what a passage is about.
        documents.append(f"{title}\n{heading if heading != title else ''}\n{text}")
        if emb and len(emb) % (DIM * 4) == 0:
            for vec in np.frombuffer(emb, dtype=np.float32).reshape(-1, DIM):
                vectors.append(vec)
                owners.append(len(rows) - 1)
    matrix = np.vstack(vectors) if vectors else np.zeros((0, DIM), dtype=np.float32)
    index = WorkspaceIndex(
        workspace_id, version, rows, matrix, np.asarray(owners, dtype=np.int64), BM25(documents)
    )
    with _cache_lock:
        _cache[workspace_id] = index
        _cache.move_to_end(workspace_id)
        while len(_cache) > CACHE_WORKSPACES:
            _cache.popitem(last=False)
    return index


async def retrieve(
    session: AsyncSession, workspace_id: uuid.UUID, query: str, embed: Embed, k: int = 5
) -> list[Hit]:
    index = await load_index(session, workspace_id)
    if not index.rows or not query.strip():
        return []
    return index.search(query, embed([query])[0], k)


def embed_for_storage(embed: Embed, texts: Sequence[str]) -> list[bytes]:
    """Vectors as float32 bytes for KnowledgeChunk.embedding."""
    if not texts:
        return []
    return [np.asarray(v, dtype=np.float32).tobytes() for v in embed(list(texts))]
