"""Knowledge base API: articles and FAQ entries (CRUD), import from Markdown/HTML/CSV, search preview.

Agents read (they quote articles to customers); admins write. Chunking and embedding run before the
write transaction opens, in a worker thread, so a long article never holds the database writer.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import delete, get, patch, post
from litestar.params import Parameter

from relaydesk.actions import knowledge as kb
from relaydesk.ai.agent.understanding import embed
from relaydesk.ai.knowledge.importers import parse_import
from relaydesk.ai.knowledge.retrieval import retrieve
from relaydesk.auth.guards import requires_admin, requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.knowledge import KnowledgeArticle, KnowledgeChunk
from relaydesk.queries.pagination import check_limit, decode_cursor, encode_cursor
from relaydesk.runtime import Runtime


class ArticleCreate(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    body: str
    kind: str = "article"
    url: str | None = None
    tags: list[str] = []
    published: bool = True


class ArticleUpdate(msgspec.Struct, forbid_unknown_fields=True):
    title: str | msgspec.UnsetType = msgspec.UNSET
    body: str | msgspec.UnsetType = msgspec.UNSET
    kind: str | msgspec.UnsetType = msgspec.UNSET
    url: str | msgspec.UnsetType | None = msgspec.UNSET
    tags: list[str] | msgspec.UnsetType = msgspec.UNSET
    published: bool | msgspec.UnsetType = msgspec.UNSET


class ImportFile(msgspec.Struct, forbid_unknown_fields=True):
    filename: str
    content: str
    content_type: str | None = None
    published: bool = True


class SearchQuery(msgspec.Struct, forbid_unknown_fields=True):
    query: str
    limit: int = 5


def article_json(a: KnowledgeArticle, chunks: int | None = None) -> dict[str, Any]:
    out = {
        "id": str(a.id),
        "kind": a.kind,
        "title": a.title,
        "body": a.body,
        "url": a.url,
        "tags": list(a.tags or []),
        "published": a.published,
        "source_key": a.source_key,
        "created_at": a.created_at.isoformat(),
        "updated_at": a.updated_at.isoformat(),
    }
    if chunks is not None:
        out["chunks"] = chunks
    return out


async def _chunk_count(runtime: Runtime, workspace_id: uuid.UUID, article_id: uuid.UUID) -> int:
    async with runtime.db.read() as session:
        return (
            await session.execute(
                sa.select(sa.func.count()).where(
                    KnowledgeChunk.workspace_id == workspace_id, KnowledgeChunk.article_id == article_id
                )
            )
        ).scalar_one()


@get("/knowledge/articles", guards=[requires_agent])
async def articles_index(
    principal: Principal,
    runtime: Runtime,
    kind: str | None = None,
    published: bool | None = None,
    cursor: str | None = None,
    limit: int = Parameter(default=50, ge=1, le=100),
) -> dict[str, Any]:
    """Newest first; keyset pagination by `cursor`."""
    check_limit(limit)
    stmt = sa.select(KnowledgeArticle).where(KnowledgeArticle.workspace_id == principal.workspace_id)
    if kind is not None:
        stmt = stmt.where(KnowledgeArticle.kind == kind)
    if published is not None:
        stmt = stmt.where(KnowledgeArticle.published.is_(published))
    after = decode_cursor(cursor, 1)
    if after is not None:
        try:
            stmt = stmt.where(KnowledgeArticle.id < uuid.UUID(str(after[0])))
        except ValueError:
            raise InvalidInput("invalid cursor") from None
    async with runtime.db.read() as session:
        rows = (
            (await session.execute(stmt.order_by(KnowledgeArticle.id.desc()).limit(limit + 1)))
            .scalars()
            .all()
        )
    items = [article_json(a) for a in rows[:limit]]
    return {"items": items, "next_cursor": encode_cursor([items[-1]["id"]]) if len(rows) > limit else None}


@get("/knowledge/articles/{article_id:uuid}", guards=[requires_agent])
async def articles_show(article_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        article = await get_scoped(session, KnowledgeArticle, principal.workspace_id, article_id)
    return article_json(article, await _chunk_count(runtime, principal.workspace_id, article_id))


@post("/knowledge/articles", guards=[requires_admin])
async def articles_create(data: ArticleCreate, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    fields = kb.ArticleFields(data.title, data.body, data.kind, data.url, data.tags, data.published)
    prepared = await asyncio.to_thread(kb.prepare, fields, embed)
    async with runtime.db.write() as session:
        article = await kb.create_article(session, principal.workspace_id, prepared)
    return article_json(article, len(prepared.chunks))


@patch("/knowledge/articles/{article_id:uuid}", guards=[requires_admin])
async def articles_update(
    article_id: uuid.UUID, data: ArticleUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    sent = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if not sent:
        raise InvalidInput("nothing to change")
    async with runtime.db.read() as session:
        current = await get_scoped(session, KnowledgeArticle, principal.workspace_id, article_id)
    fields = kb.ArticleFields(
        sent.get("title", current.title),
        sent.get("body", current.body),
        sent.get("kind", current.kind),
        sent.get("url", current.url),
        sent.get("tags", current.tags),
        sent.get("published", current.published),
        current.source_key,
    )
    prepared = await asyncio.to_thread(kb.prepare, fields, embed)
    async with runtime.db.write() as session:
        article = await kb.update_article(session, principal.workspace_id, article_id, prepared)
    return article_json(article, len(prepared.chunks))


@delete("/knowledge/articles/{article_id:uuid}", guards=[requires_admin])
async def articles_delete(article_id: uuid.UUID, principal: Principal, runtime: Runtime) -> None:
    async with runtime.db.write() as session:
        await kb.delete_article(session, principal.workspace_id, article_id)


@post("/knowledge/import", guards=[requires_admin], status_code=201)
async def articles_import(data: ImportFile, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """One Markdown or HTML page (one article) or a CSV of FAQ entries; the whole file or nothing.
    Importing the same file name again updates the articles it created."""
    drafts = parse_import(data.content.encode(), data.filename, data.content_type)

    def _prepare_all() -> list[kb.Prepared]:
        out = []
        for d in drafts:
            try:
                out.append(
                    kb.prepare(
                        kb.ArticleFields(
                            d.title, d.body, d.kind, d.url, d.tags, data.published, d.source_key
                        ),
                        embed,
                    )
                )
            except InvalidInput as exc:
                raise InvalidInput(f"{d.source_key}: {exc.message}", details=exc.details) from None
        return out

    prepared = await asyncio.to_thread(_prepare_all)
    async with runtime.db.write() as session:
        articles, updated = await kb.import_articles(session, principal.workspace_id, prepared)
    return {
        "created": len(articles) - updated,
        "updated": updated,
        "items": [article_json(a) for a in articles],
    }


@post("/knowledge/search", guards=[requires_agent], status_code=200, opt={"scope_access": "read"})
async def knowledge_search(data: SearchQuery, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """What retrieval finds for a question: the passages the AI would answer from, with their scores."""
    if not data.query.strip() or len(data.query) > 2000:
        raise InvalidInput("query must be 1 to 2000 characters")
    if not 1 <= data.limit <= 20:
        raise InvalidInput("limit must be between 1 and 20")
    async with runtime.db.read() as session:
        hits = await retrieve(session, principal.workspace_id, data.query, embed, k=data.limit)
    return {
        "items": [
            {
                "article_id": h.passage.article_id,
                "chunk_id": h.passage.chunk_id,
                "title": h.passage.title,
                "url": h.passage.url,
                "kind": h.passage.kind,
                "text": h.passage.text,
                "cosine": h.cosine,
                "bm25": h.bm25,
                "fused": h.fused,
            }
            for h in hits
        ]
    }


SCOPE_FAMILY = "knowledge"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [
    articles_index,
    articles_show,
    articles_create,
    articles_update,
    articles_delete,
    articles_import,
    knowledge_search,
]
