"""Agent assist: what the inbox shows beside a conversation to help a person answer it.

Suggested replies come from two places: the knowledge base (the passage the AI would quote) and the
workspace's own past agent replies to similar customer messages. Everything is read-only and computed
on request; message texts are read through privacy.storage and never stored here.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import OrderedDict
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.ai.agent import understanding, workspace_intents
from relaydesk.ai.agent.summary import extractive_summary
from relaydesk.ai.knowledge.retrieval import retrieve
from relaydesk.ai.providers.local import LocalProvider
from relaydesk.ai.sentiment import label_for, trend
from relaydesk.db.scoping import get_scoped
from relaydesk.models.contacts import Contact
from relaydesk.models.conversations import Conversation, Label
from relaydesk.models.messages import Message
from relaydesk.privacy import storage

PAST_MESSAGES = 400
SUGGEST_MIN_SIMILARITY = 0.55
LABEL_MIN_SIMILARITY = 0.3

# Vectors of past customer messages by message id: the texts change never, so the cache is always right;
# bounded so a busy workspace cannot grow it without end.
_vectors: OrderedDict[uuid.UUID, np.ndarray] = OrderedDict()
_vectors_lock = threading.Lock()
_VECTOR_CACHE = 20_000


def _embed_cached(items: list[tuple[uuid.UUID, str]]) -> dict[uuid.UUID, np.ndarray]:
    with _vectors_lock:
        found = {i: _vectors[i] for i, _ in items if i in _vectors}
    missing = [(i, t) for i, t in items if i not in found]
    if missing:
        vectors = understanding.embed([t for _, t in missing])
        with _vectors_lock:
            for (i, _), v in zip(missing, vectors, strict=True):
                _vectors[i] = v
                found[i] = v
            while len(_vectors) > _VECTOR_CACHE:
                _vectors.popitem(last=False)
    return found


async def _past_replies(
    session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID, query_vector: np.ndarray
) -> list[dict[str, Any]]:
    """Agents' replies that followed a customer message like this one, in other conversations."""
    rows = (
        (
            await session.execute(
                sa.select(Message)
                .where(
                    Message.workspace_id == workspace_id,
                    Message.conversation_id != conversation_id,
                    Message.message_type.in_(("incoming", "outgoing")),
                )
                .order_by(Message.created_at.desc())
                .limit(PAST_MESSAGES)
            )
        )
        .scalars()
        .all()
    )
    by_conv: dict[uuid.UUID, list[Message]] = {}
    for m in reversed(rows):
        by_conv.setdefault(m.conversation_id, []).append(m)
    pairs: list[tuple[Message, Message]] = []
    for thread in by_conv.values():
        for prev, nxt in itertools.pairwise(thread):
            if (
                prev.message_type == "incoming"
                and nxt.message_type == "outgoing"
                and nxt.sender_kind == "agent"
            ):
                pairs.append((prev, nxt))
    if not pairs:
        return []
    texts = [(q.id, storage.read_message_content(q) or "") for q, _ in pairs]
    vectors = _embed_cached([t for t in texts if t[1].strip()])
    scored = []
    for question, reply in pairs:
        vec = vectors.get(question.id)
        if vec is None:
            continue
        sim = float(vec @ query_vector)
        if sim >= SUGGEST_MIN_SIMILARITY:
            scored.append((sim, reply))
    scored.sort(key=lambda x: -x[0])
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for sim, reply in scored:
        text = storage.read_message_content(reply) or ""
        if text and text not in seen:
            seen.add(text)
            out.append(
                {
                    "source": "past_reply",
                    "text": text,
                    "score": round(sim, 4),
                    "message_id": str(reply.id),
                    "conversation_id": str(reply.conversation_id),
                }
            )
        if len(out) == 3:
            break
    return out


async def assist(
    session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> dict[str, Any]:
    conv = await get_scoped(session, Conversation, workspace_id, conversation_id)
    rows = (
        (
            await session.execute(
                sa.select(Message)
                .where(
                    Message.workspace_id == workspace_id,
                    Message.conversation_id == conv.id,
                    Message.message_type.in_(("incoming", "outgoing")),
                )
                .order_by(Message.ordered_at.desc(), Message.id.desc())  # thread order
                .limit(30)
            )
        )
        .scalars()
        .all()
    )
    thread = list(reversed(rows))
    customer = [storage.read_message_content(m) or "" for m in thread if m.message_type == "incoming"]
    customer = [t for t in customer if t.strip()]
    result: dict[str, Any] = {
        "conversation_id": str(conv.id),
        "suggested_replies": [],
        "summary": [],
        "intent": None,
        "sentiment": None,
        "suggested_labels": [],
    }
    if not customer:
        return result
    restricted = await session.execute(
        sa.select(Contact.restricted_at).where(
            Contact.workspace_id == workspace_id, Contact.id == conv.contact_id
        )
    )
    if restricted.scalar_one_or_none() is not None:
        result["restricted"] = True  # processing restricted (actions/subject_rights.py): no AI over it
        return result
    last = customer[-1]
    query_vector = understanding.embed([last])[0]
    hits = await retrieve(session, workspace_id, last, understanding.embed, k=3)
    suggestions: list[dict[str, Any]] = []
    local = LocalProvider(understanding.embed)
    for hit in hits:
        if hit.cosine < SUGGEST_MIN_SIMILARITY - 0.1:
            continue
        answer = await local.answer(last, [hit.passage])
        if answer.text:
            suggestions.append(
                {
                    "source": "knowledge",
                    "text": answer.text,
                    "score": hit.cosine,
                    "article_id": hit.passage.article_id,
                    "title": hit.passage.title,
                    "url": hit.passage.url,
                }
            )
        if len(suggestions) == 2:
            break
    suggestions += await _past_replies(session, workspace_id, conv.id, query_vector)
    result["suggested_replies"] = sorted(suggestions, key=lambda s: -s["score"])
    result["summary"] = extractive_summary(customer, understanding.embed)
    scores = [understanding.sentiment(t) for t in customer[-5:]]
    result["sentiment"] = {
        "last": scores[-1],
        "label": label_for(scores[-1]),
        "trend": trend(scores),
        "scores": scores,  # per customer message, oldest first: the inbox draws the trend from these
    }
    # The workspace's own model when a version is ready (its intents and phrases), else the built-in one.
    intent = await workspace_intents.detect(session, workspace_id, last)
    if intent is not None:
        result["intent"] = {
            "name": intent.name,
            "confidence": intent.confidence,
            "out_of_scope": intent.out_of_scope,
            "model_version": intent.model_version,
            "handoff": intent.handoff,
            "label_id": intent.label_id,
            "priority": intent.priority,
        }
    mapped_label = intent.label_id if intent is not None and not intent.out_of_scope else None
    labels = (
        (await session.execute(sa.select(Label).where(Label.workspace_id == workspace_id))).scalars().all()
    )
    if labels:
        conversation_vector = understanding.embed([" ".join(customer[-5:])[:2000]])[0]
        label_vectors = understanding.embed(
            [f"{lb.name.replace('-', ' ').replace('_', ' ')}. {lb.description}" for lb in labels]
        )
        sims = label_vectors @ conversation_vector
        ranked = sorted(zip(labels, sims, strict=True), key=lambda x: -float(x[1]))
        result["suggested_labels"] = [
            {"label_id": str(lb.id), "name": lb.name, "score": round(float(s), 4)}
            for lb, s in ranked[:3]
            if float(s) >= LABEL_MIN_SIMILARITY or (intent is not None and intent.name == lb.name)
        ]
        # The label the workspace mapped to the detected intent leads the suggestions.
        if mapped_label is not None:
            mapped = next((lb for lb in labels if str(lb.id) == mapped_label), None)
            rest = [x for x in result["suggested_labels"] if x["label_id"] != mapped_label]
            if mapped is not None and intent is not None:
                lead = {"label_id": mapped_label, "name": mapped.name, "score": round(intent.confidence, 4)}
                result["suggested_labels"] = [lead, *rest][:3]
    return result
