"""`ai.on_message`: the automated agent's turn after a customer's message, or triage only (classify,
never reply) where the AI does not reply; `ai.train_intents`: retrain a workspace's intent classifier
after its intents changed.

Three steps so no database transaction is held while a model runs: read what the decision needs,
decide (retrieval, models, maybe an LLM call), then write the outcome through actions.ai.apply_plan,
which re-checks that the AI is still wanted there (an agent may have stepped in meanwhile). Where the
agent does not take a turn — `auto_reply` off, the conversation handed to people, a person replying —
the message is triaged instead (actions.ai.apply_triage): its intent's label and priority, no reply.
Each message gets at most one of the two, and one decision (the job is keyed `ai:{message_id}` and
both writers look for the message's decision first). Training
follows the same shape: take the version and the intents, fit in a worker thread, store the result.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk import ai as ai_models
from relaydesk.actions import ai as ai_actions
from relaydesk.actions import ai_intents
from relaydesk.ai.agent import understanding, workspace_intents
from relaydesk.ai.agent.autoreply import Situation, Turn, decide
from relaydesk.ai.agent.settings import Effective, runs_on_messages
from relaydesk.ai.agent.summary import extractive_summary
from relaydesk.ai.knowledge.retrieval import retrieve
from relaydesk.ai.providers.factory import build_provider
from relaydesk.ai.providers.local import LocalProvider
from relaydesk.errors import Conflict
from relaydesk.jobs.registry import JobContext, handler, on_worker_start, periodic
from relaydesk.jobs.services import Services
from relaydesk.models.ai import AiConversationState, AiDecision, AiSettings
from relaydesk.models.contacts import Contact
from relaydesk.models.conversations import Conversation
from relaydesk.models.messages import Message
from relaydesk.privacy import storage
from relaydesk.realtime.catalogue import AI, acting_as

log = logging.getLogger(__name__)

HISTORY = 20


@dataclass
class _Loaded:
    workspace_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    settings: Effective
    api_key: str | None
    text: str
    situation: Situation | None  # None: triage only (classify, never reply)


async def _load(ctx: JobContext) -> _Loaded | None:
    message_id = uuid.UUID(ctx.payload["message_id"])
    async with ctx.services.db.read() as session:
        msg = await session.get(Message, message_id)
        if msg is None or msg.message_type != "incoming":
            return None
        ws = msg.workspace_id
        conv = await session.get(Conversation, msg.conversation_id)
        if conv is None or conv.status == "resolved":
            return None
        settings, api_key = await ai_actions.effective_settings(session, ws, conv.inbox_id)
        if not runs_on_messages(settings):
            return None
        if await ai_actions.contact_ai_off(session, ws, conv.contact_id):
            return None  # an objecting contact gets no automated handling at all, classification included
        if await ai_actions.decision_for_message(session, ws, msg.id) is not None:
            return None
        state = (
            await session.execute(
                sa.select(AiConversationState).where(
                    AiConversationState.workspace_id == ws, AiConversationState.conversation_id == conv.id
                )
            )
        ).scalar_one_or_none()
        text = storage.read_message_content(msg) or ""

        async def triage() -> _Loaded | None:
            """The message is only classified (no agent turn): when triage is on and has work to do."""
            if (
                settings["auto_classify"]
                and ai_actions.triage_allowed(state)
                and await _maps_intents(session, ws)
            ):
                return _Loaded(ws, conv.id, msg.id, settings, api_key, text, None)
            return None

        # An automatic mail (out-of-office, list, bounce) gets no automatic answer: RFC 3834 loop rule.
        if (
            not settings["auto_reply"]
            or (msg.content_attributes or {}).get("no_auto_reply")
            or (state is not None and (state.ai_off or state.handed_off_at is not None))
        ):
            return await triage()
        rows = (
            (
                await session.execute(
                    sa.select(Message)
                    .where(
                        Message.workspace_id == ws,
                        Message.conversation_id == conv.id,
                        Message.message_type.in_(("incoming", "outgoing")),
                    )
                    .order_by(Message.ordered_at.desc(), Message.id.desc())  # thread order
                    .limit(HISTORY)
                )
            )
            .scalars()
            .all()
        )
        rows = list(reversed(rows))
        if (
            rows
            and rows[-1].id != msg.id
            and any(r.message_type == "incoming" and r.created_at > msg.created_at for r in rows)
        ):
            # A newer customer message arrived: its own job answers with the whole context.
            return await triage()
        if any(r.message_type == "outgoing" and r.sender_kind == "agent" for r in rows):
            return await triage()  # a person is handling this conversation
        history = [
            Turn(
                "customer" if r.message_type == "incoming" else r.sender_kind,
                storage.read_message_content(r) or "",
                str(r.id),
            )
            for r in rows
            if r.id != msg.id and r.created_at <= msg.created_at
        ]
        last_action = (
            await session.execute(
                sa.select(AiDecision.action)
                .where(AiDecision.workspace_id == ws, AiDecision.conversation_id == conv.id)
                .order_by(AiDecision.created_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        contact = await session.get(Contact, conv.contact_id)
        name = storage.read_contact(contact).name if contact is not None else None
        situation = Situation(
            settings=settings,
            message_id=str(msg.id),
            text=text,
            history=history,
            clarify_count=state.clarify_count if state else 0,
            offered=bool(state and state.handoff_offered_at),
            last_ai_action=last_action,
            contact_name=name,
        )
    return _Loaded(ws, conv.id, msg.id, settings, api_key, text, situation)


async def _maps_intents(session: AsyncSession, workspace_id: uuid.UUID) -> bool:
    """Whether any intent of the workspace maps to a label or a priority: without one, triage has nothing
    to apply and the model need not run."""
    rules = await ai_intents.intent_rules(session, workspace_id)
    return any(r["enabled"] and (r["label_id"] or r["priority"]) for r in rules.values())


@handler("ai.on_message")
async def on_message(ctx: JobContext) -> None:
    with acting_as(AI):  # what the AI's turn changes is the AI's doing (events say so)
        await _on_message(ctx)


async def _on_message(ctx: JobContext) -> None:
    loaded = await _load(ctx)
    if loaded is None or not loaded.text.strip():
        return
    async with ctx.services.db.read() as session:
        intent = await workspace_intents.detect(session, loaded.workspace_id, loaded.text)
    if loaded.situation is None:
        async with ctx.services.db.write() as session:
            conv = await session.get(Conversation, loaded.conversation_id)
            if conv is not None:
                await ai_actions.apply_triage(session, conv, loaded.message_id, intent, loaded.settings)
        return
    situation = loaded.situation
    situation.intent = intent
    embed = understanding.embed
    local = LocalProvider(embed)
    provider = build_provider(loaded.settings.values, loaded.api_key, embed, ctx.services.http_for("ai"))

    async def search(query: str):  # type: ignore[no-untyped-def]
        async with ctx.services.db.read() as session:
            return await retrieve(session, loaded.workspace_id, query, embed)

    # Finish well inside the job's lease, so a slow endpoint never makes a second worker start the same turn.
    budget = max(5.0, ctx.services.settings.job_lease_seconds * 0.6)
    try:
        plan = await asyncio.wait_for(
            decide(situation, search, provider, embed, understanding.sentiment, fallback=local), budget
        )
    except TimeoutError:
        plan = await decide(situation, search, local, embed, understanding.sentiment)
        plan.inputs["provider_error"] = f"{provider.name} provider took longer than {budget:.0f} s"
    summary: list[str] = []
    if plan.action == "handoff":
        customer = [t.text for t in situation.history if t.role == "customer"] + [situation.text]
        summary = extractive_summary(customer, embed)
    async with ctx.services.db.write() as session:
        conv = await session.get(Conversation, loaded.conversation_id)
        if conv is None:
            return
        try:
            await ai_actions.apply_plan(session, conv, loaded.message_id, plan, loaded.settings, summary)
        except Conflict:
            return  # switched off or handed off while we were thinking: say nothing


@handler(ai_intents.TRAIN_JOB)
async def train_intents(ctx: JobContext) -> None:
    """Fit the newest queued version on the workspace's intents as they are now, off the event loop.

    On failure the version is marked failed with the error and the job raises, so the dispatcher retries
    it (TRAIN_MAX_ATTEMPTS) and then dead-letters it; the previous ready version serves throughout."""
    workspace_id = uuid.UUID(ctx.payload["workspace_id"])
    async with ctx.services.db.write() as session:
        taken = await ai_intents.begin_training(session, workspace_id)
    if taken is None:
        return
    model, intents = taken
    try:
        blob, evaluation = await asyncio.to_thread(workspace_intents.train, intents)
    except Exception as exc:
        async with ctx.services.db.write() as session:
            await ai_intents.fail_training(session, workspace_id, model.id, f"{type(exc).__name__}: {exc}")
        raise
    async with ctx.services.db.write() as session:
        await ai_intents.finish_training(session, workspace_id, model.id, blob, evaluation)


@handler(f"{ai_intents.TRAIN_JOB}:dead")
async def train_intents_dead(ctx: JobContext) -> None:
    """The training was given up (attempts exhausted, or its workers kept dying): say so on the version."""
    workspace_id = uuid.UUID(ctx.payload["workspace_id"])
    async with ctx.services.db.write() as session:
        await ai_intents.fail_training(
            session, workspace_id, None, f"gave up after {ctx.job.attempts} attempts: {ctx.job.last_error}"
        )


@periodic("ai.sync_inbox_flags", every_seconds=6 * 3600)
async def sync_inbox_flags(ctx: JobContext) -> None:
    """Recompute every inbox's mirrored "run the AI on messages?" flag from the stored settings.

    Saving settings keeps the flags right; this catches flags written under an older rule (before
    triage, the flag was on only with `auto_reply`, so an inbox that classifies without replying needs
    it set once after the upgrade) without a data migration. One short write per workspace with settings;
    nothing is written where the flags are already right."""
    async with ctx.services.db.read() as session:
        workspaces = list((await session.execute(sa.select(AiSettings.workspace_id).distinct())).scalars())
    for workspace_id in workspaces:
        async with ctx.services.db.write() as session:
            await ai_actions.sync_inbox_flags(session, workspace_id)


@periodic("ai.probe_providers", every_seconds=6 * 3600)
async def probe_providers(ctx: JobContext) -> None:
    """Re-probe every configured OpenAI-compatible endpoint (models, tool calling) so the admin sees a model
    that was unloaded or an endpoint that lost tool calling without waiting for customers to hit it."""
    async with ctx.services.db.read() as session:
        rows = (
            await session.execute(sa.select(AiSettings.workspace_id, AiSettings.inbox_id).limit(500))
        ).all()
        targets = []
        for workspace_id, inbox_id in rows:
            settings, api_key = await ai_actions.effective_settings(session, workspace_id, inbox_id)
            if settings["enabled"] and settings["provider"] == "openai":
                targets.append((workspace_id, inbox_id, settings, api_key))
    for workspace_id, inbox_id, settings, api_key in targets:
        provider = build_provider(settings.values, api_key, understanding.embed, ctx.services.http_for("ai"))
        result = await provider.probe()
        async with ctx.services.db.write() as session:
            await ai_actions.record_probe(session, workspace_id, inbox_id, result)


@on_worker_start
async def warm_up_models(services: Services) -> None:
    """Load the AI models in the background when some inbox uses them, so the first customer message
    after a (re)start does not wait ~1-2 s for them; a deployment without AI loads nothing (the models
    take ~375 MB). Best effort: a failure here only means the first message loads them."""
    try:
        async with services.db.read() as session:
            wanted = await ai_actions.in_use(session)
        if wanted:
            await asyncio.to_thread(ai_models.warm_up)
            log.info("AI models loaded")
    except Exception:
        log.warning("warming up the AI models failed; the first message will load them", exc_info=True)
