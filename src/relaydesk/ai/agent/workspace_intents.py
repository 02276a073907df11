"""Each workspace's own intent classifier: training it, and loading the newest ready version on demand.

Training (`train`) is plain CPU work and runs in a worker thread from the `ai.train_intents` job, so
the event loop keeps answering while it fits; it also cross-validates the phrases (ai/evaluation.py) so
the admin sees which intents the model confuses. Serving (`detect`) looks up the newest ready version with
one small query; the classifier itself is loaded from its blob once per process and version and kept in a
bounded LRU cache, so a busy worker does not unpack the model per message and a process serving many
workspaces does not hold every model at once. A workspace with no ready version uses the built-in model.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions.ai_intents import intent_rules
from relaydesk.ai.agent.understanding import Intent, detect_intent
from relaydesk.ai.default_intents import as_training_pairs
from relaydesk.ai.embeddings import default_embedder
from relaydesk.ai.evaluation import SharedVectors, cross_validate
from relaydesk.ai.intent import IntentClassifier
from relaydesk.models.ai import AiIntentModel

log = logging.getLogger(__name__)

CACHE_SIZE = 16

_cache: OrderedDict[uuid.UUID, tuple[int, IntentClassifier]] = OrderedDict()
_cache_lock = threading.Lock()


def train(intents: Mapping[str, Sequence[str]]) -> tuple[bytes, dict[str, Any] | None]:
    """Fit a classifier on `{intent: phrases}`; return its serialised form and the cross-validated
    estimate of its accuracy (blocking: run in a thread). The estimate is best effort: if it fails, the
    model ships without one rather than not at all."""
    texts, labels = as_training_pairs(intents)
    vectors = SharedVectors(default_embedder())  # the folds reuse the main fit's MiniLM vectors
    blob = IntentClassifier(embedder=vectors).fit(texts, labels).to_bytes()  # type: ignore[arg-type]
    try:
        estimate = cross_validate(texts, labels, embedder=vectors)
    except Exception:
        log.warning("cross-validating the intent model failed", exc_info=True)
        estimate = None
    return blob, estimate.to_dict() if estimate else None


def _cached(workspace_id: uuid.UUID, version: int) -> IntentClassifier | None:
    with _cache_lock:
        hit = _cache.get(workspace_id)
        if hit is None or hit[0] != version:
            return None
        _cache.move_to_end(workspace_id)
        return hit[1]


def _remember(workspace_id: uuid.UUID, version: int, model: IntentClassifier) -> None:
    with _cache_lock:
        current = _cache.get(workspace_id)
        if current is not None and current[0] > version:
            return  # a newer version was loaded meanwhile: keep it
        _cache[workspace_id] = (version, model)
        _cache.move_to_end(workspace_id)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def forget(workspace_id: uuid.UUID | None = None) -> None:
    """Drop cached models (one workspace's, or all)."""
    with _cache_lock:
        if workspace_id is None:
            _cache.clear()
        else:
            _cache.pop(workspace_id, None)


async def workspace_model(
    session: AsyncSession, workspace_id: uuid.UUID
) -> tuple[int | None, IntentClassifier | None]:
    """(version, classifier) of the newest ready version; (None, None) when the workspace has none.

    A blob that cannot be loaded (e.g. written by an incompatible release) is treated as absent, so the
    built-in model serves instead of no model at all."""
    newest = (
        await session.execute(
            sa.select(AiIntentModel.id, AiIntentModel.version)
            .where(AiIntentModel.workspace_id == workspace_id, AiIntentModel.state == "ready")
            .order_by(AiIntentModel.version.desc())
            .limit(1)
        )
    ).first()
    if newest is None:
        return None, None
    model_id, version = newest
    model = _cached(workspace_id, version)
    if model is not None:
        return version, model
    blob = (
        await session.execute(
            sa.select(AiIntentModel.model_bytes).where(
                AiIntentModel.workspace_id == workspace_id, AiIntentModel.id == model_id
            )
        )
    ).scalar_one_or_none()
    if not blob:
        return None, None
    try:
        model = await asyncio.to_thread(IntentClassifier.from_bytes, blob)
    except Exception:
        return None, None
    _remember(workspace_id, version, model)
    return version, model


def apply_rules(intent: Intent, rules: Mapping[str, Mapping[str, Any]], version: int | None) -> Intent:
    """Attach what the workspace wants done on this intent (handoff, label, priority). An intent the
    workspace disabled after the model was trained counts as out of scope until the retraining lands."""
    rule = rules.get(intent.name, {})
    return Intent(
        intent.name,
        intent.confidence,
        intent.out_of_scope or not rule.get("enabled", True),
        handoff=bool(rule.get("handoff")),
        label_id=rule.get("label_id"),
        priority=rule.get("priority"),
        model_version=version,
        alternatives=intent.alternatives,
    )


async def detect(session: AsyncSession, workspace_id: uuid.UUID, text: str) -> Intent | None:
    """The intent of `text` by the workspace's model (or the built-in one), with the workspace's rules.
    The prediction runs in a worker thread; None when no model can be used (see `detect_intent`)."""
    version, model = await workspace_model(session, workspace_id)
    rules = await intent_rules(session, workspace_id)
    intent = await asyncio.to_thread(detect_intent, text, model)
    if intent is None:
        return None
    return apply_rules(intent, rules, version)
