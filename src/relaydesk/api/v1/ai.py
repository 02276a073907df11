"""AI API: settings per workspace and inbox (with an endpoint probe), switch-offs per conversation and
contact, the per-conversation decision log and contesting a decision, and agent assist."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import get, post, put

from relaydesk.actions import ai as ai_actions
from relaydesk.ai.agent import assist as assist_mod
from relaydesk.ai.agent.settings import DEFAULTS
from relaydesk.ai.agent.understanding import embed
from relaydesk.ai.providers.factory import build_provider
from relaydesk.auth.guards import requires_admin, requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.db.scoping import get_scoped
from relaydesk.models.ai import AiConversationState, AiDecision, AiSettings
from relaydesk.models.contacts import Contact
from relaydesk.models.conversations import Conversation
from relaydesk.models.inboxes import Inbox
from relaydesk.runtime import Runtime

_UNSET: Any = msgspec.UNSET


class SettingsUpdate(msgspec.Struct, forbid_unknown_fields=True):
    settings: dict[str, Any] = {}
    # Write-only: sealed at rest, never returned. `null` removes the stored key.
    api_key: str | msgspec.UnsetType | None = msgspec.UNSET


class Switch(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool


class Contest(msgspec.Struct, forbid_unknown_fields=True):
    note: str | None = None


async def _settings_json(
    runtime: Runtime, workspace_id: uuid.UUID, inbox_id: uuid.UUID | None
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        if inbox_id is not None:
            await get_scoped(session, Inbox, workspace_id, inbox_id)
        row = (
            await session.execute(
                sa.select(AiSettings).where(
                    AiSettings.workspace_id == workspace_id,
                    AiSettings.inbox_id == inbox_id if inbox_id else AiSettings.inbox_id.is_(None),
                )
            )
        ).scalar_one_or_none()
        effective, api_key = await ai_actions.effective_settings(session, workspace_id, inbox_id)
    return {
        "inbox_id": str(inbox_id) if inbox_id else None,
        "settings": dict(row.config) if row else {},
        "effective": effective.values,
        "defaults": DEFAULTS,
        "api_key_set": api_key is not None,
        "probe": dict(row.probe) if row and row.probe else None,
    }


async def _save(
    data: SettingsUpdate, principal: Principal, runtime: Runtime, inbox_id: uuid.UUID | None
) -> dict[str, Any]:
    async with runtime.db.write() as session:
        await ai_actions.save_settings(
            session,
            principal.workspace_id,
            inbox_id,
            data.settings,
            api_key=... if data.api_key is msgspec.UNSET else data.api_key,
            actor_id=principal.user_id,
        )
    result = await _settings_json(runtime, principal.workspace_id, inbox_id)
    if result["effective"]["provider"] == "openai" and (
        "provider" in data.settings
        or any(k.startswith("openai_") for k in data.settings)
        or data.api_key is not msgspec.UNSET
    ):
        result["probe"] = await _probe(principal, runtime, inbox_id)  # on save, as on start-up
    return result


async def _probe(principal: Principal, runtime: Runtime, inbox_id: uuid.UUID | None) -> dict[str, Any]:
    async with runtime.db.read() as session:
        effective, api_key = await ai_actions.effective_settings(session, principal.workspace_id, inbox_id)
    provider = build_provider(effective.values, api_key, embed, runtime.services.http_for("ai"))
    result = await provider.probe()
    async with runtime.db.write() as session:
        await ai_actions.record_probe(session, principal.workspace_id, inbox_id, result)
    return result


@get("/ai/settings", guards=[requires_admin])
async def settings_show(principal: Principal, runtime: Runtime) -> dict[str, Any]:
    return await _settings_json(runtime, principal.workspace_id, None)


@put("/ai/settings", guards=[requires_admin])
async def settings_update(data: SettingsUpdate, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """Workspace defaults. Keys not sent keep their value; a key sent as null falls back to the default."""
    return await _save(data, principal, runtime, None)


@get("/ai/inboxes/{inbox_id:uuid}/settings", guards=[requires_admin])
async def inbox_settings_show(inbox_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    return await _settings_json(runtime, principal.workspace_id, inbox_id)


@put("/ai/inboxes/{inbox_id:uuid}/settings", guards=[requires_admin])
async def inbox_settings_update(
    inbox_id: uuid.UUID, data: SettingsUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Per-inbox overrides of the workspace settings; null removes an override."""
    return await _save(data, principal, runtime, inbox_id)


@post("/ai/settings/probe", guards=[requires_admin], status_code=200)
async def settings_probe(
    principal: Principal, runtime: Runtime, inbox_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """Ask the configured provider what it supports (models, tool calling) and store the answer."""
    if inbox_id is not None:
        async with runtime.db.read() as session:
            await get_scoped(session, Inbox, principal.workspace_id, inbox_id)
    return await _probe(principal, runtime, inbox_id)


@put("/conversations/{conversation_id:uuid}/ai", guards=[requires_agent])
async def conversation_ai(
    conversation_id: uuid.UUID, data: Switch, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Switch the AI off (or back on) in one conversation."""
    async with runtime.db.write() as session:
        state = await ai_actions.set_conversation_ai(
            session, principal.workspace_id, conversation_id, data.enabled, actor_id=principal.user_id
        )
        return {
            "conversation_id": str(conversation_id),
            "ai_enabled": not state.ai_off,
            "reason": state.off_reason,
        }


@get("/conversations/{conversation_id:uuid}/ai", guards=[requires_agent])
async def conversation_ai_show(
    conversation_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        conv = await get_scoped(session, Conversation, principal.workspace_id, conversation_id)
        state = (
            await session.execute(
                sa.select(AiConversationState).where(
                    AiConversationState.workspace_id == principal.workspace_id,
                    AiConversationState.conversation_id == conv.id,
                )
            )
        ).scalar_one_or_none()
        contact_off = await ai_actions.contact_ai_off(session, principal.workspace_id, conv.contact_id)
        effective, _ = await ai_actions.effective_settings(session, principal.workspace_id, conv.inbox_id)
    return {
        "conversation_id": str(conv.id),
        "inbox_ai_enabled": bool(effective["enabled"]),
        "auto_reply": bool(effective["auto_reply"]),
        "auto_classify": bool(effective["auto_classify"]),
        "ai_enabled": not (state and state.ai_off),
        "reason": state.off_reason if state else None,
        "handed_off_at": state.handed_off_at.isoformat() if state and state.handed_off_at else None,
        "contact_ai_enabled": not contact_off,
    }


@put("/contacts/{contact_id:uuid}/ai", guards=[requires_agent])
async def contact_ai(
    contact_id: uuid.UUID, data: Switch, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Switch the AI off (or back on) for every conversation of a contact (e.g. the customer objected)."""
    async with runtime.db.write() as session:
        await ai_actions.set_contact_ai(session, principal.workspace_id, contact_id, data.enabled)
    return {"contact_id": str(contact_id), "ai_enabled": data.enabled}


@get("/contacts/{contact_id:uuid}/ai", guards=[requires_agent])
async def contact_ai_show(contact_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        await get_scoped(session, Contact, principal.workspace_id, contact_id)
        off = await ai_actions.contact_ai_off(session, principal.workspace_id, contact_id)
    return {"contact_id": str(contact_id), "ai_enabled": not off}


@get("/conversations/{conversation_id:uuid}/ai-decisions", guards=[requires_agent])
async def decisions_index(
    conversation_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Every automated decision in the conversation, oldest first: inputs (ids, scores), sources, outcome."""
    async with runtime.db.read() as session:
        await get_scoped(session, Conversation, principal.workspace_id, conversation_id)
        rows = (
            (
                await session.execute(
                    sa.select(AiDecision)
                    .where(
                        AiDecision.workspace_id == principal.workspace_id,
                        AiDecision.conversation_id == conversation_id,
                    )
                    .order_by(AiDecision.created_at, AiDecision.id)
                    .limit(500)
                )
            )
            .scalars()
            .all()
        )
    return {"items": [ai_actions.decision_state(d) for d in rows]}


@post("/ai/decisions/{decision_id:uuid}/contest", guards=[requires_agent], status_code=200)
async def decision_contest(
    decision_id: uuid.UUID, data: Contest, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Mark a decision contested (for the customer, or by an agent reviewing it): a person takes over."""
    async with runtime.db.write() as session:
        decision = await ai_actions.contest_decision(
            session, principal.workspace_id, decision_id, note=data.note, actor_id=principal.user_id
        )
        return ai_actions.decision_state(decision)


@get("/conversations/{conversation_id:uuid}/assist", guards=[requires_agent])
async def conversation_assist(
    conversation_id: uuid.UUID, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Suggested replies (knowledge base and past agent replies), summary, intent, sentiment, labels."""
    async with runtime.db.read() as session:
        return await assist_mod.assist(session, principal.workspace_id, conversation_id)


SCOPE_FAMILY = "ai"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [
    settings_show,
    settings_update,
    inbox_settings_show,
    inbox_settings_update,
    settings_probe,
    conversation_ai,
    conversation_ai_show,
    contact_ai,
    contact_ai_show,
    decisions_index,
    decision_contest,
    conversation_assist,
]
