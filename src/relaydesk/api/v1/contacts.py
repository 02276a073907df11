"""Contacts (end customers): list and search, create, read, correct, their identities and conversations.

Erasure belongs to the privacy endpoints; correcting a contact (GDPR art. 16) is an update here and re-indexes
the blind search tokens so the old values stop matching.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar import get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions import contacts as contact_actions
from relaydesk.api.v1._common import Cursor, Limit, changes, keyset_page
from relaydesk.auth.guards import requires_agent
from relaydesk.auth.principal import Principal
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import Conflict, InvalidInput
from relaydesk.models.contacts import Contact, ContactIdentity
from relaydesk.models.inboxes import Inbox
from relaydesk.privacy import audit, storage
from relaydesk.queries.conversations import ConversationFilter, list_conversations
from relaydesk.queries.pagination import check_limit, decode_cursor, encode_cursor
from relaydesk.queries.serializers import contact_full, iso
from relaydesk.runtime import Runtime

ContactName = Annotated[str, msgspec.Meta(max_length=255)]
Email = Annotated[str, msgspec.Meta(max_length=320, pattern=r"^([^@\s]+@[^@\s]+)?$")]
Phone = Annotated[str, msgspec.Meta(max_length=40, pattern=r"^(\+?[0-9 ().\-]{3,39})?$")]
Notes = Annotated[str, msgspec.Meta(max_length=10_000)]
MAX_ATTRIBUTES_BYTES = 16_384


class ContactCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: ContactName | None = None
    email: Email | None = None
    phone: Phone | None = None
    custom_attributes: dict[str, Any] = {}
    notes: Notes | None = None


class ContactUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: ContactName | msgspec.UnsetType | None = msgspec.UNSET
    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    custom_attributes: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    notes: Notes | msgspec.UnsetType | None = msgspec.UNSET


class IdentityCreate(msgspec.Struct, forbid_unknown_fields=True):
    inbox_id: uuid.UUID
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


def _check_attributes(attributes: dict[str, Any]) -> None:
    if len(json.dumps(attributes)) > MAX_ATTRIBUTES_BYTES:
        raise InvalidInput(f"custom_attributes is larger than {MAX_ATTRIBUTES_BYTES} bytes")
    if any(len(k) > 80 for k in attributes):
        raise InvalidInput("custom attribute keys are at most 80 characters")


def identity_json(identity: ContactIdentity, channel_type: str) -> dict[str, Any]:
    return {
        "id": str(identity.id),
        "inbox_id": str(identity.inbox_id),
        "channel_type": channel_type,
        "external_id": identity.external_id,
        "created_at": iso(identity.created_at),
    }


async def _identities(session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> list[dict]:
    rows = await session.execute(
        sa.select(ContactIdentity, Inbox.channel_type)
        .join(Inbox, Inbox.id == ContactIdentity.inbox_id)
        .where(ContactIdentity.workspace_id == workspace_id, ContactIdentity.contact_id == contact_id)
        .order_by(ContactIdentity.id)
    )
    return [identity_json(i, channel) for i, channel in rows]


async def _show(session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> dict[str, Any]:
    contact = await get_scoped(session, Contact, workspace_id, contact_id)
    return {**contact_full(contact), "identities": await _identities(session, workspace_id, contact.id)}


async def _search(
    session: AsyncSession, workspace_id: uuid.UUID, q: str, cursor: str | None, limit: int
) -> tuple[list[Contact], str | None]:
    after = decode_cursor(cursor, 1)
    try:
        before = uuid.UUID(str(after[0])) if after else None
    except ValueError:
        raise InvalidInput("invalid cursor") from None
    ids = await storage.search_contacts(session, workspace_id, q, before=before, limit=limit + 1)
    more = len(ids) > limit
    ids = ids[:limit]
    rows = (
        await session.execute(
            sa.select(Contact).where(Contact.workspace_id == workspace_id, Contact.id.in_(ids))
        )
    ).scalars()
    by_id = {c.id: c for c in rows}
    found = [by_id[i] for i in ids if i in by_id]
    return found, encode_cursor([str(ids[-1])]) if more and ids else None


@get("/contacts", guards=[requires_agent])
async def contacts_index(
    principal: Principal,
    runtime: Runtime,
    q: Annotated[str | None, Parameter(max_length=200, description="words of name, e-mail or phone")] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> dict[str, Any]:
    """Newest first. With `q`, contacts whose name, e-mail or phone hold every word (blind index)."""
    check_limit(limit)
    async with runtime.db.read() as session:
        if q and q.strip():
            rows, next_cursor = await _search(session, principal.workspace_id, q, cursor, limit)
        else:
            rows, next_cursor = await keyset_page(  # type: ignore[assignment]
                session,
                sa.select(Contact).where(Contact.workspace_id == principal.workspace_id),
                id_column=Contact.id,
                cursor=cursor,
                limit=limit,
                descending=True,
            )
        return {"items": [contact_full(c) for c in rows], "next_cursor": next_cursor}


@get("/contacts/{contact_id:uuid}", guards=[requires_agent])
async def contacts_show(contact_id: uuid.UUID, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    """Reading a full profile is audited (`contact.viewed`), so it runs in a write transaction."""
    async with runtime.db.write() as session:
        shown = await _show(session, principal.workspace_id, contact_id)
        await audit.record(
            session,
            principal.workspace_id,
            "contact.viewed",
            actor_kind="api_token" if principal.via == "token" else "user",
            actor_id=principal.user_id,
            target_type="contact",
            target_id=contact_id,
        )
        return shown


@post("/contacts", guards=[requires_agent])
async def contacts_create(data: ContactCreate, principal: Principal, runtime: Runtime) -> dict[str, Any]:
    _check_attributes(data.custom_attributes)
    async with runtime.db.write() as session:
        contact = await contact_actions.create_contact(
            session,
            principal.workspace_id,
            name=data.name,
            email=data.email or None,
            phone=data.phone or None,
            custom_attributes=data.custom_attributes,
            notes=data.notes,
        )
        return await _show(session, principal.workspace_id, contact.id)


@patch("/contacts/{contact_id:uuid}", guards=[requires_agent])
async def contacts_update(
    contact_id: uuid.UUID, data: ContactUpdate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Correct personal data; `custom_attributes` replaces the whole set."""
    fields = changes(data)
    if "custom_attributes" in fields:
        _check_attributes(fields["custom_attributes"])
    async with runtime.db.write() as session:
        await contact_actions.update_contact(session, principal.workspace_id, contact_id, **fields)
        return await _show(session, principal.workspace_id, contact_id)


@get("/contacts/{contact_id:uuid}/identities", guards=[requires_agent])
async def identities_index(
    contact_id: uuid.UUID, principal: Principal, runtime: Runtime, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        await get_scoped(session, Contact, principal.workspace_id, contact_id)
        rows, next_cursor = await keyset_page(
            session,
            sa.select(ContactIdentity, Inbox.channel_type)
            .join(Inbox, Inbox.id == ContactIdentity.inbox_id)
            .where(
                ContactIdentity.workspace_id == principal.workspace_id,
                ContactIdentity.contact_id == contact_id,
            ),
            id_column=ContactIdentity.id,
            cursor=cursor,
            limit=limit,
        )
    return {"items": [identity_json(i, ch) for i, ch in rows], "next_cursor": next_cursor}


@post("/contacts/{contact_id:uuid}/identities", guards=[requires_agent])
async def identities_create(
    contact_id: uuid.UUID, data: IdentityCreate, principal: Principal, runtime: Runtime
) -> dict[str, Any]:
    """Link the contact to its id on an inbox (phone number, chat id…); one contact per id and inbox."""
    async with runtime.db.write() as session:
        await get_scoped(session, Contact, principal.workspace_id, contact_id)
        inbox = await get_scoped(session, Inbox, principal.workspace_id, data.inbox_id)
        taken = (
            await session.execute(
                sa.select(ContactIdentity.id).where(
                    ContactIdentity.inbox_id == inbox.id, ContactIdentity.external_id == data.external_id
                )
            )
        ).first()
        if taken:
            raise Conflict("this id is already linked to a contact on this inbox")
        identity = await contact_actions.add_identity(
            session, principal.workspace_id, contact_id, inbox.id, data.external_id
        )
        return identity_json(identity, inbox.channel_type)


@get("/contacts/{contact_id:uuid}/conversations", guards=[requires_agent])
async def contacts_conversations(
    contact_id: uuid.UUID, principal: Principal, runtime: Runtime, cursor: Cursor = None, limit: Limit = 20
) -> dict[str, Any]:
    """Every conversation of the contact, any status, latest activity first."""
    async with runtime.db.read() as session:
        await get_scoped(session, Contact, principal.workspace_id, contact_id)
        items, next_cursor = await list_conversations(
            session,
            principal.workspace_id,
            principal.user_id,
            ConversationFilter(status="all", contact_id=contact_id),
            cursor=cursor,
            limit=limit,
        )
    return {"items": items, "next_cursor": next_cursor}


SCOPE_FAMILY = "contacts"  # API token scope family of these routes (auth/scopes.py)
ROUTES = [
    contacts_index,
    contacts_show,
    contacts_create,
    contacts_update,
    identities_index,
    identities_create,
    contacts_conversations,
]
