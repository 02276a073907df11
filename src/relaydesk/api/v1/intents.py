"""Workspace intents API: the built-in customer-service intents and the workspace's own, the training
state of the workspace's classifier, and a try-it endpoint.

Agents read (the inbox shows detected intents); admins write. Writes queue a debounced retraining in the
same transaction (actions.ai_intents); nothing here trains in a request.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import delete, get, patch, post

from relaydesk.actions import ai_intents
from relaydesk.ai.agent import workspace_intents
from relaydesk.api.v1._common import changes
from relaydesk.auth.guards import requires_admin, requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.errors import InvalidInput
from relaydesk.runtime import Runtime

TEST_MAX_CHARS = 2000


class IntentCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    examples: list[str]
    description: str = ""
    label_id: uuid.UUID | None = None
    priority: str | None = None
    handoff: bool = False
    enabled: bool = True


class IntentUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    examples: list[str] | msgspec.UnsetType = msgspec.UNSET
    label_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    priority: str | msgspec.UnsetType | None = msgspec.UNSET
    handoff: bool | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class IntentTest(msgspec.Struct, forbid_unknown_fields=True):
    text: str


@get("/ai/intents", guards=[requires_agent])
async def intents_index(principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """Every intent of the workspace: built-ins first (with the phrases they ship with), then its own."""
    async with runtime.db.read() as session:
        items = await ai_intents.list_intents(session, principal.workspace_id)
        model = await ai_intents.model_status(session, principal.workspace_id)
    return {"items": items, "model": model}


@post("/ai/intents", guards=[requires_admin], status_code=201)
async def intents_create(data: IntentCreate, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """A new intent with 1-500 example phrases; the workspace's model is retrained in the background."""
    async with runtime.db.write() as session:
        row = await ai_intents.create_intent(
            session, principal.workspace_id, msgspec.structs.asdict(data), actor_id=principal.user_id
        )
        return ai_intents.intent_state(principal.workspace_id, row.name, row)


@get("/ai/intents/model", guards=[requires_agent])
async def intents_model(principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """Training status: the version serving now and the newest version's state (queued, training,
    ready, failed with its error)."""
    async with runtime.db.read() as session:
        return await ai_intents.model_status(session, principal.workspace_id)


@post("/ai/intents/test", guards=[requires_agent], status_code=200, opt={"scope_access": "read"})
async def intents_test(data: IntentTest, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """What the workspace's model (or the built-in one, until a version is ready) makes of a phrase."""
    text = data.text.strip()
    if not 1 <= len(text) <= TEST_MAX_CHARS:
        raise InvalidInput(f"text must be 1 to {TEST_MAX_CHARS} characters")
    async with runtime.db.read() as session:
        intent = await workspace_intents.detect(session, principal.workspace_id, text)
    if intent is None:  # the model failed to load or predict (logged): say so rather than guess
        return {"intent": None, "confidence": None, "out_of_scope": True, "top": [], "model": None}
    return {
        "intent": intent.name,
        "confidence": intent.confidence,
        "out_of_scope": intent.out_of_scope,
        "top": [{"intent": name, "confidence": conf} for name, conf in intent.alternatives[:3]],
        "handoff": intent.handoff,
        "label_id": intent.label_id,
        "priority": intent.priority,
        "model": "workspace" if intent.model_version is not None else "default",
        "model_version": intent.model_version,
    }


@get("/ai/intents/{intent_id:uuid}", guards=[requires_agent])
async def intents_show(intent_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return await ai_intents.get_intent(session, principal.workspace_id, intent_id)


@patch("/ai/intents/{intent_id:uuid}", guards=[requires_admin])
async def intents_update(
    intent_id: uuid.UUID, data: IntentUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Change an intent. Built-in intents keep their name; `examples` are the phrases the workspace adds
    to theirs (0-500), and `enabled: false` takes one out of the model."""
    async with runtime.db.write() as session:
        row = await ai_intents.update_intent(
            session, principal.workspace_id, intent_id, changes(data), actor_id=principal.user_id
        )
        return ai_intents.intent_state(principal.workspace_id, row.name, row)


@delete("/ai/intents/{intent_id:uuid}", guards=[requires_admin])
async def intents_delete(intent_id: uuid.UUID, principal: Principal, runtime: Runtime) -> None:
    """Delete one of the workspace's own intents (409 for a built-in one: disable it instead)."""
    async with runtime.db.write() as session:
        await ai_intents.delete_intent(session, principal.workspace_id, intent_id, actor_id=principal.user_id)


SCOPE_FAMILY = "ai"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [
    intents_index,
    intents_create,
    intents_model,
    intents_test,
    intents_show,
    intents_update,
    intents_delete,
]
