"""Contacts and their per-channel identities."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.contacts import Contact, ContactIdentity
from relaydesk.privacy import storage
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit


async def _new_contact(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    name: str | None,
    email: str | None,
    phone: str | None,
    custom_attributes: dict[str, Any] | None,
    notes: str | None = None,
) -> Contact:
    if email is not None and email.strip() and "@" not in email:
        raise InvalidInput("email is not an e-mail address")
    contact = Contact(workspace_id=workspace_id)
    session.add(contact)
    await storage.write_contact(
        session,
        contact,
        name=name,
        email=email,
        phone=phone,
        custom_attributes=custom_attributes or {},
        notes=notes,
    )
    await session.flush()
    return contact


async def create_contact(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    custom_attributes: dict[str, Any] | None = None,
    notes: str | None = None,
) -> Contact:
    contact = await _new_contact(
        session,
        workspace_id,
        name=name,
        email=email,
        phone=phone,
        custom_attributes=custom_attributes,
        notes=notes,
    )
    await emit(session, workspace_id, events.contact_created(contact.id))
    return contact


async def update_contact(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID, **fields: Any
) -> Contact:
    contact = await get_scoped(session, Contact, workspace_id, contact_id)
    email = fields.get("email")
    if email and "@" not in email:
        raise InvalidInput("email is not an e-mail address")
    await storage.write_contact(session, contact, **fields)
    await emit(session, workspace_id, events.contact_updated(contact.id))
    return contact


async def add_identity(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    contact_id: uuid.UUID,
    inbox_id: uuid.UUID,
    external_id: str,
) -> ContactIdentity:
    identity = ContactIdentity(
        workspace_id=workspace_id, contact_id=contact_id, inbox_id=inbox_id, external_id=external_id
    )
    session.add(identity)
    await session.flush()
    return identity


async def contact_for_identity(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    inbox_id: uuid.UUID,
    external_id: str,
    *,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> Contact:
    """Find the contact known on this inbox by `external_id`, creating contact and identity on first sight.

    Two concurrent first messages from one person race on the unique (inbox, external_id) index; the
    loser's savepoint rolls back and it reads the winner's row.
    """
    stmt = (
        sa.select(Contact)
        .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
        .where(ContactIdentity.inbox_id == inbox_id, ContactIdentity.external_id == external_id)
    )
    contact = (await session.execute(stmt)).scalar_one_or_none()
    if contact is not None:
        contact.last_activity_at = utcnow()
        return contact
    try:
        async with session.begin_nested():
            contact = await _new_contact(
                session, workspace_id, name=name, email=email, phone=phone, custom_attributes=None
            )
            contact.last_activity_at = utcnow()
            await add_identity(session, workspace_id, contact.id, inbox_id, external_id)
    except IntegrityError:
        return (await session.execute(stmt)).scalar_one()
    await emit(session, workspace_id, events.contact_created(contact.id))
    return contact
