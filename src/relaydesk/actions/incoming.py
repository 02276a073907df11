"""Customers' messages coming in: store a whole batch of them in one transaction with a fixed statement count.

Inbound processing is the hottest write path (docs/scaling.md): a provider can deliver thousands of
messages a second. `receive_incoming_batch` therefore works set-wise: one query finds the redeliveries,
one the known identities, one the open conversations, then one insert per table and one executemany
update of the conversations, with one sequence allocation for all the realtime events — about 15
statements per batch however many messages it holds (`bench/sql_census.py`). Rows are built with Core,
not the ORM unit of work; personal data is still sealed only by `privacy/storage/`.

Concurrency: on SQLite the batch runs inside the one writer's `BEGIN IMMEDIATE`; on PostgreSQL the open
conversations are read `FOR UPDATE`, and two workers racing to create the same contact or message collide
on a unique index, which fails the batch: the inbound job then retries each event on its own, and the
retry finds the winner's rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from relaydesk.actions import business_hours
from relaydesk.actions.messages import check_content
from relaydesk.channels.envelopes import IncomingMessage, NewAttachment, ThreadHint
from relaydesk.db.base import utcnow
from relaydesk.db.ids import uuid7
from relaydesk.jobs.outbox import enqueue_many
from relaydesk.models.contacts import Contact, ContactIdentity
from relaydesk.models.conversations import Conversation
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Message
from relaydesk.models.workspaces import Workspace
from relaydesk.privacy import storage
from relaydesk.realtime import catalogue
from relaydesk.realtime.events import emit, emit_many
from relaydesk.search import index as search_index

_conversations = Conversation.__table__
_contacts = Contact.__table__
_messages = Message.__table__
_identities = ContactIdentity.__table__
_workspaces = Workspace.__table__
_when = _conversations.c.last_activity_at.type  # UtcDateTime, for bind parameters

# Built once (building SQLAlchemy statements per call costs more than SQLite takes to run them) and run on
# the session's connection, so the ORM's per-statement machinery stays out of the hot path.
_FIND_MESSAGES = sa.select(_messages.c.provider_message_id, _messages.c.id).where(
    _messages.c.workspace_id == sa.bindparam("ws"),
    _messages.c.inbox_id == sa.bindparam("inbox"),
    _messages.c.provider_message_id.in_(sa.bindparam("pids", expanding=True)),
)
_FIND_IDENTITIES = (
    sa.select(_identities.c.external_id, _identities.c.contact_id, _contacts.c.last_activity_at)
    .join(_contacts, _contacts.c.id == _identities.c.contact_id)
    .where(
        _identities.c.workspace_id == sa.bindparam("ws"),
        _identities.c.inbox_id == sa.bindparam("inbox"),
        _identities.c.external_id.in_(sa.bindparam("external_ids", expanding=True)),
    )
)
# A contact's `last_activity_at` moves on the inbound path only when it is older than this: a customer
# writing ten lines a minute does not rewrite their contact row ten times.
ACTIVITY_GRAIN = dt.timedelta(minutes=1)
_TOUCH_CONTACTS = (
    sa.update(_contacts)
    .where(_contacts.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(last_activity_at=sa.bindparam("now", type_=_when), updated_at=sa.bindparam("now", type_=_when))
)
_OPEN_CONVERSATIONS = (
    sa.select(_conversations)
    .where(
        _conversations.c.workspace_id == sa.bindparam("ws"),
        _conversations.c.inbox_id == sa.bindparam("inbox"),
        _conversations.c.contact_id.in_(sa.bindparam("contacts", expanding=True)),
        _conversations.c.status != "resolved",
    )
    .order_by(_conversations.c.last_activity_at.desc())
)
_OPEN_CONVERSATIONS_LOCKED = _OPEN_CONVERSATIONS.with_for_update()
# Threading by references (e-mail): which conversation holds each referenced provider id on this inbox, and
# the conversations themselves (by id, scoped to the workspace and inbox).
_FIND_THREAD_MESSAGES = sa.select(_messages.c.provider_message_id, _messages.c.conversation_id).where(
    _messages.c.workspace_id == sa.bindparam("ws"),
    _messages.c.inbox_id == sa.bindparam("inbox"),
    _messages.c.provider_message_id.in_(sa.bindparam("pids", expanding=True)),
)
_CONVERSATIONS_BY_ID = sa.select(_conversations).where(
    _conversations.c.workspace_id == sa.bindparam("ws"),
    _conversations.c.inbox_id == sa.bindparam("inbox"),
    _conversations.c.id.in_(sa.bindparam("ids", expanding=True)),
)
_CONVERSATIONS_BY_ID_LOCKED = _CONVERSATIONS_BY_ID.with_for_update()
_NUMBER_CONVERSATIONS = (
    sa.update(_workspaces)
    .where(_workspaces.c.id == sa.bindparam("ws"))
    .values(conversation_seq=_workspaces.c.conversation_seq + sa.bindparam("n"))
    .returning(_workspaces.c.conversation_seq)
)
_INSERT_CONTACTS = sa.insert(_contacts)
_INSERT_IDENTITIES = sa.insert(_identities)
_INSERT_CONVERSATIONS = sa.insert(_conversations)
_INSERT_MESSAGES = sa.insert(_messages)
_SAVE_CONVERSATIONS = (
    sa.update(_conversations)
    .where(_conversations.c.id == sa.bindparam("b_id"))
    .values(
        status=sa.bindparam("b_status"),
        snoozed_until=sa.bindparam("b_snoozed_until", type_=_when),
        last_activity_at=sa.bindparam("b_last_activity_at", type_=_when),
        last_incoming_at=sa.bindparam("b_last_incoming_at", type_=_when),
        waiting_since=sa.bindparam("b_waiting_since", type_=_when),
        last_message_id=sa.bindparam("b_last_message_id", type_=_conversations.c.last_message_id.type),
        unread_count=sa.bindparam("b_unread_count"),
        updated_at=sa.bindparam("b_now", type_=_when),
    )
)


async def receive_incoming(
    session: AsyncSession, inbox: Inbox, incoming: IncomingMessage
) -> tuple[Message, bool]:
    """Store one customer message (a redelivery of the same provider id returns the stored one)."""
    [(message_id, created)] = await receive_incoming_batch(session, inbox, [incoming])
    message = await session.get(Message, message_id)
    assert message is not None
    return message, created


class InboxRef(Protocol):
    """What receiving needs of an inbox: an `Inbox`, or a row of its id, workspace and settings."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    settings: dict[str, Any] | None


async def receive_incoming_batch(
    session: AsyncSession,
    inbox: InboxRef,
    items: list[IncomingMessage],
    sources: list[uuid.UUID | None] | None = None,
) -> list[tuple[uuid.UUID, bool]]:
    """Store customers' messages for one inbox, in order; returns `(message id, newly stored)` for each.

    `sources[i]` is the raw inbound event item `i` was parsed from, kept on the message so erasure can
    find a contact's raw events without knowing how a channel keys them.

    Each message finds (or creates) its contact by the inbox identity and the contact's latest unresolved
    conversation on this inbox (a resolved one stays closed: a new conversation starts). A message that
    carries a `ThreadHint` (e-mail) goes by its references instead (`_thread_conversations`). A provider id
    already stored, or repeated in the batch, is not stored twice. A message marked `no_auto_reply` keeps
    the reason in `content_attributes["no_auto_reply"]`, and the AI never answers it (jobs/handlers/ai.py)."""
    for item in items:
        check_content(item.text, item.attachments, pending_files=len(item.media))
    workspace_id = inbox.workspace_id
    now = utcnow()
    await session.flush()  # ORM objects the caller added go in before our Core statements refer to them
    conn = await session.connection()
    results, fresh = await _split_redeliveries(conn, inbox, items)
    if not fresh:
        return results

    events: list[catalogue.Event] = []
    contact_of, new_keys = await _contacts_for(session, conn, inbox, [items[i] for i in fresh], now, events)
    plain = list(
        dict.fromkeys(contact_of[items[i].external_contact_id] for i in fresh if items[i].thread is None)
    )
    conversation_of = await _conversations_for(conn, inbox, plain, now, events) if plain else {}
    threaded = [i for i in fresh if items[i].thread is not None]
    thread_of, reopened = (
        await _thread_conversations(conn, inbox, items, threaded, contact_of, now, events)
        if threaded
        else ({}, set())
    )
    senders = {contact_of[items[i].external_contact_id] for i in fresh}
    known = [cid for cid in senders if cid not in new_keys]
    keys = {**new_keys, **(await storage.contact_keys(session, workspace_id, known) if known else {})}
    reply_targets = await _reply_targets(conn, inbox, items, fresh, results)

    rows: list[dict[str, Any]] = []
    indexed: list[tuple[uuid.UUID, list[str]]] = []
    with_attachments: list[tuple[int, uuid.UUID, uuid.UUID]] = []
    touched: dict[uuid.UUID, SimpleNamespace] = {}
    for i in fresh:
        item = items[i]
        message_id = results[i][0]
        contact_id = contact_of[item.external_contact_id]
        conv = thread_of[i] if item.thread is not None else conversation_of[contact_id]
        attributes = dict(item.content_attributes)
        if item.media:
            attributes[PENDING_MEDIA] = [
                {"ref": m.ref, "content_type": m.content_type, "filename": m.filename} for m in item.media
            ]
        if item.no_auto_reply:
            attributes["no_auto_reply"] = item.no_auto_reply[:200]
        row = {
            "id": message_id,
            "workspace_id": workspace_id,
            "conversation_id": conv.id,
            "inbox_id": inbox.id,
            "message_type": "incoming",
            "sender_kind": "customer",
            "sender_user_id": None,
            "sender_contact_id": contact_id,
            "content": storage.seal_message_text(
                workspace_id, message_id, contact_id, keys[contact_id], item.text
            ),
            "content_attributes": attributes,
            "status": "delivered",
            "failure_reason": None,
            "sent_at": item.sent_at,
            "ordered_at": thread_time(item.sent_at, now),
            "delivered_at": now,
            "provider_message_id": item.provider_message_id,
            "inbound_event_id": sources[i] if sources else None,
            "reply_to_id": reply_targets.get(item.reply_to_provider_id)
            if item.reply_to_provider_id
            else None,
            "created_at": now,
        }
        rows.append(row)
        if item.text:
            indexed.append((message_id, [item.text]))
        if item.attachments:
            with_attachments.append((i, message_id, contact_id))
        conv.last_activity_at = now
        conv.last_incoming_at = now
        conv.waiting_since = conv.waiting_since or now
        conv.last_message_id = message_id
        conv.unread_count += 1
        if conv.status == "snoozed":
            conv.status = "open"
            conv.snoozed_until = None
        touched[conv.id] = conv
        events.append(catalogue.message_created(SimpleNamespace(**row), catalogue.contact(contact_id)))

    await conn.execute(_INSERT_MESSAGES, rows)
    if with_attachments:
        for i, message_id, contact_id in with_attachments:
            holder = storage.transient_message(workspace_id, message_id, contact_id, keys[contact_id])
            for att in items[i].attachments:
                session.add(storage.new_attachment(holder, att.filename, att.content_type, att.data))
        await session.flush()
    if indexed:
        index = await storage.index_for(session, workspace_id)
        await search_index.index_subjects(conn, index, workspace_id, search_index.MESSAGE, indexed)
    await _save_conversations(conn, list(touched.values()), now)
    for conv in touched.values():
        changed = ["message", "status"] if conv.id in reopened else ["message"]
        events.append(catalogue.conversation_updated(conv, changed, actor=catalogue.contact(conv.contact_id)))
    await emit_many(session, workspace_id, events, conn=conn)
    if (inbox.settings or {}).get("ai_enabled"):  # mirrored by actions.ai: no query when AI is off
        await enqueue_many(
            session,
            "ai.on_message",
            [({"message_id": str(row["id"])}, f"ai:{row['id']}") for row in rows],
            workspace_id=workspace_id,
        )
    with_media = [row["id"] for i, row in zip(fresh, rows, strict=True) if items[i].media]
    if with_media:
        await enqueue_many(
            session,
            FETCH_MEDIA_KIND,
            [({"message_id": str(mid)}, f"media:{mid}") for mid in with_media],
            workspace_id=workspace_id,
        )
    if (inbox.settings or {}).get(business_hours.SETTING):  # no work for inboxes without hours
        await _enqueue_away_messages(session, inbox, items, fresh, rows, now)
    _expire_loaded(session, Conversation, touched)
    _expire_loaded(session, Contact, set(contact_of.values()))
    return results


#: The job that fetches provider-hosted attachments (jobs/handlers/media.py), and where a message keeps the
#: references until then.
FETCH_MEDIA_KIND = "inbound.fetch_media"
PENDING_MEDIA = "pending_media"


async def attach_fetched_media(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    message_id: uuid.UUID,
    files: list[NewAttachment],
    errors: list[dict[str, Any]],
) -> None:
    """Attach the files fetched for a customer's message (sealed under the contact's key like every
    attachment), record why the others could not be (`media_errors`, shown with the message), and tell
    the agents' screens. A second run after the first finished changes nothing."""
    message = await session.get(Message, message_id)
    if message is None or message.workspace_id != workspace_id or message.sender_contact_id is None:
        return
    attributes = dict(message.content_attributes or {})
    if PENDING_MEDIA not in attributes:
        return
    contact_id = message.sender_contact_id
    keys = await storage.contact_keys(session, workspace_id, [contact_id])
    holder = storage.transient_message(workspace_id, message.id, contact_id, keys[contact_id])
    for file in files:
        session.add(storage.new_attachment(holder, file.filename, file.content_type, file.data))
    del attributes[PENDING_MEDIA]
    if errors:
        attributes["media_errors"] = errors
    message.content_attributes = attributes
    await session.flush()
    await emit(session, workspace_id, catalogue.message_updated(message, catalogue.contact(contact_id)))


async def _enqueue_away_messages(
    session: AsyncSession,
    inbox: InboxRef,
    items: list[IncomingMessage],
    fresh: list[int],
    rows: list[dict[str, Any]],
    now: dt.datetime,
) -> None:
    """While the inbox is closed, one away message per conversation per closed spell (the job key names
    the spell by the opening that ends it). Messages that no automatic message may answer (RFC 3834:
    out-of-office, lists, bounces) do not ask for one."""
    hours = business_hours.from_settings(inbox.settings)
    if hours is None or not hours.away_message or hours.is_open(now):
        return
    opening = hours.next_opening(now)
    wanted: dict[uuid.UUID, None] = {}
    for i, row in zip(fresh, rows, strict=True):
        if not items[i].no_auto_reply:
            wanted[row["conversation_id"]] = None
    await enqueue_many(
        session,
        business_hours.AWAY_MESSAGE_JOB,
        [
            (
                {"conversation_id": str(conv_id), "opening": opening.isoformat() if opening else None},
                business_hours.away_job_key(conv_id, opening),
            )
            for conv_id in wanted
        ],
        workspace_id=inbox.workspace_id,
    )


# How far back a provider's send time is believed. Providers and integrators redeliver for days after an
# outage, so an older time is more likely a broken clock than a real delay (docs/api-channel.md).
MAX_SEND_DELAY = dt.timedelta(days=7)


def thread_time(sent_at: dt.datetime | None, received_at: dt.datetime) -> dt.datetime:
    """Where a customer's message sits in its thread: the provider's send time when given and plausible,
    else the time Relaydesk received it.

    A send time after the receipt (a sender clock running ahead) is clamped to the receipt: the message
    cannot have been sent later than it arrived, and a far-future time must not pin it below every later
    message. A send time more than MAX_SEND_DELAY before the receipt is not believed. Either way the
    provider's time itself is kept in `sent_at` and shown."""
    if sent_at is None or sent_at < received_at - MAX_SEND_DELAY:
        return received_at
    return min(sent_at, received_at)


async def _split_redeliveries(
    conn: AsyncConnection, inbox: InboxRef, items: list[IncomingMessage]
) -> tuple[list[tuple[uuid.UUID, bool]], list[int]]:
    """Give every item its message id: the stored one for a provider id seen before (in the database or
    earlier in this batch), a new one otherwise; returns the results and the indexes of new items."""
    provider_ids = {item.provider_message_id for item in items if item.provider_message_id}
    known: dict[str, uuid.UUID] = {}
    if provider_ids:
        known = {
            pid: mid
            for pid, mid in await conn.execute(
                _FIND_MESSAGES, {"ws": inbox.workspace_id, "inbox": inbox.id, "pids": list(provider_ids)}
            )
        }
    results: list[tuple[uuid.UUID, bool]] = []
    fresh: list[int] = []
    for i, item in enumerate(items):
        pid = item.provider_message_id
        if pid and pid in known:
            results.append((known[pid], False))
            continue
        message_id = uuid7()
        if pid:
            known[pid] = message_id
        results.append((message_id, True))
        fresh.append(i)
    return results, fresh


async def _contacts_for(
    session: AsyncSession,
    conn: AsyncConnection,
    inbox: InboxRef,
    items: list[IncomingMessage],
    now: Any,
    events: list[catalogue.Event],
) -> tuple[dict[str, uuid.UUID], dict[uuid.UUID, bytes]]:
    """Contact id per external id: known identities, and new contacts (with their identity on this inbox,
    sealed personal fields and search tokens) for first-time senders; also the new contacts' keys."""
    workspace_id = inbox.workspace_id
    external_ids = list(dict.fromkeys(item.external_contact_id for item in items))
    found: dict[str, uuid.UUID] = {}
    stale: set[uuid.UUID] = set()
    for external_id, contact_id, last_activity_at in await conn.execute(
        _FIND_IDENTITIES, {"ws": workspace_id, "inbox": inbox.id, "external_ids": external_ids}
    ):
        found[external_id] = contact_id
        if last_activity_at is None or now - last_activity_at >= ACTIVITY_GRAIN:
            stale.add(contact_id)
    if stale:
        await conn.execute(_TOUCH_CONTACTS, {"ids": list(stale), "now": now})
    first_seen: dict[str, IncomingMessage] = {}
    for item in items:
        if item.external_contact_id not in found:
            first_seen.setdefault(item.external_contact_id, item)
    if not first_seen:
        return found, {}
    new_ids = {external_id: uuid7() for external_id in first_seen}
    keys = await storage.contact_keys(session, workspace_id, list(new_ids.values()), new=True)
    index = await storage.index_for(session, workspace_id)
    contact_rows, identity_rows, indexed = [], [], []
    for external_id, item in first_seen.items():
        contact_id = new_ids[external_id]
        row, texts = storage.sealed_new_contact(
            index,
            workspace_id,
            contact_id,
            keys[contact_id],
            name=item.contact_name,
            email=item.contact_email,
            phone=item.contact_phone,
        )
        contact_rows.append({**row, "created_at": now, "updated_at": now, "last_activity_at": now})
        identity_rows.append(
            {
                "id": uuid7(),
                "workspace_id": workspace_id,
                "contact_id": contact_id,
                "inbox_id": inbox.id,
                "external_id": external_id,
                "created_at": now,
            }
        )
        indexed.append((contact_id, texts))
        events.append(catalogue.contact_created(contact_id, catalogue.contact(contact_id)))
    await conn.execute(_INSERT_CONTACTS, contact_rows)
    await conn.execute(_INSERT_IDENTITIES, identity_rows)
    await search_index.index_subjects(conn, index, workspace_id, search_index.CONTACT, indexed)
    return {**found, **new_ids}, keys


async def _conversations_for(
    conn: AsyncConnection,
    inbox: InboxRef,
    contact_ids: list[uuid.UUID],
    now: Any,
    events: list[catalogue.Event],
) -> dict[uuid.UUID, SimpleNamespace]:
    """Each contact's latest unresolved conversation on this inbox (locked on PostgreSQL), or a new one
    numbered in arrival order."""
    workspace_id = inbox.workspace_id
    stmt = _OPEN_CONVERSATIONS_LOCKED if conn.dialect.name == "postgresql" else _OPEN_CONVERSATIONS
    current: dict[uuid.UUID, SimpleNamespace] = {}
    for row in await conn.execute(stmt, {"ws": workspace_id, "inbox": inbox.id, "contacts": contact_ids}):
        current.setdefault(row.contact_id, SimpleNamespace(**row._mapping))
    missing = [cid for cid in contact_ids if cid not in current]
    if not missing:
        return current
    for conv in await _new_conversations(conn, inbox, missing, now, events):
        current[conv.contact_id] = conv
    return current


async def _new_conversations(
    conn: AsyncConnection,
    inbox: InboxRef,
    contact_ids: list[uuid.UUID],
    now: Any,
    events: list[catalogue.Event],
) -> list[SimpleNamespace]:
    """One new open conversation per entry of `contact_ids` (a contact may appear twice), numbered in order."""
    workspace_id = inbox.workspace_id
    last = (
        await conn.execute(_NUMBER_CONVERSATIONS, {"ws": workspace_id, "n": len(contact_ids)})
    ).scalar_one()
    rows = []
    created = []
    for number, contact_id in enumerate(contact_ids, start=last - len(contact_ids) + 1):
        row = {
            "id": uuid7(),
            "workspace_id": workspace_id,
            "display_number": number,
            "inbox_id": inbox.id,
            "contact_id": contact_id,
            "status": "open",
            "snoozed_until": None,
            "priority": "none",
            "assignee_id": None,
            "team_id": None,
            "custom_attributes": {},
            "last_activity_at": now,
            "last_incoming_at": None,
            "waiting_since": None,
            "first_reply_at": None,
            "last_message_id": None,
            "unread_count": 0,
            "created_at": now,
            "updated_at": now,
        }
        rows.append(row)
        conv = SimpleNamespace(**row)
        created.append(conv)
        events.append(catalogue.conversation_created(conv, catalogue.contact(contact_id)))
    await conn.execute(_INSERT_CONVERSATIONS, rows)
    return created


async def _thread_conversations(
    conn: AsyncConnection,
    inbox: InboxRef,
    items: list[IncomingMessage],
    threaded: list[int],
    contact_of: dict[str, uuid.UUID],
    now: Any,
    events: list[catalogue.Event],
) -> tuple[dict[int, SimpleNamespace], set[uuid.UUID]]:
    """The conversation of each message that carries its own thread references (e-mail), by index.

    In order: the conversation of the first referenced message found (stored on this inbox, or earlier in
    this batch), then the conversation its token names, then a new conversation, never the contact's
    latest one, so a new subject starts a new thread. A match counts only on this inbox and for the same
    contact: a reference cannot move a message into someone else's conversation. A resolved conversation
    answered in its thread is reopened. Returns the conversations and the ids of the reopened ones."""
    ws = inbox.workspace_id
    hints = {i: items[i].thread or ThreadHint() for i in threaded}
    tokens = {i: _as_uuid(hints[i].conversation_token) for i in threaded}
    wanted = list({pid for hint in hints.values() for pid in hint.message_ids})
    by_message: dict[str, uuid.UUID] = {}
    if wanted:
        rows = await conn.execute(_FIND_THREAD_MESSAGES, {"ws": ws, "inbox": inbox.id, "pids": wanted})
        by_message = {pid: conv_id for pid, conv_id in rows}
    conv_ids = set(by_message.values()) | {t for t in tokens.values() if t}
    loaded: dict[uuid.UUID, SimpleNamespace] = {}
    if conv_ids:
        stmt = _CONVERSATIONS_BY_ID_LOCKED if conn.dialect.name == "postgresql" else _CONVERSATIONS_BY_ID
        for row in await conn.execute(stmt, {"ws": ws, "inbox": inbox.id, "ids": list(conv_ids)}):
            loaded[row.id] = SimpleNamespace(**row._mapping)

    found: dict[int, SimpleNamespace] = {}
    parent: dict[int, int] = {}  # a message that references an earlier message of this batch
    seen: dict[str, int] = {}  # provider id -> index, for the threaded messages before the current one
    for i in threaded:
        contact_id = contact_of[items[i].external_contact_id]
        for pid in hints[i].message_ids:
            earlier = seen.get(pid)
            if earlier is not None and contact_of[items[earlier].external_contact_id] == contact_id:
                parent[i] = earlier
                break
            conv = loaded.get(by_message[pid]) if pid in by_message else None
            if conv is not None and conv.contact_id == contact_id:
                found[i] = conv
                break
        else:
            conv = loaded.get(tokens[i]) if tokens[i] else None
            if conv is not None and conv.contact_id == contact_id:
                found[i] = conv
        if items[i].provider_message_id:
            seen.setdefault(items[i].provider_message_id, i)

    unmatched = [i for i in threaded if i not in found and i not in parent]
    if unmatched:
        created = await _new_conversations(
            conn, inbox, [contact_of[items[i].external_contact_id] for i in unmatched], now, events
        )
        found.update(zip(unmatched, created, strict=True))
    for i in threaded:  # in order, so a parent is always placed before its followers
        if i in parent:
            found[i] = found[parent[i]]
    reopened: set[uuid.UUID] = set()
    for conv in found.values():
        if conv.status == "resolved":
            conv.status = "open"
            reopened.add(conv.id)
    return found, reopened


def _as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def _reply_targets(
    conn: AsyncConnection,
    inbox: InboxRef,
    items: list[IncomingMessage],
    fresh: list[int],
    results: list[tuple[uuid.UUID, bool]],
) -> dict[str, uuid.UUID]:
    """Message ids of the provider ids the new messages reply to (stored before, or earlier in the batch)."""
    wanted = {items[i].reply_to_provider_id for i in fresh if items[i].reply_to_provider_id}
    if not wanted:
        return {}
    targets: dict[str, uuid.UUID] = {
        pid: mid
        for pid, mid in await conn.execute(
            _FIND_MESSAGES, {"ws": inbox.workspace_id, "inbox": inbox.id, "pids": list(wanted)}
        )
    }
    for i in fresh:  # earlier in this batch
        pid = items[i].provider_message_id
        if pid in wanted and pid not in targets:
            targets[pid] = results[i][0]
    return targets


async def _save_conversations(conn: AsyncConnection, convs: list[SimpleNamespace], now: Any) -> None:
    if convs:
        await conn.execute(
            _SAVE_CONVERSATIONS,
            [
                {
                    "b_id": conv.id,
                    "b_status": conv.status,
                    "b_snoozed_until": conv.snoozed_until,
                    "b_last_activity_at": conv.last_activity_at,
                    "b_last_incoming_at": conv.last_incoming_at,
                    "b_waiting_since": conv.waiting_since,
                    "b_last_message_id": conv.last_message_id,
                    "b_unread_count": conv.unread_count,
                    "b_now": now,
                }
                for conv in convs
            ],
        )


def _expire_loaded(session: AsyncSession, model: type, ids: Any) -> None:
    """Rows changed with Core: ORM objects of them already loaded in this session must not stay stale."""
    identity_map = session.sync_session.identity_map
    for row_id in ids:
        obj = identity_map.get(sa.inspect(model).identity_key_from_primary_key((row_id,)))
        if obj is not None:
            session.expire(obj)
