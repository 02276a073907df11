"""AI settings, switch-offs, the decision log, and carrying out the automated agent's plans.

The agent proposes (ai.agent.autoreply.Plan); this module applies with the normal actions: replies go
through `post_message(sender_kind="ai")` so delivery is the usual job, handoffs through
`conversations.assign` and `change_status`, and every decision is logged in the same transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions import conversations as conv_actions
from relaydesk.actions.messages import post_message
from relaydesk.ai.agent.autoreply import Plan, classification
from relaydesk.ai.agent.settings import Effective, check_provider_ready, merge, runs_on_messages, validate
from relaydesk.ai.agent.understanding import Intent
from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import Conflict, InvalidInput
from relaydesk.models.ai import AiContactPreference, AiConversationState, AiDecision, AiSettings
from relaydesk.models.contacts import Contact
from relaydesk.models.conversations import PRIORITIES, Conversation, ConversationLabel, Label
from relaydesk.models.inboxes import Inbox
from relaydesk.models.workspaces import Team
from relaydesk.privacy import audit, storage
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit

#: Mirrored into `Inbox.settings` so receiving a message decides "run the AI?" with no extra query: on
#: when the AI is enabled there and either replies or classifies (`settings.runs_on_messages`).
INBOX_FLAG = "ai_enabled"

#: The decision action of triage: a customer message classified without an automated reply.
CLASSIFY = "classify"

#: Conversation switch-offs that also stop triage. A handoff (by the agent, at the customer's request, or
#: after a contested answer) leaves triage on: the label and priority help the people who now answer.
#: A person switching the AI off, a customer's objection and a contested classification stop it.
TRIAGE_STOPS = ("agent", "objection", "classification_contested")


# --- settings -------------------------------------------------------------------------------------------


async def _settings_rows(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_id: uuid.UUID | None
) -> tuple[AiSettings | None, AiSettings | None]:
    rows = (
        (
            await session.execute(
                sa.select(AiSettings).where(
                    AiSettings.workspace_id == workspace_id,
                    sa.or_(AiSettings.inbox_id.is_(None), AiSettings.inbox_id == inbox_id)
                    if inbox_id
                    else AiSettings.inbox_id.is_(None),
                )
            )
        )
        .scalars()
        .all()
    )
    ws_row = next((r for r in rows if r.inbox_id is None), None)
    inbox_row = next((r for r in rows if r.inbox_id is not None), None)
    return ws_row, inbox_row


async def effective_settings(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_id: uuid.UUID | None
) -> tuple[Effective, str | None]:
    """The merged settings for an inbox (or the workspace) and the opened provider API key, if any."""
    ws_row, inbox_row = await _settings_rows(session, workspace_id, inbox_id)
    eff = merge(ws_row.config if ws_row else None, inbox_row.config if inbox_row else None)
    sealed = (inbox_row.api_key_sealed if inbox_row and inbox_row.api_key_sealed else None) or (
        ws_row.api_key_sealed if ws_row else None
    )
    return eff, storage.open_secret(workspace_id, sealed) if sealed else None


async def save_settings(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    inbox_id: uuid.UUID | None,
    patch: dict[str, Any],
    *,
    api_key: str | Any | None = ...,
    actor_id: uuid.UUID | None = None,
) -> AiSettings:
    """Merge a validated patch into the workspace's (or inbox's) settings; `None` values inherit again.

    The API key is sealed at rest and never returned; `api_key=None` removes it."""
    clean = validate(patch)
    if inbox_id is not None:
        await get_scoped(session, Inbox, workspace_id, inbox_id)
    if clean.get("handoff_team_id"):
        await get_scoped(session, Team, workspace_id, uuid.UUID(clean["handoff_team_id"]))
    ws_row, inbox_row = await _settings_rows(session, workspace_id, inbox_id)
    row = inbox_row if inbox_id is not None else ws_row
    if row is None:
        row = AiSettings(workspace_id=workspace_id, inbox_id=inbox_id, config={}, probe={})
        session.add(row)
    config = {k: v for k, v in {**(row.config or {}), **clean}.items() if v is not None}
    if api_key is not ...:
        if api_key is not None and (
            not isinstance(api_key, str) or not api_key.strip() or len(api_key) > 500
        ):
            raise InvalidInput("api_key must be a non-empty string of at most 500 characters")
        row.api_key_sealed = storage.seal_secret(workspace_id, api_key.strip()) if api_key else None
    row.config = config
    if inbox_id is None:
        merged = merge(config, None)
    else:
        merged = merge(ws_row.config if ws_row else None, config)
    if merged["enabled"]:
        check_provider_ready(merged.values, bool(row.api_key_sealed))
    await session.flush()
    await sync_inbox_flags(session, workspace_id)
    await audit.record(
        session,
        workspace_id,
        "ai.settings_changed",
        actor_id=actor_id,
        target_type="inbox" if inbox_id else "workspace",
        target_id=inbox_id or workspace_id,
        # Which settings changed, never their values (an endpoint URL or key is configuration, not audit).
        metadata={"keys": sorted(clean), "api_key_changed": api_key is not ...},
    )
    await emit(session, workspace_id, events.ai_settings_updated(inbox_id, actor_id))
    return row


async def sync_inbox_flags(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Write each inbox's effective on/off into its settings (see INBOX_FLAG)."""
    rows = (
        (await session.execute(sa.select(AiSettings).where(AiSettings.workspace_id == workspace_id)))
        .scalars()
        .all()
    )
    ws_config = next((r.config for r in rows if r.inbox_id is None), None)
    per_inbox = {r.inbox_id: r.config for r in rows if r.inbox_id is not None}
    inboxes = (
        (await session.execute(sa.select(Inbox).where(Inbox.workspace_id == workspace_id))).scalars().all()
    )
    for inbox in inboxes:
        eff = merge(ws_config, per_inbox.get(inbox.id))
        on = runs_on_messages(eff)
        if bool((inbox.settings or {}).get(INBOX_FLAG)) != on:
            inbox.settings = {**(inbox.settings or {}), INBOX_FLAG: on}


async def in_use(session: AsyncSession) -> bool:
    """Whether any inbox of any workspace runs the AI on its messages (system work: spans workspaces).
    Reads the mirrored flag, so it costs one small query over the inboxes."""
    rows = (await session.execute(sa.select(Inbox.settings))).scalars()
    return any(bool((settings or {}).get(INBOX_FLAG)) for settings in rows)


async def record_probe(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_id: uuid.UUID | None, result: dict[str, Any]
) -> None:
    ws_row, inbox_row = await _settings_rows(session, workspace_id, inbox_id)
    row = inbox_row if inbox_id is not None else ws_row
    if row is not None:
        row.probe = {**result, "at": utcnow().isoformat()}


# --- switch-offs ----------------------------------------------------------------------------------------


async def conversation_state(
    session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> AiConversationState:
    state = (
        await session.execute(
            sa.select(AiConversationState).where(
                AiConversationState.workspace_id == workspace_id,
                AiConversationState.conversation_id == conversation_id,
            )
        )
    ).scalar_one_or_none()
    if state is None:
        state = AiConversationState(workspace_id=workspace_id, conversation_id=conversation_id)
        session.add(state)
    return state


async def set_conversation_ai(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    enabled: bool,
    *,
    reason: str = "agent",
    actor_id: uuid.UUID | None = None,
) -> AiConversationState:
    await get_scoped(session, Conversation, workspace_id, conversation_id)
    state = await conversation_state(session, workspace_id, conversation_id)
    state.ai_off = not enabled
    state.off_reason = None if enabled else reason
    if enabled:
        state.handed_off_at = None
        state.clarify_count = 0
        state.handoff_offered_at = None
    await session.flush()
    await emit(
        session,
        workspace_id,
        events.ai_conversation_updated(conversation_id, enabled, state.off_reason, actor_id),
    )
    return state


async def set_contact_ai(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    contact_id: uuid.UUID,
    enabled: bool,
    *,
    reason: str = "agent",
) -> AiContactPreference | None:
    """Switch the AI off (or back on) for every conversation of one contact."""
    await get_scoped(session, Contact, workspace_id, contact_id)
    pref = (
        await session.execute(
            sa.select(AiContactPreference).where(
                AiContactPreference.workspace_id == workspace_id, AiContactPreference.contact_id == contact_id
            )
        )
    ).scalar_one_or_none()
    if enabled:
        if pref is not None:
            await session.delete(pref)
        await session.flush()
        return None
    if pref is None:
        pref = AiContactPreference(workspace_id=workspace_id, contact_id=contact_id, reason=reason)
        session.add(pref)
    pref.ai_off, pref.reason = True, reason
    await session.flush()
    return pref


def triage_allowed(state: AiConversationState | None) -> bool:
    """Whether triage may classify in a conversation in this AI state (see TRIAGE_STOPS)."""
    return state is None or not state.ai_off or state.off_reason not in TRIAGE_STOPS


async def contact_ai_off(session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> bool:
    """Whether the AI must leave this contact alone: its per-contact switch is off (an objection, an
    agent's choice) or the contact's processing is restricted (actions/subject_rights.py)."""
    switched_off = (
        await session.execute(
            sa.select(AiContactPreference.ai_off).where(
                AiContactPreference.workspace_id == workspace_id, AiContactPreference.contact_id == contact_id
            )
        )
    ).scalar_one_or_none()
    if switched_off:
        return True
    restricted = (
        await session.execute(
            sa.select(Contact.restricted_at).where(
                Contact.workspace_id == workspace_id, Contact.id == contact_id
            )
        )
    ).scalar_one_or_none()
    return restricted is not None


# --- decisions ------------------------------------------------------------------------------------------


def decision_state(d: AiDecision) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "conversation_id": str(d.conversation_id),
        "message_id": str(d.message_id) if d.message_id else None,
        "reply_message_id": str(d.reply_message_id) if d.reply_message_id else None,
        "action": d.action,
        "reason_category": d.reason_category,
        "provider": d.provider,
        "inputs": d.inputs,
        "sources": d.sources,
        "contested": d.contested,
        "contested_at": d.contested_at.isoformat() if d.contested_at else None,
        "contest_note": d.contest_note,
        "created_at": d.created_at.isoformat(),
    }


async def _handoff(
    session: AsyncSession,
    conv: Conversation,
    state: AiConversationState,
    settings: Effective,
    category: str,
    note: str,
) -> None:
    """Hand the conversation to people: AI silent here from now on, status open, the handoff team, a note."""
    now = utcnow()
    state.handed_off_at = now
    state.ai_off = True
    state.off_reason = state.off_reason or f"handoff:{category}"
    if conv.status != "open":
        await conv_actions.change_status(session, conv.workspace_id, conv.id, "open")
    team = settings["handoff_team_id"]
    if team and conv.team_id is None:
        await conv_actions.assign(session, conv.workspace_id, conv.id, team_id=uuid.UUID(team))
    await post_message(
        session,
        conv.workspace_id,
        conv.id,
        text=note,
        private=True,
        sender_kind="ai",
        content_attributes={"ai_handoff": category},
    )


async def decision_for_message(
    session: AsyncSession, workspace_id: uuid.UUID, message_id: uuid.UUID
) -> AiDecision | None:
    """The automated decision already taken about one customer message: each message gets one, so a
    retried job finds it and does nothing twice."""
    return (
        await session.execute(
            sa.select(AiDecision).where(
                AiDecision.workspace_id == workspace_id, AiDecision.message_id == message_id
            )
        )
    ).scalar_one_or_none()


async def apply_plan(
    session: AsyncSession,
    conv: Conversation,
    message_id: uuid.UUID,
    plan: Plan,
    settings: Effective,
    summary: list[str],
) -> AiDecision:
    """Carry out a plan for the customer message `message_id`, once (a retried job finds the decision)."""
    existing = await decision_for_message(session, conv.workspace_id, message_id)
    if existing is not None:
        return existing
    state = await conversation_state(session, conv.workspace_id, conv.id)
    if state.ai_off or state.handed_off_at is not None:
        raise Conflict("the AI is switched off for this conversation")
    decision = AiDecision(
        workspace_id=conv.workspace_id,
        conversation_id=conv.id,
        message_id=message_id,
        action=plan.action,
        reason_category=plan.reason_category,
        provider=plan.provider,
        inputs=plan.inputs,
        sources=plan.sources,
    )
    session.add(decision)
    if plan.contest_last:
        last = (
            await session.execute(
                sa.select(AiDecision)
                .where(
                    AiDecision.workspace_id == conv.workspace_id,
                    AiDecision.conversation_id == conv.id,
                    AiDecision.action == "answer",
                    AiDecision.id != decision.id,
                )
                .order_by(AiDecision.created_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if last is not None and not last.contested:
            last.contested, last.contested_at, last.contest_note = True, utcnow(), "contested by the customer"
    if plan.reply:
        reply = await post_message(
            session,
            conv.workspace_id,
            conv.id,
            text=plan.reply,
            sender_kind="ai",
            reply_to_id=message_id,
            content_attributes={"ai_decision_id": str(decision.id), "ai_action": plan.action},
        )
        decision.reply_message_id = reply.id
    if plan.action == "clarify":
        state.clarify_count += 1
    elif plan.action == "offer_handoff":
        state.handoff_offered_at = utcnow()
    elif plan.action == "answer":
        state.clarify_count = 0
    if plan.classification:
        applied = await _classify(session, conv, plan.classification)
        decision.inputs = {**plan.inputs, "classification": {**plan.classification, "applied": applied}}
    if plan.switch_off == "contact":
        await set_contact_ai(session, conv.workspace_id, conv.contact_id, False, reason="objection")
        state.off_reason = "objection"
    elif plan.switch_off == "conversation":
        state.off_reason = "customer_request"
    if plan.action == "handoff":
        await _handoff(
            session,
            conv,
            state,
            settings,
            plan.reason_category or "customer_request",
            handoff_note(plan, summary),
        )
    await _announce(session, decision)
    return decision


async def _earlier_classifications(session: AsyncSession, conv: Conversation) -> tuple[set[str], str | None]:
    """What automated classification already did in this conversation: the labels it added and the last
    priority it set, from the decision log (the agent's `inputs.classification` and triage's inputs)."""
    rows = (
        await session.execute(
            sa.select(AiDecision.action, AiDecision.inputs)
            .where(AiDecision.workspace_id == conv.workspace_id, AiDecision.conversation_id == conv.id)
            .order_by(AiDecision.created_at.desc(), AiDecision.id.desc())
            .limit(500)
        )
    ).all()
    labels: set[str] = set()
    priority: str | None = None
    for action, inputs in reversed(rows):
        done = inputs if action == CLASSIFY else (inputs or {}).get("classification")
        if not isinstance(done, dict):
            continue
        applied = done.get("applied") or []
        if "label" in applied and done.get("label_id"):
            labels.add(done["label_id"])
        if "priority" in applied and done.get("priority"):
            priority = done["priority"]
    return labels, priority


async def _classify(session: AsyncSession, conv: Conversation, classification: dict[str, Any]) -> list[str]:
    """Apply an intent's classification through the normal conversation actions, without fighting a
    person: a label is only ever added, and not again once automation added it here before (if it is
    gone, someone removed it); the priority is only raised, and only while it is unset or still the one
    automation set last (a priority a person chose stays). Returns what changed, for the decision log."""
    applied: list[str] = []
    label_id = classification.get("label_id")
    priority = classification.get("priority")
    raise_priority = priority in PRIORITIES and PRIORITIES.index(priority) > PRIORITIES.index(conv.priority)
    if not (label_id or raise_priority):
        return applied
    added_before, last_priority = await _earlier_classifications(session, conv)
    if label_id and label_id not in added_before:
        label = (
            await session.execute(
                sa.select(Label.id).where(
                    Label.workspace_id == conv.workspace_id, Label.id == uuid.UUID(label_id)
                )
            )
        ).scalar_one_or_none()
        current = set(
            (
                await session.execute(
                    sa.select(ConversationLabel.label_id).where(
                        ConversationLabel.workspace_id == conv.workspace_id,
                        ConversationLabel.conversation_id == conv.id,
                    )
                )
            ).scalars()
        )
        if label is not None and label not in current:
            await conv_actions.set_labels(session, conv.workspace_id, conv.id, [*current, label])
            applied.append("label")
    if raise_priority and conv.priority in ("none", last_priority):
        await conv_actions.set_priority(session, conv.workspace_id, conv.id, priority)
        applied.append("priority")
    return applied


async def apply_triage(
    session: AsyncSession,
    conv: Conversation,
    message_id: uuid.UUID,
    intent: Intent | None,
    settings: Effective,
) -> AiDecision | None:
    """Triage one customer message without replying: apply the label and priority mapped to its intent
    (the same rule and the same code as the agent's turn) and log a `classify` decision when something
    changed. Once per message: a retried job finds the decision; switch-offs are re-checked here because
    a person may have switched the AI off while the intent was being detected."""
    existing = await decision_for_message(session, conv.workspace_id, message_id)
    if existing is not None:
        return existing
    wanted = classification(intent, settings)
    if wanted is None or intent is None:
        return None
    state = (
        await session.execute(
            sa.select(AiConversationState).where(
                AiConversationState.workspace_id == conv.workspace_id,
                AiConversationState.conversation_id == conv.id,
            )
        )
    ).scalar_one_or_none()
    if not triage_allowed(state) or await contact_ai_off(session, conv.workspace_id, conv.contact_id):
        return None
    applied = await _classify(session, conv, wanted)
    if not applied:
        return None  # nothing changed: nothing was decided about this conversation
    decision = AiDecision(
        workspace_id=conv.workspace_id,
        conversation_id=conv.id,
        message_id=message_id,
        action=CLASSIFY,
        reason_category=None,
        provider="local",
        inputs={
            "message_id": str(message_id),
            "intent": intent.name,
            "confidence": round(intent.confidence, 4),
            "model_version": intent.model_version,
            "label_id": wanted["label_id"],
            "priority": wanted["priority"],
            "applied": applied,
        },
        sources=[],
    )
    session.add(decision)
    await _announce(session, decision)
    return decision


async def _announce(session: AsyncSession, decision: AiDecision) -> None:
    """Tell the conversation's viewers a decision was logged (ids and kind only; they fetch the rest)."""
    await session.flush()
    await emit(session, decision.workspace_id, events.ai_decision(decision))


def handoff_note(plan: Plan, summary: list[str]) -> str:
    lines = [f"AI handoff: {plan.reason_category} ({plan.detail or 'no detail'})."]
    if summary:
        lines.append("Summary (the customer's own words):")
        lines.extend(f"- {s}" for s in summary)
    signals = []
    if "intent" in plan.inputs:
        confidence = plan.inputs.get("intent_confidence", plan.inputs.get("confidence"))
        signals.append(f"intent {plan.inputs['intent']} ({confidence})")
    if "sentiment" in plan.inputs:
        signals.append(f"sentiment {plan.inputs['sentiment']}")
    if plan.inputs.get("top_similarity") is not None:
        signals.append(f"best knowledge match {plan.inputs['top_similarity']}")
    if signals:
        lines.append("Signals: " + ", ".join(signals) + ".")
    return "\n".join(lines)


async def contest_decision(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    decision_id: uuid.UUID,
    *,
    note: str | None,
    actor_id: uuid.UUID | None = None,
) -> AiDecision:
    """Mark an automated decision contested and put the conversation in front of a person (GDPR 22(3))."""
    if note is not None and len(note) > 500:
        raise InvalidInput("note may hold at most 500 characters")
    decision = await get_scoped(session, AiDecision, workspace_id, decision_id)
    if decision.contested:
        raise Conflict("this decision is already contested")
    decision.contested, decision.contested_at = True, utcnow()
    decision.contest_note = (note or "contested").strip()[:500]
    conv = await get_scoped(session, Conversation, workspace_id, decision.conversation_id)
    state = await conversation_state(session, workspace_id, conv.id)
    settings, _ = await effective_settings(session, workspace_id, conv.inbox_id)
    if decision.action == CLASSIFY:
        # A contested classification stops triage here; the label and priority stay for the person to
        # review (removing them is one click, and automation does not add that label here again).
        state.ai_off, state.off_reason = True, "classification_contested"
    elif state.handed_off_at is None:
        state.off_reason = "contested"
    if state.handed_off_at is None:
        plan = Plan("handoff", None, "contested", f"decision {decision.id} contested", inputs=decision.inputs)
        await _handoff(session, conv, state, settings, "contested", handoff_note(plan, []))
    await emit(session, workspace_id, events.ai_decision_contested(decision.id, conv.id, actor_id))
    return decision
