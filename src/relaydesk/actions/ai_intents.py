"""Workspace intents: create, change, disable and delete them, and keep their classifier retrained.

A workspace starts with the built-in customer-service intents (`ai.default_intents`). It adds its own
intents and example phrases, adds phrases to the built-in ones, or disables them (built-ins are never
deleted, so the handoff policy's `talk_to_human` and friends cannot vanish by accident). Every change that
alters what the classifier learns enqueues one debounced `ai.train_intents` job in the same transaction;
a burst of edits moves that one job later instead of queueing one training per click.

Model versions (`AiIntentModel`) move queued -> training -> ready | failed. The newest *ready* version
serves; a failed or running training never takes the previous model away.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.ai.default_intents import DEFAULT_INTENTS
from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import Conflict, InvalidInput, NotFound
from relaydesk.jobs.outbox import enqueue
from relaydesk.models.ai import AiIntent, AiIntentModel
from relaydesk.models.conversations import PRIORITIES, Label
from relaydesk.models.jobs import Job
from relaydesk.privacy import audit
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit

TRAIN_JOB = "ai.train_intents"
# A training failure is usually the data or the machine, not a blip: three tries, then dead-letter.
TRAIN_MAX_ATTEMPTS = 3
# Edits within this many seconds of each other share one training; a steady stream of edits still
# trains at most this long after the first one was queued.
RETRAIN_DEBOUNCE_SECONDS = 10.0
RETRAIN_MAX_DELAY_SECONDS = 60.0

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,59}$")
RESERVED_NAMES = frozenset({"out_of_scope"})
MAX_EXAMPLES = 500
MAX_EXAMPLE_CHARS = 500
MAX_DESCRIPTION_CHARS = 500
# Bounds on one workspace's training set, so one training stays within about a minute on 2 cores.
MAX_CUSTOM_INTENTS = 200
MAX_WORKSPACE_EXAMPLES = 5000
# Priorities an intent may raise a conversation to ("none" would never raise anything).
INTENT_PRIORITIES = tuple(p for p in PRIORITIES if p != "none")
MODEL_STATES = ("queued", "training", "ready", "failed")

# Fields whose change alters the classifier (the others are read at decision time, no retraining needed).
_TRAINING_FIELDS = frozenset({"name", "examples", "enabled"})
_BUILTIN_NAMESPACE = uuid.UUID("5b0e7d4c-6f1a-4c3e-9a57-3f0f1c2d9e10")


def builtin_id(workspace_id: uuid.UUID, name: str) -> uuid.UUID:
    """The stable id of a built-in intent in one workspace: the same before and after its first change,
    and different in every workspace (another workspace's id is a 404 like any other)."""
    return uuid.uuid5(_BUILTIN_NAMESPACE, f"{workspace_id}/{name}")


# --- reading --------------------------------------------------------------------------------------------


async def _rows(session: AsyncSession, workspace_id: uuid.UUID) -> list[AiIntent]:
    return list(
        (
            await session.execute(
                sa.select(AiIntent).where(AiIntent.workspace_id == workspace_id).order_by(AiIntent.name)
            )
        )
        .scalars()
        .all()
    )


def intent_state(workspace_id: uuid.UUID, name: str, row: AiIntent | None) -> dict[str, Any]:
    """One intent as the API shows it; a built-in intent with no row shows its shipped state."""
    builtin = name in DEFAULT_INTENTS
    return {
        "id": str(row.id if row is not None else builtin_id(workspace_id, name)),
        "name": name,
        "description": row.description if row is not None else "",
        "builtin": builtin,
        "enabled": row.enabled if row is not None else True,
        "handoff": row.handoff if row is not None else False,
        "label_id": str(row.label_id) if row is not None and row.label_id else None,
        "priority": row.priority if row is not None else None,
        # The workspace's own phrases; for a built-in intent, the ones it added to `default_examples`.
        "examples": list(row.examples or []) if row is not None else [],
        "default_examples": list(DEFAULT_INTENTS.get(name, ())),
        "customized": row is not None,
        "updated_at": row.updated_at.isoformat() if row is not None else None,
    }


async def list_intents(session: AsyncSession, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
    """Built-in intents first (shipped order), then the workspace's own by name."""
    rows = {r.name: r for r in await _rows(session, workspace_id)}
    out = [intent_state(workspace_id, name, rows.get(name)) for name in DEFAULT_INTENTS]
    out += [intent_state(workspace_id, r.name, r) for r in rows.values() if r.name not in DEFAULT_INTENTS]
    return out


async def _find(
    session: AsyncSession, workspace_id: uuid.UUID, intent_id: uuid.UUID
) -> tuple[str, AiIntent | None]:
    """(name, row) for an id of this workspace: a stored row, or a built-in intent not changed yet."""
    row = (
        await session.execute(
            sa.select(AiIntent).where(AiIntent.workspace_id == workspace_id, AiIntent.id == intent_id)
        )
    ).scalar_one_or_none()
    if row is not None:
        return row.name, row
    for name in DEFAULT_INTENTS:
        if builtin_id(workspace_id, name) == intent_id:
            return name, None
    raise NotFound("intent not found")


async def get_intent(session: AsyncSession, workspace_id: uuid.UUID, intent_id: uuid.UUID) -> dict[str, Any]:
    name, row = await _find(session, workspace_id, intent_id)
    return intent_state(workspace_id, name, row)


async def training_intents(session: AsyncSession, workspace_id: uuid.UUID) -> dict[str, list[str]]:
    """What the workspace's classifier learns: enabled built-ins with their added phrases, plus the
    workspace's enabled intents. Duplicate phrases are dropped case-insensitively."""
    rows = {r.name: r for r in await _rows(session, workspace_id)}
    out: dict[str, list[str]] = {}
    for name, phrases in DEFAULT_INTENTS.items():
        row = rows.get(name)
        if row is not None and not row.enabled:
            continue
        out[name] = [*phrases, *(row.examples if row is not None else [])]
    for name, row in rows.items():
        if name not in DEFAULT_INTENTS and row.enabled:
            out[name] = list(row.examples or [])
    for name, phrases in out.items():
        seen: set[str] = set()
        out[name] = [p for p in phrases if not (p.casefold() in seen or seen.add(p.casefold()))]
    return out


async def intent_rules(session: AsyncSession, workspace_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """Per intent name: enabled, handoff, label id and priority — what a detected intent *does*, read at
    decision time so flipping `handoff` works at once, without waiting for a retraining."""
    rows = (
        await session.execute(
            sa.select(
                AiIntent.name, AiIntent.enabled, AiIntent.handoff, AiIntent.label_id, AiIntent.priority
            ).where(AiIntent.workspace_id == workspace_id)
        )
    ).all()
    return {
        name: {
            "enabled": enabled,
            "handoff": handoff,
            "label_id": str(label_id) if label_id else None,
            "priority": priority,
        }
        for name, enabled, handoff, label_id, priority in rows
    }


# --- validation -----------------------------------------------------------------------------------------


def _clean_examples(value: Any, *, builtin: bool) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise InvalidInput("examples must be a list of strings")
    cleaned = [" ".join(e.split()) for e in value]
    low = 0 if builtin else 1
    if not low <= len(cleaned) <= MAX_EXAMPLES:
        raise InvalidInput(f"examples must hold {low} to {MAX_EXAMPLES} phrases")
    bad = [i for i, e in enumerate(cleaned) if not 1 <= len(e) <= MAX_EXAMPLE_CHARS]
    if bad:
        raise InvalidInput(
            f"each example must be 1 to {MAX_EXAMPLE_CHARS} characters", details={"examples": bad[:20]}
        )
    seen: dict[str, int] = {}
    for i, e in enumerate(cleaned):
        if e.casefold() in seen:
            raise InvalidInput(
                "examples contain the same phrase twice", details={"examples": [seen[e.casefold()], i]}
            )
        seen[e.casefold()] = i
    return cleaned


async def _clean(
    session: AsyncSession, workspace_id: uuid.UUID, fields: Mapping[str, Any], *, builtin: bool
) -> dict[str, Any]:
    """Validate the sent fields one by one (types come from the API's decoder, ranges here)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "name":
            if not isinstance(value, str) or not NAME_RE.match(value) or value in RESERVED_NAMES:
                raise InvalidInput(
                    "name must be 2 to 60 lowercase letters, digits or underscores, starting with a letter"
                )
        elif key == "description":
            value = "" if value is None else value
            if not isinstance(value, str) or len(value) > MAX_DESCRIPTION_CHARS:
                raise InvalidInput(f"description must be at most {MAX_DESCRIPTION_CHARS} characters")
            value = value.strip()
        elif key == "examples":
            value = _clean_examples(value, builtin=builtin)
        elif key in ("enabled", "handoff"):
            if not isinstance(value, bool):
                raise InvalidInput(f"{key} must be true or false")
        elif key == "priority":
            if value is not None and value not in INTENT_PRIORITIES:
                raise InvalidInput(f"priority must be null or one of {', '.join(INTENT_PRIORITIES)}")
        elif key == "label_id":
            if value is not None:
                try:
                    value = uuid.UUID(str(value))
                except ValueError:
                    raise InvalidInput("label_id must be a label id") from None
                await get_scoped(session, Label, workspace_id, value)
        else:
            raise InvalidInput(f"unknown field {key}")
        out[key] = value
    return out


async def _check_name_free(
    session: AsyncSession, workspace_id: uuid.UUID, name: str, own_id: uuid.UUID | None
) -> None:
    """Names are unique per workspace, built-in names included (checked before the row is written)."""
    if name in DEFAULT_INTENTS and own_id != builtin_id(workspace_id, name):
        raise Conflict(f"{name} is a built-in intent: change it instead")
    taken = (
        await session.execute(
            sa.select(AiIntent.id).where(AiIntent.workspace_id == workspace_id, AiIntent.name == name)
        )
    ).scalar_one_or_none()
    if taken is not None and taken != own_id:
        raise Conflict(f"an intent named {name} already exists")


async def _check_workspace(session: AsyncSession, workspace_id: uuid.UUID, changed: AiIntent | None) -> None:
    """Whole-workspace rules after a change: no phrase taught to two intents, at least two intents left to tell apart, and the size bounds."""
    rows = await _rows(session, workspace_id)
    custom = [r for r in rows if not r.builtin]
    if len(custom) > MAX_CUSTOM_INTENTS:
        raise InvalidInput(f"a workspace can have at most {MAX_CUSTOM_INTENTS} intents of its own")
    if sum(len(r.examples or []) for r in rows) > MAX_WORKSPACE_EXAMPLES:
        raise InvalidInput(f"a workspace can have at most {MAX_WORKSPACE_EXAMPLES} example phrases in all")
    data = await training_intents(session, workspace_id)
    if len(data) < 2:
        raise InvalidInput("at least two intents must stay enabled")
    if changed is not None and changed.enabled:
        mine = {e.casefold() for e in data.get(changed.name, [])}
        for other, phrases in data.items():
            if other == changed.name:
                continue
            clash = sorted({p for p in phrases if p.casefold() in mine})
            if clash:
                raise InvalidInput(
                    f"example {clash[0]!r} is already an example of intent {other}",
                    details={"intent": other, "examples": clash[:20]},
                )


async def _lock(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Serialise intent writes per workspace (name checks, version numbers). SQLite writers already are
    (BEGIN IMMEDIATE); on PostgreSQL a transaction-scoped advisory lock, backed by the UNIQUE constraints."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"relaydesk-intents:{workspace_id}"},
        )


# --- writing --------------------------------------------------------------------------------------------


async def _changed(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    row: AiIntent,
    action: str,
    keys: Sequence[str],
    actor_id: uuid.UUID | None,
) -> None:
    await audit.record(
        session,
        workspace_id,
        action,
        actor_id=actor_id,
        target_type="ai_intent",
        target_id=row.id,
        # The intent's name and which fields changed; phrases are configuration, not audit material.
        metadata={"name": row.name, "keys": sorted(keys)},
    )
    await emit(session, workspace_id, events.ai_intents_updated(row.id, action.rsplit("_", 1)[-1], actor_id))
    if set(keys) & _TRAINING_FIELDS:
        await request_retrain(session, workspace_id)


async def create_intent(
    session: AsyncSession, workspace_id: uuid.UUID, fields: Mapping[str, Any], *, actor_id: uuid.UUID | None
) -> AiIntent:
    """A new intent of the workspace's own: name and 1-500 examples required."""
    await _lock(session, workspace_id)
    if "name" not in fields or "examples" not in fields:
        raise InvalidInput("name and examples are required")
    clean = await _clean(session, workspace_id, fields, builtin=False)
    await _check_name_free(session, workspace_id, clean["name"], None)
    row = AiIntent(workspace_id=workspace_id, builtin=False, **{"description": "", **clean})
    session.add(row)
    await session.flush()
    await _check_workspace(session, workspace_id, row)
    await _changed(session, workspace_id, row, "ai.intent_created", list(clean), actor_id)
    return row


async def update_intent(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    intent_id: uuid.UUID,
    fields: Mapping[str, Any],
    *,
    actor_id: uuid.UUID | None,
) -> AiIntent:
    """Change an intent. A built-in intent keeps its name; its first change stores the row under its
    stable id, holding only what the workspace changed."""
    await _lock(session, workspace_id)
    name, row = await _find(session, workspace_id, intent_id)
    builtin = name in DEFAULT_INTENTS
    if not fields:
        raise InvalidInput("nothing to change")
    clean = await _clean(session, workspace_id, fields, builtin=builtin)
    if builtin and clean.get("name", name) != name:
        raise InvalidInput("a built-in intent cannot be renamed")
    if clean.get("name", name) != name:
        await _check_name_free(session, workspace_id, clean["name"], intent_id)
    if row is None:
        row = AiIntent(
            id=intent_id,
            workspace_id=workspace_id,
            name=name,
            builtin=True,
            description="",
            examples=[],
            enabled=True,
            handoff=False,
            label_id=None,
            priority=None,
        )
        session.add(row)
    changed = [k for k, v in clean.items() if getattr(row, k) != v]
    for key, value in clean.items():
        setattr(row, key, value)
    await session.flush()
    await _check_workspace(session, workspace_id, row)
    if changed:
        await _changed(session, workspace_id, row, "ai.intent_updated", changed, actor_id)
    return row


async def delete_intent(
    session: AsyncSession, workspace_id: uuid.UUID, intent_id: uuid.UUID, *, actor_id: uuid.UUID | None
) -> None:
    """Delete one of the workspace's own intents; built-in intents can only be disabled."""
    await _lock(session, workspace_id)
    name, row = await _find(session, workspace_id, intent_id)
    if name in DEFAULT_INTENTS or row is None:
        raise Conflict("built-in intents cannot be deleted; disable it with enabled: false")
    await session.delete(row)
    await session.flush()
    await _check_workspace(session, workspace_id, None)
    await _changed(session, workspace_id, row, "ai.intent_deleted", ["name", "examples"], actor_id)


# --- retraining -----------------------------------------------------------------------------------------


async def _newest(session: AsyncSession, workspace_id: uuid.UUID, *states: str) -> AiIntentModel | None:
    stmt = sa.select(AiIntentModel).where(AiIntentModel.workspace_id == workspace_id)
    if states:
        stmt = stmt.where(AiIntentModel.state.in_(states))
    return (await session.execute(stmt.order_by(AiIntentModel.version.desc()).limit(1))).scalar_one_or_none()


async def request_retrain(session: AsyncSession, workspace_id: uuid.UUID) -> AiIntentModel:
    """Queue a new model version and its training job, in the caller's transaction; coalesces bursts.

    A version not yet being trained is reused (the training reads the intents when it starts, so it
    picks up this change too). A version already training cannot see this change: a new one is queued.
    The pending job, if any, is moved later (debounce) but never beyond RETRAIN_MAX_DELAY_SECONDS."""
    await _lock(session, workspace_id)
    now = utcnow()
    newest = await _newest(session, workspace_id)
    if newest is not None and newest.state in ("queued", "failed"):
        target = newest
        target.state, target.error = "queued", None
    else:
        target = AiIntentModel(
            workspace_id=workspace_id, version=(newest.version + 1) if newest else 1, state="queued"
        )
        session.add(target)
    pending = (
        await session.execute(
            sa.select(Job)
            .where(Job.workspace_id == workspace_id, Job.kind == TRAIN_JOB, Job.state == "pending")
            .order_by(Job.attempts, Job.run_at)
            .limit(1)
        )
    ).scalar_one_or_none()
    debounce = dt.timedelta(seconds=RETRAIN_DEBOUNCE_SECONDS)
    if pending is None:
        await enqueue(
            session,
            TRAIN_JOB,
            {"workspace_id": str(workspace_id)},
            workspace_id=workspace_id,
            run_at=now + debounce,
            max_attempts=TRAIN_MAX_ATTEMPTS,
        )
    elif pending.attempts == 0:  # not a retry waiting out its backoff: push it back, within the cap
        latest = pending.created_at + dt.timedelta(seconds=RETRAIN_MAX_DELAY_SECONDS)
        pending.run_at = max(pending.run_at, min(now + debounce, latest))
    await session.flush()
    await emit(session, workspace_id, events.ai_intent_model_updated(target))
    return target


def model_state(m: AiIntentModel | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "version": m.version,
        "state": m.state,
        "attempts": m.attempts,
        "intent_count": m.intent_count,
        "example_count": m.example_count,
        "error": m.error,
        "size_bytes": m.model_size,
        "evaluation": m.evaluation,
        "created_at": m.created_at.isoformat(),
        "started_at": m.started_at.isoformat() if m.started_at else None,
        "trained_at": m.trained_at.isoformat() if m.trained_at else None,
    }


async def model_status(session: AsyncSession, workspace_id: uuid.UUID) -> dict[str, Any]:
    """What serves now (the newest ready version, or the built-in model) and the newest version's state."""
    serving = await _newest(session, workspace_id, "ready")
    latest = await _newest(session, workspace_id)
    return {
        "serving": "workspace" if serving is not None else "default",
        "serving_version": serving.version if serving is not None else None,
        "current": model_state(serving),
        "latest": model_state(latest),
        "up_to_date": latest is None or latest.state == "ready",
    }


async def begin_training(
    session: AsyncSession, workspace_id: uuid.UUID
) -> tuple[AiIntentModel, dict[str, list[str]]] | None:
    """Take the newest version for training, with the intents as they are now; None when it is ready
    already (an earlier job of a coalesced burst trained it)."""
    await _lock(session, workspace_id)
    target = await _newest(session, workspace_id)
    if target is None or target.state == "ready":
        return None
    data = await training_intents(session, workspace_id)
    target.state, target.error, target.started_at = "training", None, utcnow()
    target.attempts += 1
    target.intent_count = len(data)
    target.example_count = sum(len(v) for v in data.values())
    await session.flush()
    await emit(session, workspace_id, events.ai_intent_model_updated(target))
    return target, data


async def finish_training(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    model_id: uuid.UUID,
    blob: bytes,
    evaluation: dict[str, Any] | None = None,
) -> AiIntentModel:
    """Store the trained model (and its cross-validated estimate) as ready and drop the versions it
    supersedes (older ready or failed)."""
    await _lock(session, workspace_id)
    target = await get_scoped(session, AiIntentModel, workspace_id, model_id)
    target.state, target.error, target.trained_at = "ready", None, utcnow()
    target.model_bytes, target.model_size = blob, len(blob)
    target.evaluation = evaluation
    await session.execute(
        sa.delete(AiIntentModel).where(
            AiIntentModel.workspace_id == workspace_id,
            AiIntentModel.version < target.version,
            AiIntentModel.state.in_(("ready", "failed")),
        )
    )
    await session.flush()
    await emit(session, workspace_id, events.ai_intent_model_updated(target))
    return target


async def fail_training(
    session: AsyncSession, workspace_id: uuid.UUID, model_id: uuid.UUID | None, error: str
) -> AiIntentModel | None:
    """Record a failed attempt on that version (or, from the dead-letter hook, on the newest version that
    was being trained or had failed); the ready model serves on."""
    await _lock(session, workspace_id)
    if model_id is not None:
        target = (
            await session.execute(
                sa.select(AiIntentModel).where(
                    AiIntentModel.workspace_id == workspace_id, AiIntentModel.id == model_id
                )
            )
        ).scalar_one_or_none()
    else:
        # Not a `queued` version: that is a newer request whose own job is still to run.
        target = await _newest(session, workspace_id, "training", "failed")
    if target is None or target.state == "ready":
        return None
    target.state, target.error = "failed", error[:2000]
    await session.flush()
    await emit(session, workspace_id, events.ai_intent_model_updated(target))
    return target
