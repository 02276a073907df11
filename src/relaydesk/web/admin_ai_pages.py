"""Admin pages for the AI: the knowledge base (list, search, edit, import), the AI settings (workspace
and per-inbox overrides, the provider probe) and the intents (built-in and own, training status).

The pages are read and rendered here, but their forms are sent by `static/admin_ai.js` to the JSON API
(`/api/v1/knowledge/*`, `/api/v1/ai/settings*`, `/api/v1/ai/intents*`) with the session's CSRF header,
unlike the other admin
sections. The API already does everything these writes need: embedding outside the write transaction,
import parsing with its validation errors, settings validation per key, the probe on save. A second
copy of that in the web layer would drift from it; the page shows the API's own errors instead.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response, get

from relaydesk.actions import ai_intents
from relaydesk.ai.agent.settings import DEFAULTS, PROVIDERS, merge
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.ai import AiSettings
from relaydesk.models.conversations import Label
from relaydesk.models.inboxes import Inbox
from relaydesk.models.knowledge import ARTICLE_KINDS, KnowledgeArticle, KnowledgeChunk
from relaydesk.models.workspaces import Team
from relaydesk.runtime import Runtime
from relaydesk.web.admin_pages import SECTIONS, admin_ctx
from relaydesk.web.render import WebContext, page

PAGE_SIZE = 50

# How each documented setting is edited: (key, label, kind, help). Kinds: bool, choice, number, int,
# text, list, team. The order is the page's order; every key of ai.agent.settings.DEFAULTS appears once.
SETTING_GROUPS: list[tuple[str, list[tuple[str, str, str, str]]]] = [
    (
        "Switches",
        [
            ("enabled", "AI on", "bool", "Off: no automated replies and no suggestions."),
            (
                "auto_reply",
                "Automated replies",
                "bool",
                "Off: nothing is sent to customers; suggestions stay.",
            ),
            (
                "auto_classify",
                "Classify messages",
                "bool",
                "Each customer message gets its intent's label and priority, also where people answer.",
            ),
            (
                "provider",
                "Provider",
                "choice",
                "local runs offline; openai is any OpenAI-compatible endpoint.",
            ),
        ],
    ),
    (
        "When to answer",
        [
            ("answer_min_similarity", "Answer from similarity", "number", "Best passage's cosine, 0–1."),
            (
                "clarify_min_similarity",
                "Clarify from similarity",
                "number",
                "Passages offered in the question.",
            ),
            ("intent_min_confidence", "Intent confidence needed", "number", "0–1, e.g. for talk-to-human."),
        ],
    ),
    (
        "Handoff",
        [
            ("handoff_team_id", "Hand off to team", "team", "Assigned when no team is set yet."),
            ("handoff_keywords", "Handoff phrases", "list", "One per line: these hand off at once."),
        ],
    ),
    (
        "Privacy",
        [
            ("redaction", "Redact personal data", "bool", "Before anything reaches an external LLM."),
            ("redact_contact_name", "Redact the contact's name", "bool", ""),
            ("context_messages", "Context messages", "int", "How many messages an external LLM sees."),
            ("context_max_chars", "Context characters", "int", "200–20000."),
        ],
    ),
    (
        "OpenAI-compatible endpoint",
        [
            ("openai_base_url", "Base URL", "text", "e.g. http://127.0.0.1:11434/v1 for Ollama."),
            ("openai_model", "Model", "text", ""),
            ("openai_timeout_seconds", "Timeout (seconds)", "number", "1–120 per call."),
            ("openai_max_retries", "Retries", "int", "0–5, with exponential back-off."),
        ],
    ),
]
assert sorted(k for _, fields in SETTING_GROUPS for k, *_ in fields) == sorted(DEFAULTS)


def _shown(value: Any) -> str:
    """A setting's value as the page shows it (in a field or as the inherited placeholder)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


async def _admin_page(
    request: Request, runtime: Runtime, template: str, section: str, **values: Any
) -> Response[Any]:
    ctx = await admin_ctx(request, runtime)
    if not isinstance(ctx, WebContext):
        return ctx
    loader = values.pop("_load")
    data = await loader(ctx)
    return page(request, template, ctx=ctx, sections=SECTIONS, section=section, **data, **values)


# ---- knowledge base ------------------------------------------------------------------------------------


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@get("/admin/knowledge", include_in_schema=False)
async def knowledge_list(
    request: Request,
    runtime: Runtime,
    q: str = "",
    kind: str = "",
    after: str = "",
    done: str = "",
    created: int = 0,
    updated: int = 0,
) -> Response[Any]:
    """Articles and FAQ entries, newest first, filtered by kind and by words in the title or body."""
    q = q.strip()

    async def load(ctx: WebContext) -> dict[str, Any]:
        if len(q) > 200:
            raise InvalidInput("search needs at most 200 characters")
        if kind and kind not in ARTICLE_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(ARTICLE_KINDS)}")
        try:
            after_id = uuid.UUID(after) if after else None
        except ValueError:
            raise InvalidInput("invalid page") from None
        ws = ctx.workspace.id
        stmt = sa.select(KnowledgeArticle).where(KnowledgeArticle.workspace_id == ws)
        if kind:
            stmt = stmt.where(KnowledgeArticle.kind == kind)
        if q:
            like = _like(q)
            stmt = stmt.where(
                sa.or_(
                    KnowledgeArticle.title.ilike(like, escape="\\"),
                    KnowledgeArticle.body.ilike(like, escape="\\"),
                    KnowledgeArticle.source_key.ilike(like, escape="\\"),
                )
            )
        if after_id is not None:
            stmt = stmt.where(KnowledgeArticle.id < after_id)
        async with runtime.db.read() as session:
            rows = list(
                (await session.execute(stmt.order_by(KnowledgeArticle.id.desc()).limit(PAGE_SIZE + 1)))
                .scalars()
                .all()
            )
            articles = rows[:PAGE_SIZE]
            chunk_counts = dict(
                (
                    await session.execute(
                        sa.select(KnowledgeChunk.article_id, sa.func.count())
                        .where(
                            KnowledgeChunk.workspace_id == ws,
                            KnowledgeChunk.article_id.in_([a.id for a in articles]),
                        )
                        .group_by(KnowledgeChunk.article_id)
                    )
                ).all()
            )
            totals = dict(
                (
                    await session.execute(
                        sa.select(KnowledgeArticle.kind, sa.func.count())
                        .where(KnowledgeArticle.workspace_id == ws)
                        .group_by(KnowledgeArticle.kind)
                    )
                ).all()
            )
        return {
            "articles": articles,
            "chunk_counts": chunk_counts,
            "totals": totals,
            "next_after": str(articles[-1].id) if len(rows) > PAGE_SIZE else None,
        }

    return await _admin_page(
        request,
        runtime,
        "admin/knowledge.html",
        "knowledge",
        _load=load,
        q=q,
        kind=kind,
        kinds=ARTICLE_KINDS,
        done=done if done in ("created", "updated", "deleted", "imported") else "",
        imported={"created": max(0, created), "updated": max(0, updated)},
    )


@get(["/admin/knowledge/new", "/admin/knowledge/{article_id:uuid}"], include_in_schema=False)
async def knowledge_edit(
    request: Request, runtime: Runtime, article_id: uuid.UUID | None = None
) -> Response[Any]:
    """The article form; another workspace's article id is a 404 like everywhere else."""

    async def load(ctx: WebContext) -> dict[str, Any]:
        if article_id is None:
            return {"article": None}
        async with runtime.db.read() as session:
            article = await get_scoped(session, KnowledgeArticle, ctx.workspace.id, article_id)
            chunks = (
                await session.execute(
                    sa.select(sa.func.count()).where(
                        KnowledgeChunk.workspace_id == ctx.workspace.id,
                        KnowledgeChunk.article_id == article.id,
                    )
                )
            ).scalar_one()
        return {"article": article, "chunks": chunks}

    return await _admin_page(
        request, runtime, "admin/knowledge_edit.html", "knowledge", _load=load, kinds=ARTICLE_KINDS
    )


# ---- AI settings ---------------------------------------------------------------------------------------


@get("/admin/ai", include_in_schema=False)
async def ai_settings(request: Request, runtime: Runtime, done: str = "") -> Response[Any]:
    """Workspace settings, each inbox's overrides (blank = inherit), the stored probe results."""

    async def load(ctx: WebContext) -> dict[str, Any]:
        ws = ctx.workspace.id
        async with runtime.db.read() as session:
            rows = list(
                (await session.execute(sa.select(AiSettings).where(AiSettings.workspace_id == ws))).scalars()
            )
            inboxes = list(
                (
                    await session.execute(
                        sa.select(Inbox).where(Inbox.workspace_id == ws).order_by(Inbox.name)
                    )
                ).scalars()
            )
            teams = list(
                (await session.execute(sa.select(Team).where(Team.workspace_id == ws).order_by(Team.name)))
                .scalars()
                .all()
            )
        ws_row = next((r for r in rows if r.inbox_id is None), None)
        by_inbox = {r.inbox_id: r for r in rows if r.inbox_id is not None}
        ws_config = dict(ws_row.config) if ws_row else {}
        workspace_level = merge(ws_config, None).values

        def level(row: AiSettings | None, inherited: dict[str, Any], effective: dict[str, Any]) -> dict:
            own = dict(row.config) if row else {}
            return {
                "own": {k: _shown(v) for k, v in own.items()},
                "inherited": {k: _shown(v) for k, v in inherited.items()},
                "effective": effective,
                "api_key_set": bool(row and row.api_key_sealed),
                "probe": dict(row.probe) if row and row.probe else None,
            }

        inbox_levels = []
        for inbox in inboxes:
            row = by_inbox.get(inbox.id)
            effective = merge(ws_config, dict(row.config) if row else None).values
            inbox_levels.append({"inbox": inbox, **level(row, workspace_level, effective)})
        return {
            "workspace_level": level(ws_row, DEFAULTS, workspace_level),
            "inbox_levels": inbox_levels,
            "teams": teams,
            "team_names": {str(t.id): t.name for t in teams},
        }

    return await _admin_page(
        request,
        runtime,
        "admin/ai.html",
        "ai",
        _load=load,
        groups=SETTING_GROUPS,
        providers=PROVIDERS,
        done=done if done in ("saved", "probed") else "",
    )


# ---- intents -------------------------------------------------------------------------------------------


async def _labels(session: Any, workspace_id: uuid.UUID) -> list[Label]:
    stmt = sa.select(Label).where(Label.workspace_id == workspace_id).order_by(Label.name)
    return list((await session.execute(stmt)).scalars().all())


@get("/admin/intents", include_in_schema=False)
async def intents_list(request: Request, runtime: Runtime, done: str = "") -> Response[Any]:
    """Built-in and own intents with what each does, the classifier's training status and its
    cross-validated check (accuracy, each intent's recall, the most confused pairs), a try-it box."""

    async def load(ctx: WebContext) -> dict[str, Any]:
        async with runtime.db.read() as session:
            items = await ai_intents.list_intents(session, ctx.workspace.id)
            model = await ai_intents.model_status(session, ctx.workspace.id)
            labels = await _labels(session, ctx.workspace.id)
        evaluation = (model["current"] or {}).get("evaluation") or None
        recall = {row["intent"]: row["recall"] for row in evaluation["intents"]} if evaluation else {}
        return {
            "intents": items,
            "model": model,
            "evaluation": evaluation,
            "recall": recall,
            "label_names": {str(lb.id): lb.name for lb in labels},
        }

    return await _admin_page(
        request,
        runtime,
        "admin/intents.html",
        "intents",
        _load=load,
        done=done if done in ("created", "updated", "deleted") else "",
    )


@get(["/admin/intents/new", "/admin/intents/{intent_id:uuid}"], include_in_schema=False)
async def intent_edit(
    request: Request, runtime: Runtime, intent_id: uuid.UUID | None = None
) -> Response[Any]:
    """The intent form; another workspace's intent id (built-in ids too) is a 404."""

    async def load(ctx: WebContext) -> dict[str, Any]:
        async with runtime.db.read() as session:
            intent = await ai_intents.get_intent(session, ctx.workspace.id, intent_id) if intent_id else None
            labels = await _labels(session, ctx.workspace.id)
        return {"intent": intent, "labels": labels}

    return await _admin_page(
        request,
        runtime,
        "admin/intent_edit.html",
        "intents",
        _load=load,
        priorities=ai_intents.INTENT_PRIORITIES,
    )


ROUTES = [knowledge_list, knowledge_edit, ai_settings, intents_list, intent_edit]
