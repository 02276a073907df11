"""When a chat visitor has left, agents' replies go by e-mail, and the e-mailed answer comes back to the chat.

A chat inbox (the widget) names, in its settings, an e-mail inbox of the same workspace:
`email_fallback_inbox` (checked here on every inbox create/update: it must be an e-mail inbox of this
workspace). Three pieces use it:

- **Presence** (`mark_presence`): the widget's socket marks the visitor's identity on the chat inbox
  present for `PRESENCE_TIMEOUT` seconds when it says hello, refreshes that while it stays open and with
  every message the visitor sends, and ends it when the socket closes. A visitor is present while
  `contact_identities.present_until` lies ahead.
- **Delivery** (`email_route`, used by the delivery job): a reply (by an agent or the AI; never an
  automatic message) in a chat conversation whose visitor is not present and whose contact has an e-mail
  address (pre-chat form or `setAttributes`/identify) is sent through the e-mail inbox's channel instead:
  its SMTP server and sending address, our Message-ID, and `Reply-To: reply+<conversation>@<reply
  domain>`. The message stays in the chat conversation (the visitor sees it there when they return);
  `content_attributes.delivered_by` records that it went by e-mail.
- **The answer** (`route_replies`, used when inbound events are applied): a mail arriving at the e-mail
  inbox whose `In-Reply-To`/`References` name one of those mails, or whose reply+ address names the
  conversation, and whose sender is the conversation's contact (their e-mail address, compared on the
  decrypted contact), is stored in the chat conversation as the visitor's message; anything else stays
  with the e-mail inbox and its own threading.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.channels.email.spec import EmailSpec
from relaydesk.channels.envelopes import IncomingMessage, NewAttachment, ThreadHint
from relaydesk.db.base import utcnow
from relaydesk.errors import InvalidInput
from relaydesk.models.contacts import Contact, ContactIdentity
from relaydesk.models.conversations import Conversation
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Attachment, Message
from relaydesk.privacy import storage

SETTING = "email_fallback_inbox"
# The channel that answers by e-mail, named by its own spec (never spelled here).
EMAIL_CHANNEL = EmailSpec.name
#: Seconds a visitor counts as present after their socket last said so (it refreshes every 30 s).
PRESENCE_TIMEOUT = 75

_identities = ContactIdentity.__table__
_MARK = (
    sa.update(_identities)
    .where(
        _identities.c.workspace_id == sa.bindparam("ws"),
        _identities.c.inbox_id == sa.bindparam("inbox"),
        _identities.c.external_id == sa.bindparam("b_external_id"),
    )
    .values(present_until=sa.bindparam("b_until", type_=_identities.c.present_until.type))
)


# ---- settings ------------------------------------------------------------------------------------------


async def check_settings(session: AsyncSession, workspace_id: uuid.UUID, settings: dict[str, Any]) -> None:
    """`email_fallback_inbox`, when set, must name an e-mail inbox of this workspace (a 400 naming the
    setting otherwise): replies must never leave through another workspace's mail server."""
    value = settings.get(SETTING)
    if value in (None, ""):
        return
    field = f"settings.{SETTING}"
    try:
        inbox_id = uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput(f"{field}: must be the id of an e-mail inbox", details={"field": field}) from None
    found = (
        await session.execute(
            sa.select(Inbox.channel_type).where(Inbox.workspace_id == workspace_id, Inbox.id == inbox_id)
        )
    ).scalar_one_or_none()
    if found != EMAIL_CHANNEL:
        raise InvalidInput(
            f"{field}: no e-mail inbox {str(inbox_id)!r} in this workspace", details={"field": field}
        )
    settings[SETTING] = str(inbox_id)


# ---- presence ------------------------------------------------------------------------------------------


async def mark_presence(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_id: uuid.UUID, external_id: str, *, present: bool
) -> None:
    """The visitor known as `external_id` on the chat inbox is here (for PRESENCE_TIMEOUT seconds) or has
    left (now). A visitor who has not written yet has no identity: nothing to mark."""
    now = utcnow()
    until = now + dt.timedelta(seconds=PRESENCE_TIMEOUT) if present else now
    conn = await session.connection()
    await conn.execute(
        _MARK, {"ws": workspace_id, "inbox": inbox_id, "b_external_id": external_id, "b_until": until}
    )


async def is_present(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_id: uuid.UUID, contact_id: uuid.UUID
) -> bool:
    now = utcnow()
    found = (
        await session.execute(
            sa.select(sa.func.count())
            .select_from(ContactIdentity)
            .where(
                ContactIdentity.workspace_id == workspace_id,
                ContactIdentity.inbox_id == inbox_id,
                ContactIdentity.contact_id == contact_id,
                ContactIdentity.present_until > now,
            )
        )
    ).scalar_one()
    return bool(found)


# ---- delivery ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class EmailRoute:
    """Where a reply goes instead of the chat: the e-mail inbox and the visitor's address."""

    inbox: Inbox
    address: str


async def email_route(session: AsyncSession, message: Message, inbox: Inbox) -> EmailRoute | None:
    """The e-mail route of an outgoing chat message whose visitor has left, or None (deliver as usual)."""
    target = (inbox.settings or {}).get(SETTING)
    if not target or message.sender_kind not in ("agent", "ai") or message.message_type != "outgoing":
        return None
    conv = await session.get(Conversation, message.conversation_id)
    if conv is None or await is_present(session, message.workspace_id, inbox.id, conv.contact_id):
        return None
    contact = await session.get(Contact, conv.contact_id)
    address = storage.read_contact(contact).email if contact is not None else None
    if not address:
        return None
    email_inbox = (
        await session.execute(
            sa.select(Inbox).where(
                Inbox.workspace_id == message.workspace_id,
                Inbox.id == uuid.UUID(str(target)),
                Inbox.channel_type == EMAIL_CHANNEL,
                Inbox.is_active.is_(True),
            )
        )
    ).scalar_one_or_none()
    if email_inbox is None:
        return None
    return EmailRoute(email_inbox, address)


async def attachment_files(session: AsyncSession, message: Message) -> list[NewAttachment]:
    """The message's files with their bytes, for a channel that carries files itself (e-mail)."""
    rows = (
        await session.execute(
            sa.select(Attachment)
            .options(sa.orm.undefer(Attachment.data))
            .where(Attachment.workspace_id == message.workspace_id, Attachment.message_id == message.id)
            .order_by(Attachment.created_at, Attachment.id)
        )
    ).scalars()
    return [
        NewAttachment(storage.read_attachment_name(a), a.content_type, storage.read_attachment(a))
        for a in rows
    ]


def record_email_delivery(message: Message, email_inbox_id: uuid.UUID) -> None:
    """Say on the message that it went by e-mail (the agent's thread shows it)."""
    message.content_attributes = {
        **(message.content_attributes or {}),
        "delivered_by": {"channel": EMAIL_CHANNEL, "inbox_id": str(email_inbox_id)},
    }


# ---- the answer ----------------------------------------------------------------------------------------


Sources = list[uuid.UUID | None]


async def route_replies(
    session: AsyncSession, inbox: Any, items: list[IncomingMessage], sources: Sources
) -> list[tuple[Any, list[IncomingMessage], Sources]]:
    """Split messages received on `inbox` into `(inbox to store them in, messages, their raw events)`:
    answers to replies that went out by e-mail on behalf of a chat inbox go to that chat conversation
    (rewritten as the chat contact's message, threaded by the conversation), the rest stay on `inbox`, in
    order. `sources[i]` is the raw event of `items[i]` and follows it."""
    hinted = [i for i, item in enumerate(items) if item.thread is not None]
    if not hinted:
        return [(inbox, items, sources)]
    workspace_id = inbox.workspace_id
    references = {ref for i in hinted for ref in items[i].thread.message_ids}  # type: ignore[union-attr]
    by_reference: dict[str, uuid.UUID] = {}
    if references:
        for provider_id, conversation_id in await session.execute(
            sa.select(Message.provider_message_id, Message.conversation_id).where(
                Message.workspace_id == workspace_id,
                Message.inbox_id != inbox.id,
                Message.provider_message_id.in_(references),
            )
        ):
            by_reference[provider_id] = conversation_id
    wanted: dict[int, uuid.UUID] = {}
    for i in hinted:
        hint = items[i].thread
        assert hint is not None
        found = next((by_reference[ref] for ref in hint.message_ids if ref in by_reference), None)
        if found is None and hint.conversation_token:
            try:
                found = uuid.UUID(hint.conversation_token)
            except ValueError:
                found = None
        if found is not None:
            wanted[i] = found
    if not wanted:
        return [(inbox, items, sources)]
    rows = (
        await session.execute(
            sa.select(Conversation, Inbox)
            .join(Inbox, Inbox.id == Conversation.inbox_id)
            .where(
                Conversation.workspace_id == workspace_id,
                Conversation.id.in_(set(wanted.values())),
                Inbox.id != inbox.id,
            )
        )
    ).all()
    chats = {
        conv.id: (conv, chat) for conv, chat in rows if (chat.settings or {}).get(SETTING) == str(inbox.id)
    }
    rerouted: dict[int, tuple[Inbox, IncomingMessage]] = {}
    for i, conv_id in wanted.items():
        if conv_id not in chats:
            continue
        conv, chat = chats[conv_id]
        contact = await session.get(Contact, conv.contact_id)
        known = storage.read_contact(contact).email if contact is not None else None
        sender = items[i].contact_email or items[i].external_contact_id
        if not known or not sender or known.strip().lower() != sender.strip().lower():
            continue  # only the visitor themselves answers into their chat
        external_id = (
            await session.execute(
                sa.select(ContactIdentity.external_id)
                .where(
                    ContactIdentity.workspace_id == workspace_id,
                    ContactIdentity.inbox_id == chat.id,
                    ContactIdentity.contact_id == conv.contact_id,
                )
                .limit(1)
            )
        ).scalar_one_or_none()
        if external_id is None:
            continue
        rerouted[i] = (
            chat,
            dataclasses.replace(
                items[i], external_contact_id=external_id, thread=ThreadHint(conversation_token=str(conv.id))
            ),
        )
    if not rerouted:
        return [(inbox, items, sources)]
    groups: dict[uuid.UUID, tuple[Any, list[IncomingMessage], Sources]] = {inbox.id: (inbox, [], [])}
    for i, item in enumerate(items):
        source = sources[i] if i < len(sources) else None
        if i in rerouted:
            chat, moved = rerouted[i]
            group = groups.setdefault(chat.id, (chat, [], []))
            group[1].append(moved)
            group[2].append(source)
        else:
            groups[inbox.id][1].append(item)
            groups[inbox.id][2].append(source)
    return [group for group in groups.values() if group[1]]
