"""Contacts' personal fields (name, e-mail, phone, notes, custom attributes), sealed under the contact's own
data key, with keyed blind indexes for exact lookups and blind search tokens; and the identities by which
each channel knows a contact."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import InvalidInput
from relaydesk.models.contacts import Contact
from relaydesk.privacy import crypto
from relaydesk.privacy.blind_index import BlindIndex
from relaydesk.privacy.crypto import aad_for
from relaydesk.privacy.keys import contact_key_id
from relaydesk.privacy.storage.datamap import DataClass, Retention
from relaydesk.privacy.storage.sealing import (
    contact_key,
    contact_plaintext,
    index_for,
    pin,
    read_column,
    remember,
    seal_column,
    text,
)
from relaydesk.search import index as search_index

DATA_CLASSES = (
    DataClass(
        name="contact profile",
        about="who the end customer is: name, e-mail, phone, notes, custom attributes; blind-index digests",
        tables={
            "contacts": (
                "name",
                "email",
                "phone",
                "notes",
                "custom_attributes",
                "email_bidx",
                "phone_bidx",
            )
        },
        subject="contacts.id",
        export="`contact` object: every field decrypted",
        erase="contact key destroyed (fields unreadable everywhere), blind-index digests nulled",
        retention=Retention.CONVERSATION,
        enforced="no time-based purge yet",
    ),
    DataClass(
        name="contact identities",
        about="how each channel knows the contact (e-mail address, phone number, chat or integrator id) and "
        "until when a chat visitor counts as present on the site",
        tables={"contact_identities": ("external_id", "present_until")},
        subject="contact_identities.contact_id",
        export="`contact.identities[]`: inbox and external id",
        erase="rows deleted with the contact (foreign key cascade), so the identifier is reusable at once",
        retention=Retention.CONVERSATION,
        enforced="no time-based purge yet; kept in clear: the unique key inbound routing looks up",
    ),
)


@dataclass(frozen=True)
class ContactPII:
    name: str | None
    email: str | None
    phone: str | None
    custom_attributes: dict[str, Any]
    notes: str | None


def read_contact(contact: Contact) -> ContactPII:
    attrs = read_column(contact, "custom_attributes", json.loads)
    return ContactPII(
        name=read_column(contact, "name", text),
        email=read_column(contact, "email", text),
        phone=read_column(contact, "phone", text),
        custom_attributes=dict(attrs or {}),
        notes=read_column(contact, "notes", text),
    )


def normalise_email(email: str | None) -> str | None:
    return email.strip().lower() if email and email.strip() else None


_UNSET: Any = object()


def email_digest(index: BlindIndex, email: str | None) -> bytes | None:
    if email is None:
        return None
    try:
        return index.email(email)
    except ValueError:
        raise InvalidInput("email is not an e-mail address") from None


def phone_digest(index: BlindIndex, phone: str | None) -> bytes | None:
    """E.164 digest; a number without country code cannot be normalised and is simply not indexed."""
    if not phone:
        return None
    try:
        return index.phone(phone)
    except ValueError:
        return None


async def write_contact(
    session: AsyncSession,
    contact: Contact,
    *,
    name: str | None = _UNSET,
    email: str | None = _UNSET,
    phone: str | None = _UNSET,
    custom_attributes: dict[str, Any] | None = _UNSET,
    notes: str | None = _UNSET,
) -> None:
    """Update the given personal fields, their blind indexes and search tokens (old values stop matching).

    Every custom attribute is sealed, personal or not: it is simpler than tracking which definitions are
    marked personal, and attributes are only ever read with the contact."""
    current = read_contact(contact)
    values = {
        "name": current.name if name is _UNSET else name,
        "email": current.email if email is _UNSET else normalise_email(email),
        "phone": current.phone if phone is _UNSET else (phone.strip() or None if phone else None),
        "custom_attributes": current.custom_attributes
        if custom_attributes is _UNSET
        else dict(custom_attributes or {}),
        "notes": current.notes if notes is _UNSET else notes,
    }
    key = await contact_key(session, contact.workspace_id, contact.id)
    pin(contact, contact.id, key)
    index = await index_for(session, contact.workspace_id)
    for column, value in values.items():
        raw = contact_plaintext(column, value)
        blob = seal_column(contact, column, key, contact.id, raw)
        setattr(contact, column, blob)
        remember(contact, column, blob, value)
    contact.email_bidx = email_digest(index, values["email"])
    contact.phone_bidx = phone_digest(index, values["phone"])
    await search_index.unindex_subject(session, contact.workspace_id, contact.id)
    await search_index.index_subject(
        session,
        index,
        contact.workspace_id,
        search_index.CONTACT,
        contact.id,
        [values["name"] or "", values["email"] or "", values["phone"] or ""],
    )


async def search_contacts(
    session: AsyncSession, workspace_id: uuid.UUID, query: str, *, before: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    try:
        index = await index_for(session, workspace_id, create=False)
    except crypto.UnknownKey:
        return []
    return list(
        await search_index.search(
            session, index, workspace_id, search_index.CONTACT, query, before=before, limit=limit
        )
    )


async def find_contacts_by_email(session: AsyncSession, workspace_id: uuid.UUID, email: str) -> list[Contact]:
    """Exact lookup through the blind index (the address itself is stored only sealed)."""
    try:
        index = await index_for(session, workspace_id, create=False)
    except crypto.UnknownKey:
        return []
    digest = email_digest(index, normalise_email(email))
    stmt = sa.select(Contact).where(Contact.workspace_id == workspace_id, Contact.email_bidx == digest)
    return list((await session.execute(stmt)).scalars())


async def find_contacts_by_phone(session: AsyncSession, workspace_id: uuid.UUID, phone: str) -> list[Contact]:
    """Exact lookup by E.164 number through the blind index; numbers without country code match nothing."""
    try:
        index = await index_for(session, workspace_id, create=False)
    except crypto.UnknownKey:
        return []
    digest = phone_digest(index, phone)
    if digest is None:
        return []
    stmt = sa.select(Contact).where(Contact.workspace_id == workspace_id, Contact.phone_bidx == digest)
    return list((await session.execute(stmt)).scalars())


def sealed_new_contact(
    index: BlindIndex,
    workspace_id: uuid.UUID,
    contact_id: uuid.UUID,
    key: bytes,
    *,
    name: str | None,
    email: str | None,
    phone: str | None,
) -> tuple[dict[str, Any], list[str]]:
    """Column values of a new contact row (sealed fields and blind indexes) and the texts to index, for
    the batch inbound path that inserts rows with Core.

    An address that is not an e-mail address is dropped rather than failing the message it came with."""
    email = normalise_email(email)
    email_bidx = None
    if email is not None:
        try:
            email_bidx = index.email(email)
        except ValueError:
            email = None
    phone = phone.strip() or None if phone else None
    values = {"name": name, "email": email, "phone": phone, "custom_attributes": {}, "notes": None}
    row: dict[str, Any] = {"id": contact_id, "workspace_id": workspace_id}
    for column, value in values.items():
        raw = contact_plaintext(column, value)
        aad = aad_for(workspace_id, Contact.__tablename__, column, contact_id)
        row[column] = None if raw is None else crypto.seal(key, contact_key_id(contact_id), raw, aad)
    row["email_bidx"] = email_bidx
    row["phone_bidx"] = phone_digest(index, phone)
    return row, [name or "", email or "", phone or ""]
