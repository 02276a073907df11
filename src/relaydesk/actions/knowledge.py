"""Write the knowledge base: articles and FAQ entries with their retrieval chunks.

Chunking and embedding are CPU work, so callers run `prepare` before opening the write transaction
(a SQLite writer lock must not wait on a model), then hand the prepared chunks to the action.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.ai.knowledge.chunking import chunk_article
from relaydesk.ai.knowledge.retrieval import Embed, embed_for_storage
from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.knowledge import ARTICLE_KINDS, KnowledgeArticle, KnowledgeChunk
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit

MAX_BODY = 100_000


@dataclass
class ArticleFields:
    title: str
    body: str
    kind: str = "article"
    url: str | None = None
    tags: list[str] | None = None
    published: bool = True
    source_key: str | None = None


@dataclass
class Prepared:
    fields: ArticleFields
    chunks: list[tuple[str, str, bytes]]  # heading, text, embedding


def check(fields: ArticleFields) -> ArticleFields:
    problems: dict[str, str] = {}
    title = (fields.title or "").strip()
    body = (fields.body or "").strip()
    if not title or len(title) > 300:
        problems["title"] = "required, at most 300 characters"
    if not body or len(body) > MAX_BODY:
        problems["body"] = f"required, at most {MAX_BODY} characters"
    if fields.kind not in ARTICLE_KINDS:
        problems["kind"] = f"must be one of {', '.join(ARTICLE_KINDS)}"
    url = (fields.url or "").strip() or None
    if url is not None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 2000:
            problems["url"] = "must be an http(s) URL of at most 2000 characters"
    tags = [t.strip() for t in (fields.tags or []) if isinstance(t, str) and t.strip()]
    if len(tags) > 20 or any(len(t) > 50 for t in tags):
        problems["tags"] = "at most 20 tags of at most 50 characters"
    if problems:
        raise InvalidInput("invalid article", details=problems)
    return ArticleFields(
        title, body, fields.kind, url, sorted(set(tags)), bool(fields.published), fields.source_key
    )


def prepare(fields: ArticleFields, embed: Embed) -> Prepared:
    """Validate, chunk and embed (outside any transaction)."""
    clean = check(fields)
    chunks = chunk_article(clean.title, clean.body, kind=clean.kind)
    # A FAQ entry is found by its question as much as by its answer (a long answer dilutes the vector), so
    # it gets two vectors and retrieval takes the better; an article passage is embedded with its heading.
    texts: list[str] = []
    for c in chunks:
        if clean.kind == "faq":
            texts += [clean.title, f"{clean.title}. {c.text}"]
        else:
            texts.append(f"{c.heading}. {c.text}")
    flat = embed_for_storage(embed, texts)
    per = 2 if clean.kind == "faq" else 1
    vectors = [b"".join(flat[i * per : (i + 1) * per]) for i in range(len(chunks))]
    return Prepared(clean, [(c.heading[:300], c.text, v) for c, v in zip(chunks, vectors, strict=True)])


def _add_chunks(session: AsyncSession, article: KnowledgeArticle, prepared: Prepared) -> None:
    for i, (heading, text, vector) in enumerate(prepared.chunks):
        session.add(
            KnowledgeChunk(
                workspace_id=article.workspace_id,
                article_id=article.id,
                ordinal=i,
                heading=heading,
                text=text,
                embedding=vector,
            )
        )


async def create_article(
    session: AsyncSession, workspace_id: uuid.UUID, prepared: Prepared
) -> KnowledgeArticle:
    f = prepared.fields
    article = KnowledgeArticle(
        workspace_id=workspace_id,
        kind=f.kind,
        title=f.title,
        body=f.body,
        url=f.url,
        tags=f.tags or [],
        published=f.published,
        source_key=f.source_key,
        updated_at=utcnow(),
    )
    session.add(article)
    await session.flush()
    _add_chunks(session, article, prepared)
    await session.flush()
    await emit(session, workspace_id, events.article_created(article))
    return article


async def update_article(
    session: AsyncSession, workspace_id: uuid.UUID, article_id: uuid.UUID, prepared: Prepared
) -> KnowledgeArticle:
    """Replace an article's content and its chunks (the index sees the new version on the next query)."""
    article = await get_scoped(session, KnowledgeArticle, workspace_id, article_id, for_update=True)
    f = prepared.fields
    article.kind, article.title, article.body, article.url = f.kind, f.title, f.body, f.url
    article.tags, article.published, article.updated_at = f.tags or [], f.published, utcnow()
    await session.execute(
        sa.delete(KnowledgeChunk).where(
            KnowledgeChunk.workspace_id == workspace_id, KnowledgeChunk.article_id == article.id
        )
    )
    _add_chunks(session, article, prepared)
    await session.flush()
    await emit(session, workspace_id, events.article_updated(article))
    return article


async def delete_article(session: AsyncSession, workspace_id: uuid.UUID, article_id: uuid.UUID) -> None:
    article = await get_scoped(session, KnowledgeArticle, workspace_id, article_id)
    deleted = events.article_deleted(article)
    await session.execute(
        sa.delete(KnowledgeChunk).where(
            KnowledgeChunk.workspace_id == workspace_id, KnowledgeChunk.article_id == article.id
        )
    )
    await session.delete(article)
    await session.flush()
    await emit(session, workspace_id, deleted)


async def import_articles(
    session: AsyncSession, workspace_id: uuid.UUID, prepared: Sequence[Prepared]
) -> tuple[list[KnowledgeArticle], int]:
    """Create the imported articles; one with the same source key as an earlier import is updated instead,
    so importing a file again does not duplicate it. Returns the articles and how many were updated."""
    keys = [p.fields.source_key for p in prepared if p.fields.source_key]
    existing: dict[str, uuid.UUID] = {}
    if keys:
        rows = await session.execute(
            sa.select(KnowledgeArticle.source_key, KnowledgeArticle.id).where(
                KnowledgeArticle.workspace_id == workspace_id, KnowledgeArticle.source_key.in_(keys)
            )
        )
        existing = {k: i for k, i in rows.all() if k}
    out: list[KnowledgeArticle] = []
    updated = 0
    for p in prepared:
        if p.fields.source_key in existing:
            out.append(await update_article(session, workspace_id, existing[p.fields.source_key], p))
            updated += 1
        else:
            out.append(await create_article(session, workspace_id, p))
    return out, updated
