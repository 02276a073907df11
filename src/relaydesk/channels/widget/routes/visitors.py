"""A widget visitor's side of the inbox: find their contact and conversations, store what they write, and
show them their thread.

Part of the widget's door (routes.py, stream.py): it runs inside the caller's transaction and writes only
through actions (`actions.incoming.receive_incoming`, the path every channel's customer messages take,
`actions.conversations.set_attributes`, `actions.contacts.update_contact`), so a visitor's message becomes
a customer message of a conversation in the widget inbox exactly like a provider's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions.contacts import update_contact
from relaydesk.actions.conversations import set_attributes
from relaydesk.actions.incoming import receive_incoming
from relaydesk.channels.envelopes import IncomingMessage, NewAttachment
from relaydesk.channels.widget.config import FIELD_KEY, WidgetConfig
from relaydesk.channels.widget.identity import Visitor
from relaydesk.db.base import utcnow
from relaydesk.errors import Conflict, Forbidden, InvalidInput
from relaydesk.models.contacts import Contact, ContactIdentity
from relaydesk.models.conversations import Conversation
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Message
from relaydesk.privacy import storage
from relaydesk.queries.messages import hydrate
from relaydesk.realtime import catalogue
from relaydesk.realtime.catalogue import acting_as

#: What a visitor sees of a thread: their own messages and the replies, never notes or activity.
VISIBLE_TYPES = ("incoming", "outgoing")
HISTORY_CONVERSATIONS = 10
HISTORY_MESSAGES = 200
MAX_FIELD_CHARS = 500


@dataclass(frozen=True)
class WidgetInbox:
    """What the widget's door needs of an inbox, read once per request."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    public_id: str
    name: str
    settings: dict[str, Any]
    credentials: dict[str, Any]


@dataclass
class Prechat:
    """The pre-chat form as the visitor sent it, checked against the inbox's form."""

    name: str | None = None
    email: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    consent_version: str | None = None
    consent: bool = False
    adult: bool = False


def parse_prechat(raw: Any, config: WidgetConfig) -> Prechat:
    """The form's values; `InvalidInput` naming the field when one is missing, too long or not a string."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput("prechat must be an object")
    values = raw.get("fields") or {}
    if not isinstance(values, dict):
        raise InvalidInput("prechat.fields must be an object")
    form = Prechat(
        consent=raw.get("consent") is True,
        adult=raw.get("adult") is True,
        consent_version=raw.get("consent_version") if isinstance(raw.get("consent_version"), str) else None,
    )
    known = {f.key: f for f in config.prechat_fields}
    for key in values:
        if key not in known:
            raise InvalidInput(f"prechat.fields.{str(key)[:40]} is not a field of this form")
    for spec in config.prechat_fields:
        value = values.get(spec.key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                raise InvalidInput(f"prechat.fields.{spec.key}: {spec.label} is required")
            continue
        if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS:
            raise InvalidInput(
                f"prechat.fields.{spec.key} must be text of at most {MAX_FIELD_CHARS} characters"
            )
        value = value.strip()
        if spec.key == "email":
            if "@" not in value or " " in value:
                raise InvalidInput("prechat.fields.email is not an e-mail address")
            form.email = value
        elif spec.key == "name":
            form.name = value
        else:
            form.fields[spec.key] = value
    return form


MAX_ATTRIBUTES = 20


def parse_attributes(raw: Any) -> dict[str, str]:
    """`Relaydesk.setAttributes(...)` as sent with a message: up to 20 keys of the pre-chat field key form,
    text values; anything else is a 400 naming it."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_ATTRIBUTES:
        raise InvalidInput(f"attributes must be an object of at most {MAX_ATTRIBUTES} keys")
    out = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not FIELD_KEY.fullmatch(key):
            raise InvalidInput(f"attributes.{str(key)[:40]}: keys are lower-case letters, digits and _")
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS:
            raise InvalidInput(f"attributes.{key} must be text of at most {MAX_FIELD_CHARS} characters")
        if key == "email" and ("@" not in value or " " in value.strip()):
            raise InvalidInput("attributes.email is not an e-mail address")
        out[key] = value.strip()
    return out


async def apply_attributes(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID, attributes: dict[str, str]
) -> None:
    """Name and e-mail fill the contact's fields where empty (what the visitor typed in the form wins);
    other keys are merged into the contact's attributes. Written only when something changes."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        return
    pii = storage.read_contact(contact)
    updates: dict[str, Any] = {}
    for key in ("name", "email"):
        if attributes.get(key) and not getattr(pii, key):
            updates[key] = attributes[key]
    custom = {k: v for k, v in attributes.items() if k not in ("name", "email")}
    if any(pii.custom_attributes.get(k) != v for k, v in custom.items()):
        updates["custom_attributes"] = {**pii.custom_attributes, **custom}
    if updates:
        with acting_as(catalogue.contact(contact_id)):
            await update_contact(session, workspace_id, contact_id, **updates)


def check_first_message(form: Prechat, config: WidgetConfig) -> None:
    """A conversation starts only with the consent of the current text and, where asked, the visitor's
    confirmation of being an adult; otherwise nothing is stored."""
    if config.age_confirmation and not form.adult:
        raise Forbidden("this service is for adults only: confirm that you are 18 or older to chat")
    if not form.consent:
        raise InvalidInput("prechat.consent: accept the privacy notice to start a conversation")
    if form.consent_version != config.consent_version:
        raise Conflict("the privacy notice has changed: reload the chat and read it again")


def provider_id(visitor: Visitor, client_msg_id: str) -> str:
    """The dedupe key of a visitor's post: their `client_msg_id`, scoped to them (another visitor cannot
    collide with it), hashed to fit the column whatever the length of the host site's user id."""
    return "w:" + hashlib.sha256(f"{visitor.key}\n{client_msg_id}".encode()).hexdigest()[:48]


async def find_contact(session: AsyncSession, inbox: WidgetInbox, visitor: Visitor) -> uuid.UUID | None:
    return (
        await session.execute(
            sa.select(ContactIdentity.contact_id).where(
                ContactIdentity.workspace_id == inbox.workspace_id,
                ContactIdentity.inbox_id == inbox.id,
                ContactIdentity.external_id == visitor.key,
            )
        )
    ).scalar_one_or_none()


async def visible_conversations(
    session: AsyncSession, inbox: WidgetInbox, contact_id: uuid.UUID, visitor: Visitor
) -> list[Conversation]:
    """Newest first. An identified visitor sees their earlier conversations too; an anonymous one only the
    conversation still open (a browser that keeps an anonymous token is not proof of being that person)."""
    stmt = (
        sa.select(Conversation)
        .where(
            Conversation.workspace_id == inbox.workspace_id,
            Conversation.inbox_id == inbox.id,
            Conversation.contact_id == contact_id,
        )
        .order_by(Conversation.created_at.desc())
        .limit(HISTORY_CONVERSATIONS if visitor.identified else 1)
    )
    if not visitor.identified:
        stmt = stmt.where(Conversation.status != "resolved")
    return list((await session.execute(stmt)).scalars())


def visitor_message(item: dict[str, Any], seq: int | None = None) -> dict[str, Any]:
    """A message as the visitor sees it: no ids of agents, no provider ids, no delivery internals."""
    mine = item["message_type"] == "incoming"
    return {
        "id": item["id"],
        "seq": seq,
        "conversation_id": item["conversation_id"],
        "from": "visitor" if mine else ("assistant" if item["sender_kind"] == "ai" else "agent"),
        "sender_name": None if mine else (item["sender_name"] or None),
        "text": item["content"],
        "attachments": [
            {
                "id": a["id"],
                "filename": a.get("filename"),
                "content_type": a["content_type"],
                "size": a["size"],
            }
            for a in item["attachments"]
        ],
        "status": item["status"],
        "created_at": item["created_at"],
    }


async def messages_view(session: AsyncSession, messages: list[Message]) -> list[dict[str, Any]]:
    hydrated = await hydrate(session, messages)
    out = []
    for message, item in zip(messages, hydrated, strict=True):
        view = visitor_message(item)
        view["client_msg_id"] = (message.content_attributes or {}).get("client_msg_id")
        out.append(view)
    return out


async def thread(session: AsyncSession, inbox: WidgetInbox, visitor: Visitor) -> list[dict[str, Any]]:
    """The visitor's conversations (newest first) with their messages (in thread order)."""
    contact_id = await find_contact(session, inbox, visitor)
    if contact_id is None:
        return []
    result = []
    for conv in await visible_conversations(session, inbox, contact_id, visitor):
        rows = list(
            (
                await session.execute(
                    sa.select(Message)
                    .where(
                        Message.workspace_id == inbox.workspace_id,
                        Message.conversation_id == conv.id,
                        Message.message_type.in_(VISIBLE_TYPES),
                    )
                    .order_by(Message.ordered_at.desc(), Message.id.desc())
                    .limit(HISTORY_MESSAGES)
                )
            ).scalars()
        )
        rows.reverse()
        result.append(
            {
                "id": str(conv.id),
                "number": conv.display_number,
                "status": conv.status,
                "created_at": conv.created_at.isoformat(),
                "messages": await messages_view(session, rows),
            }
        )
    return result


async def open_conversation(
    session: AsyncSession, inbox: WidgetInbox, contact_id: uuid.UUID | None
) -> Conversation | None:
    if contact_id is None:
        return None
    return (
        await session.execute(
            sa.select(Conversation)
            .where(
                Conversation.workspace_id == inbox.workspace_id,
                Conversation.inbox_id == inbox.id,
                Conversation.contact_id == contact_id,
                Conversation.status != "resolved",
            )
            .order_by(Conversation.last_activity_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def receive_visitor_message(
    session: AsyncSession,
    inbox: WidgetInbox,
    config: WidgetConfig,
    visitor: Visitor,
    *,
    client_msg_id: str,
    text: str | None,
    prechat: Any = None,
    attachment: NewAttachment | None = None,
    attributes: Any = None,
) -> tuple[Message, bool]:
    """Store a visitor's message as a customer message of their open conversation in the widget inbox,
    starting one (with the pre-chat form, consent and age confirmation) when there is none.

    A retry with the same `client_msg_id` returns the stored message (`False`: nothing new). Any refusal
    raises before anything is written; the caller's transaction then stores nothing."""
    contact_id = await find_contact(session, inbox, visitor)
    pid = provider_id(visitor, client_msg_id)
    if contact_id is not None:
        existing = (
            await session.execute(
                sa.select(Message).where(
                    Message.workspace_id == inbox.workspace_id,
                    Message.inbox_id == inbox.id,
                    Message.provider_message_id == pid,
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            return existing, False
    conv = await open_conversation(session, inbox, contact_id)
    form = parse_prechat(prechat, config)
    given = parse_attributes(attributes)
    starting = conv is None
    if starting:
        if attachment is not None:
            raise Conflict("write a message before sending a file")
        check_first_message(form, config)
    inbox_row = await session.get(Inbox, inbox.id)
    assert inbox_row is not None
    now = utcnow()
    incoming = IncomingMessage(
        external_contact_id=visitor.key,
        provider_message_id=pid,
        text=text,
        contact_name=form.name,
        contact_email=form.email,
        sent_at=now,
        attachments=[attachment] if attachment else [],
        content_attributes={"client_msg_id": client_msg_id},
    )
    message, created = await receive_incoming(session, inbox_row, incoming)
    if not created:
        return message, False
    if given:
        assert message.sender_contact_id is not None
        await apply_attributes(session, inbox.workspace_id, message.sender_contact_id, given)
    if not starting:
        return message, True
    known_before = contact_id is not None
    contact_id = message.sender_contact_id
    assert contact_id is not None
    record: dict[str, Any] = {
        "widget_consent": {
            "text": config.consent_text,
            "version": config.consent_version,
            "accepted_at": now.isoformat(),
        },
        "widget_host": visitor.host_origin,
        "widget_identified": visitor.identified,
    }
    if config.age_confirmation:
        record["widget_adult_confirmed_at"] = now.isoformat()
    with acting_as(catalogue.contact(contact_id)):
        await set_attributes(session, inbox.workspace_id, message.conversation_id, record)
        updates: dict[str, Any] = {}
        if known_before:  # a new contact got name and e-mail with the message itself
            updates.update({k: v for k, v in (("name", form.name), ("email", form.email)) if v})
        if form.fields:
            contact = await session.get(Contact, contact_id)
            assert contact is not None
            updates["custom_attributes"] = {**storage.read_contact(contact).custom_attributes, **form.fields}
        if updates:
            await update_contact(session, inbox.workspace_id, contact_id, **updates)
    return message, True


def expires_in(visitor: Visitor) -> int:
    return max(0, visitor.expires_at - int(dt.datetime.now(dt.UTC).timestamp()))
