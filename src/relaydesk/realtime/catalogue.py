"""Every realtime and webhook event type, declared once: its name, what it means, its payload schema, and
the one builder that makes it.

Actions emit only what a builder here returns (`realtime.events.emit` refuses a type that is not in
`CATALOGUE`), so the wire format of an event lives in one place, and the table of event types in
docs/api.md is generated from this module (`python -m relaydesk.realtime.catalogue` rewrites it; a test
keeps it in sync). Under the test suite every emitted payload is also validated against its schema
(`realtime.events.check_payloads`).

Every event says who caused it (`actor`: a user, a contact, the AI, an automation, or the system), so
automation built on events can ignore what it caused itself instead of looping. A request of a signed-in
user or API token acts as that user (the tenant scope of db/tenancy.py names them); the AI's job says so
with `acting_as(AI)`; the inbound path names the contact; everything else, such as periodic jobs and
delivery receipts, is the system.

Payloads carry ids and state, never message text or contact PII (docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import msgspec

from relaydesk.db.tenancy import current_scope

ActorKind = Literal["user", "contact", "ai", "automation", "system"]


class Actor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who caused an event. `id` is the user's or contact's id; the AI, automations and the system have
    none."""

    kind: ActorKind
    id: str | None = None

    def as_payload(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id}


SYSTEM = Actor("system")
AI = Actor("ai")
# Rules Relaydesk runs on its own (the away message of business hours).
AUTOMATION = Actor("automation")


def user(user_id: uuid.UUID) -> Actor:
    return Actor("user", str(user_id))


def contact(contact_id: uuid.UUID | str) -> Actor:
    return Actor("contact", str(contact_id))


def user_or_system(user_id: uuid.UUID | None) -> Actor:
    """A user when the action names one, else the system (a periodic job, a migration)."""
    return user(user_id) if user_id is not None else SYSTEM


_acting: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("relaydesk_actor", default=None)


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Events emitted inside this block are caused by `actor` (unless a builder is given one)."""
    token = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(token)


def current_actor() -> Actor:
    """The actor named by `acting_as`; else the signed-in user the request runs for (the tenant scope the
    API and the web pages set, db/tenancy.py); else the system (jobs, the CLI)."""
    explicit = _acting.get()
    if explicit is not None:
        return explicit
    scope = current_scope.get()
    if scope is not None and scope.user_id is not None:
        return user(scope.user_id)
    return SYSTEM


def _actor(actor: Actor | None) -> dict[str, Any]:
    return (actor or current_actor()).as_payload()


class Event(NamedTuple):
    """An event ready to emit: its type (a `CATALOGUE` key) and its payload (matching the type's schema)."""

    type: str
    payload: dict[str, Any]


# --- payload schemas ------------------------------------------------------------------------------------


class _Payload(msgspec.Struct, forbid_unknown_fields=True):
    actor: Actor


class MessageState(_Payload):
    message_id: str
    conversation_id: str
    inbox_id: str
    message_type: str
    sender_kind: str
    sender_user_id: str | None
    status: str
    failure_reason: str | None
    created_at: str


class ConversationState(_Payload):
    conversation_id: str
    display_number: int
    inbox_id: str
    contact_id: str
    status: str
    snoozed_until: str | None
    priority: str
    assignee_id: str | None
    team_id: str | None
    unread_count: int
    last_activity_at: str


class ConversationChange(ConversationState):
    changed: list[str]
    actor_id: str | None
    labels: list[str] | msgspec.UnsetType = msgspec.UNSET


class ContactRef(_Payload):
    contact_id: str


class InboxCreated(_Payload):
    inbox_id: str
    channel_type: str


class InboxRef(_Payload):
    inbox_id: str


class TeamRef(_Payload):
    team_id: str


class LabelRef(_Payload):
    label_id: str


class MemberAdded(_Payload):
    user_id: str
    role: str


class MemberUpdated(_Payload):
    user_id: str
    role: str | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class MemberRef(_Payload):
    user_id: str


class WorkspaceRef(_Payload):
    workspace_id: str


class ArticleState(_Payload):
    article_id: str
    kind: str
    published: bool


class AiSettingsUpdated(_Payload):
    inbox_id: str | None
    actor_id: str | None


class AiConversationUpdated(_Payload):
    conversation_id: str
    ai_enabled: bool
    reason: str | None
    actor_id: str | None


class AiDecisionLogged(_Payload):
    decision_id: str
    conversation_id: str
    action: str
    reason_category: str | None


class AiDecisionContested(_Payload):
    decision_id: str
    conversation_id: str
    actor_id: str | None


class AiIntentsUpdated(_Payload):
    intent_id: str
    action: str
    actor_id: str | None


class AiIntentModelUpdated(_Payload):
    version: int
    state: str


@dataclass(frozen=True)
class EventType:
    name: str
    schema: type[msgspec.Struct]
    meaning: str

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]


_TYPES = [
    EventType("message.created", MessageState, "a message was stored: incoming, outgoing, or a private note"),
    EventType("message.updated", MessageState, "an outgoing message's delivery status changed"),
    EventType("conversation.created", ConversationState, "a conversation was opened"),
    EventType(
        "conversation.updated",
        ConversationChange,
        "a conversation changed; `changed` names what (status, assignee, labels, message, ...)",
    ),
    EventType("contact.created", ContactRef, "a contact was created (by an agent or a first message)"),
    EventType("contact.updated", ContactRef, "a contact's details changed"),
    EventType("inbox.created", InboxCreated, "an inbox was created"),
    EventType("inbox.updated", InboxRef, "an inbox's name, settings or state changed"),
    EventType("inbox.deleted", InboxRef, "an inbox was deleted"),
    EventType("team.created", TeamRef, "a team was created"),
    EventType("team.updated", TeamRef, "a team or its members changed"),
    EventType("team.deleted", TeamRef, "a team was deleted"),
    EventType("label.created", LabelRef, "a label was created"),
    EventType("label.updated", LabelRef, "a label changed"),
    EventType("label.deleted", LabelRef, "a label was deleted"),
    EventType("member.added", MemberAdded, "a user joined the workspace"),
    EventType("member.updated", MemberUpdated, "a member's role changed, or the member was reactivated"),
    EventType("member.deactivated", MemberRef, "a member was deactivated"),
    EventType("workspace.updated", WorkspaceRef, "the workspace's name or settings changed"),
    EventType("knowledge.article_created", ArticleState, "a knowledge-base article was added"),
    EventType("knowledge.article_updated", ArticleState, "a knowledge-base article changed"),
    EventType("knowledge.article_deleted", ArticleState, "a knowledge-base article was deleted"),
    EventType("ai.settings_updated", AiSettingsUpdated, "AI settings of the workspace or an inbox changed"),
    EventType(
        "ai.conversation_updated", AiConversationUpdated, "the AI was switched on or off in a conversation"
    ),
    EventType(
        "ai.decision", AiDecisionLogged, "the AI decided (reply, clarify, hand off, triage) and logged it"
    ),
    EventType("ai.decision_contested", AiDecisionContested, "an agent contested an AI decision"),
    EventType("ai.intents_updated", AiIntentsUpdated, "an intent was created, updated or deleted"),
    EventType("ai.intent_model_updated", AiIntentModelUpdated, "the intent model's training state changed"),
]

CATALOGUE: dict[str, EventType] = {t.name: t for t in _TYPES}


class UnknownEvent(ValueError):
    """An event type that is not in the catalogue (or a payload that does not match its schema)."""


def check(type_: str, payload: dict[str, Any]) -> None:
    """Raise `UnknownEvent` unless `type_` is catalogued and `payload` matches its schema exactly."""
    spec = CATALOGUE.get(type_)
    if spec is None:
        raise UnknownEvent(f"event type {type_!r} is not in the catalogue (realtime/catalogue.py)")
    try:
        msgspec.convert(payload, spec.schema, strict=True)
    except msgspec.ValidationError as exc:
        raise UnknownEvent(f"payload of {type_!r} does not match its schema: {exc}") from None


# --- builders: the one place each event's payload is made --------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None


def message_state(msg: Any, actor: Actor | None) -> dict[str, Any]:
    """Non-personal message fields (of a Message, or a row built for a Core insert)."""
    return {
        "message_id": str(msg.id),
        "conversation_id": str(msg.conversation_id),
        "inbox_id": str(msg.inbox_id),
        "message_type": msg.message_type,
        "sender_kind": msg.sender_kind,
        "sender_user_id": _id(msg.sender_user_id),
        "status": msg.status,
        "failure_reason": msg.failure_reason,
        "created_at": msg.created_at.isoformat(),
        "actor": _actor(actor),
    }


def message_created(msg: Any, actor: Actor | None = None) -> Event:
    return Event("message.created", message_state(msg, actor))


def message_updated(msg: Any, actor: Actor | None = None) -> Event:
    return Event("message.updated", message_state(msg, actor))


def conversation_state(conv: Any, actor: Actor | None) -> dict[str, Any]:
    """Non-personal conversation state (of a Conversation, or a row built for a Core insert)."""
    return {
        "conversation_id": str(conv.id),
        "display_number": conv.display_number,
        "inbox_id": str(conv.inbox_id),
        "contact_id": str(conv.contact_id),
        "status": conv.status,
        "snoozed_until": _iso(conv.snoozed_until),
        "priority": conv.priority,
        "assignee_id": _id(conv.assignee_id),
        "team_id": _id(conv.team_id),
        "unread_count": conv.unread_count,
        "last_activity_at": conv.last_activity_at.isoformat(),
        "actor": _actor(actor),
    }


def conversation_created(conv: Any, actor: Actor | None = None) -> Event:
    return Event("conversation.created", conversation_state(conv, actor))


def conversation_updated(
    conv: Any,
    changed: list[str],
    *,
    actor_id: uuid.UUID | None = None,
    actor: Actor | None = None,
    labels: list[uuid.UUID] | None = None,
) -> Event:
    """`changed`: what changed (sorted); `actor_id`: the user who changed it, if a user did; `labels`: the
    conversation's label ids, when they are what changed."""
    state = conversation_state(conv, actor or (user(actor_id) if actor_id else None))
    if labels is not None:
        state["labels"] = sorted(str(label_id) for label_id in labels)
    state["changed"] = sorted(changed)
    state["actor_id"] = _id(actor_id)
    return Event("conversation.updated", state)


def contact_created(contact_id: uuid.UUID, actor: Actor | None = None) -> Event:
    return Event("contact.created", {"contact_id": str(contact_id), "actor": _actor(actor)})


def contact_updated(contact_id: uuid.UUID) -> Event:
    return Event("contact.updated", {"contact_id": str(contact_id), "actor": _actor(None)})


def inbox_created(inbox_id: uuid.UUID, channel_type: str) -> Event:
    return Event(
        "inbox.created", {"inbox_id": str(inbox_id), "channel_type": channel_type, "actor": _actor(None)}
    )


def inbox_updated(inbox_id: uuid.UUID) -> Event:
    return Event("inbox.updated", {"inbox_id": str(inbox_id), "actor": _actor(None)})


def inbox_deleted(inbox_id: uuid.UUID) -> Event:
    return Event("inbox.deleted", {"inbox_id": str(inbox_id), "actor": _actor(None)})


def team_created(team_id: uuid.UUID) -> Event:
    return Event("team.created", {"team_id": str(team_id), "actor": _actor(None)})


def team_updated(team_id: uuid.UUID) -> Event:
    return Event("team.updated", {"team_id": str(team_id), "actor": _actor(None)})


def team_deleted(team_id: uuid.UUID) -> Event:
    return Event("team.deleted", {"team_id": str(team_id), "actor": _actor(None)})


def label_created(label_id: uuid.UUID) -> Event:
    return Event("label.created", {"label_id": str(label_id), "actor": _actor(None)})


def label_updated(label_id: uuid.UUID) -> Event:
    return Event("label.updated", {"label_id": str(label_id), "actor": _actor(None)})


def label_deleted(label_id: uuid.UUID) -> Event:
    return Event("label.deleted", {"label_id": str(label_id), "actor": _actor(None)})


def member_added(user_id: uuid.UUID, role: str) -> Event:
    return Event("member.added", {"user_id": str(user_id), "role": role, "actor": _actor(None)})


def member_updated(user_id: uuid.UUID, *, role: str | None = None, active: bool | None = None) -> Event:
    """A role change (`role`) or a reactivation (`active=True`); only what changed is in the payload."""
    payload: dict[str, Any] = {"user_id": str(user_id)}
    if role is not None:
        payload["role"] = role
    if active is not None:
        payload["active"] = active
    payload["actor"] = _actor(None)
    return Event("member.updated", payload)


def member_deactivated(user_id: uuid.UUID) -> Event:
    return Event("member.deactivated", {"user_id": str(user_id), "actor": _actor(None)})


def workspace_updated(workspace_id: uuid.UUID) -> Event:
    return Event("workspace.updated", {"workspace_id": str(workspace_id), "actor": _actor(None)})


def _article(article: Any) -> dict[str, Any]:
    return {"article_id": str(article.id), "kind": article.kind, "published": article.published}


def article_created(article: Any) -> Event:
    return Event("knowledge.article_created", {**_article(article), "actor": _actor(None)})


def article_updated(article: Any) -> Event:
    return Event("knowledge.article_updated", {**_article(article), "actor": _actor(None)})


def article_deleted(article: Any) -> Event:
    """Build before the article is deleted (its fields are read here)."""
    return Event("knowledge.article_deleted", {**_article(article), "actor": _actor(None)})


def ai_settings_updated(inbox_id: uuid.UUID | None, actor_id: uuid.UUID | None) -> Event:
    return Event(
        "ai.settings_updated",
        {
            "inbox_id": _id(inbox_id),
            "actor_id": _id(actor_id),
            "actor": _actor(user(actor_id) if actor_id else None),
        },
    )


def ai_conversation_updated(
    conversation_id: uuid.UUID, enabled: bool, reason: str | None, actor_id: uuid.UUID | None
) -> Event:
    return Event(
        "ai.conversation_updated",
        {
            "conversation_id": str(conversation_id),
            "ai_enabled": enabled,
            "reason": reason,
            "actor_id": _id(actor_id),
            "actor": _actor(user(actor_id) if actor_id else None),
        },
    )


def ai_decision(decision: Any) -> Event:
    return Event(
        "ai.decision",
        {
            "decision_id": str(decision.id),
            "conversation_id": str(decision.conversation_id),
            "action": decision.action,
            "reason_category": decision.reason_category,
            "actor": AI.as_payload(),
        },
    )


def ai_decision_contested(
    decision_id: uuid.UUID, conversation_id: uuid.UUID, actor_id: uuid.UUID | None
) -> Event:
    return Event(
        "ai.decision_contested",
        {
            "decision_id": str(decision_id),
            "conversation_id": str(conversation_id),
            "actor_id": _id(actor_id),
            "actor": _actor(user(actor_id) if actor_id else None),
        },
    )


def ai_intents_updated(intent_id: uuid.UUID, action: str, actor_id: uuid.UUID | None) -> Event:
    return Event(
        "ai.intents_updated",
        {
            "intent_id": str(intent_id),
            "action": action,
            "actor_id": _id(actor_id),
            "actor": _actor(user(actor_id) if actor_id else None),
        },
    )


def ai_intent_model_updated(model: Any) -> Event:
    return Event(
        "ai.intent_model_updated", {"version": model.version, "state": model.state, "actor": _actor(None)}
    )


# --- the docs table -------------------------------------------------------------------------------------

DOCS_START = "<!-- event catalogue: generated by `python -m relaydesk.realtime.catalogue`; do not edit -->"
DOCS_END = "<!-- end of event catalogue -->"


def _fields(schema: type[msgspec.Struct]) -> str:
    parts = []
    for field in msgspec.structs.fields(schema):
        optional = field.default is msgspec.UNSET
        parts.append(f"`{field.name}`" + (" (when changed)" if optional else ""))
    return ", ".join(parts)


def docs_table() -> str:
    """The Markdown table of event types that docs/api.md carries between `DOCS_START` and `DOCS_END`."""
    lines = [
        DOCS_START,
        "| Type | When | Payload fields |",
        "|---|---|---|",
        *(f"| `{t.name}` | {t.meaning} | {_fields(t.schema)} |" for t in _TYPES),
        DOCS_END,
    ]
    return "\n".join(lines)


def with_docs_table(text: str) -> str:
    """`text` (docs/api.md) with its event table replaced by the current one."""
    start, end = text.index(DOCS_START), text.index(DOCS_END) + len(DOCS_END)
    return text[:start] + docs_table() + text[end:]


if __name__ == "__main__":  # rewrite docs/api.md's table from the catalogue
    import sys

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/api.md")
    path.write_text(with_docs_table(path.read_text()))
