"""Per-contact export archives and the data-subject requests they answer.

An archive is personal data again (everything about the person in one file), so it is sealed under the
same contact key as what it copies: erasing the contact shreds pending archives too. It leaves the
database only once, to its requester, and is emptied then or when it expires (actions/exports.py)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.models.privacy_requests import ContactExport
from relaydesk.privacy import crypto
from relaydesk.privacy.crypto import aad_for
from relaydesk.privacy.keys import contact_key_id
from relaydesk.privacy.storage.datamap import DataClass, Retention
from relaydesk.privacy.storage.sealing import contact_key, stored_contact_keys

DATA_CLASSES = (
    DataClass(
        name="export archives",
        about="a contact's export (export.json and attachments in a zip), sealed under the contact key",
        tables={"contact_exports": ("archive",)},
        subject="contact_exports.contact_id",
        export="is the export",
        erase="unreadable once the contact key is destroyed; rows deleted with the contact",
        retention=Retention.EXPORT,
        enforced="emptied at the one download, or by the `exports.expire` job when `expires_at` passes",
    ),
    DataClass(
        name="data-subject requests",
        about="what a person asked for (kind), when, its 30-day deadline, who recorded it, its state",
        tables={"subject_requests": ()},
        subject="subject_requests.contact_id (nulled at erasure: the record that it was answered stays)",
        export="`requests[]`",
        erase="kept without the contact id, as proof the request was handled",
        retention=Retention.ACCOUNT,
        enforced="kept while the workspace exists",
    ),
)


def _aad(workspace_id: uuid.UUID, export_id: uuid.UUID) -> bytes:
    return aad_for(workspace_id, ContactExport.__tablename__, "archive", export_id)


async def seal_export_archive(session: AsyncSession, export: ContactExport, archive: bytes) -> None:
    """Store the archive sealed under the contact's key (409 if the contact was erased meanwhile)."""
    key = await contact_key(session, export.workspace_id, export.contact_id)
    export.archive = crypto.seal(
        key, contact_key_id(export.contact_id), archive, _aad(export.workspace_id, export.id)
    )
    export.size = len(archive)


async def open_export_archive(session: AsyncSession, export: ContactExport) -> bytes | None:
    """The archive's bytes; None when it is gone (downloaded, expired) or its contact was shredded."""
    if export.archive is None:
        return None
    keys = await stored_contact_keys(session, export.workspace_id, [export.contact_id])
    key = keys.get(export.contact_id)
    if key is None:
        return None
    return crypto.open_sealed(lambda _kid: key, export.archive, _aad(export.workspace_id, export.id))
