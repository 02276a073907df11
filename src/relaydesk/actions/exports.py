"""Access and portability (GDPR art. 15 and 20): a per-contact export, tracked as a data-subject request.

`request_export` records the request (30-day deadline) and an export row, and enqueues the
`contacts.export` job; `build_export` (the job) reads everything through the storage layer, zips it and
stores the zip sealed under the contact's key; `download_export` hands it out once, to the member who
asked, and empties it; `expire_exports` empties archives nobody fetched in time. Every step is audited.
The same functions serve the API, the admin page and `relaydesk contact export`.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions import export_document
from relaydesk.actions.subject_requests import Requester, record_request
from relaydesk.db.base import utcnow
from relaydesk.db.engine import Database
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import Conflict, Forbidden, Gone, NotFound
from relaydesk.jobs.outbox import enqueue
from relaydesk.models.contacts import Contact
from relaydesk.models.privacy_requests import ContactExport, SubjectRequest
from relaydesk.privacy import audit, storage

EXPORT_JOB = "contacts.export"
EXPIRE_JOB = "exports.expire"
EXPORT_TTL = dt.timedelta(days=7)  # how long a built archive waits for its one download


async def request_export(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID, requester: Requester
) -> ContactExport:
    """Record an access request for the contact and queue its export. Another workspace's contact, or an
    unknown one, is a 404 with nothing written; a second export while one is being built is a 409."""
    contact = await get_scoped(session, Contact, workspace_id, contact_id)
    if storage.is_shredded(contact):
        raise NotFound("contact not found")
    pending = (
        await session.execute(
            sa.select(ContactExport.id).where(
                ContactExport.workspace_id == workspace_id,
                ContactExport.contact_id == contact.id,
                ContactExport.state == "pending",
            )
        )
    ).first()
    if pending:
        raise Conflict("an export of this contact is already being prepared")
    request = await record_request(session, workspace_id, "access", contact.id, requester, answered=False)
    export = ContactExport(
        workspace_id=workspace_id,
        request_id=request.id,
        contact_id=contact.id,
        requester_user_id=requester.user_id,
        state="pending",
    )
    session.add(export)
    await session.flush()
    await enqueue(
        session,
        EXPORT_JOB,
        {"export_id": str(export.id)},
        workspace_id=workspace_id,
        idempotency_key=f"export:{export.id}",
    )
    await audit.record(
        session,
        workspace_id,
        "contact.export_requested",
        actor_kind=requester.kind,
        actor_id=requester.user_id,
        target_type="contact",
        target_id=contact.id,
        metadata={"export_id": str(export.id), "request_id": str(request.id)},
    )
    return export


async def build_export(db: Database, workspace_id: uuid.UUID, export_id: uuid.UUID) -> str:
    """Build a pending export: read in one read transaction, zip off the loop, store sealed in a short
    write transaction. Returns the export's state afterwards; idempotent (a built export is left alone)."""
    async with db.read() as session:
        export = await _scoped_export(session, workspace_id, export_id)
        if export.state != "pending":
            return export.state
        request = await get_scoped(session, SubjectRequest, workspace_id, export.request_id)
        contact_id = export.contact_id
        content = await export_document.collect(session, workspace_id, contact_id, request)
    data = await export_document.archive(content)
    async with db.write() as session:
        export = await _scoped_export(session, workspace_id, export_id, for_update=True)
        if export.state != "pending":
            return export.state
        now = utcnow()
        await storage.seal_export_archive(session, export, data)
        export.state, export.ready_at, export.expires_at = "ready", now, now + EXPORT_TTL
        request = await get_scoped(session, SubjectRequest, workspace_id, export.request_id)
        request.state, request.completed_at = "completed", now
        await audit.record(
            session,
            workspace_id,
            "contact.exported",
            target_type="contact",
            target_id=contact_id,
            metadata={"export_id": str(export.id), "bytes": len(data), **content.counts},
        )
        return export.state


async def fail_export(
    session: AsyncSession, workspace_id: uuid.UUID, export_id: uuid.UUID, reason: str
) -> None:
    """Mark an export failed for good (the request stays open: someone must answer it another way)."""
    export = await _scoped_export(session, workspace_id, export_id, for_update=True)
    if export.state == "pending":
        export.state, export.error = "failed", reason[:500]
        request = await get_scoped(session, SubjectRequest, workspace_id, export.request_id)
        request.state = "failed"


async def download_export(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    contact_id: uuid.UUID,
    export_id: uuid.UUID,
    requester: Requester,
) -> bytes:
    """The archive, once, to the member who requested it; then it is emptied. Not theirs: 403; still
    being built: 409; downloaded already or expired: 410."""
    export = await _scoped_export(session, workspace_id, export_id, for_update=True)
    if export.contact_id != contact_id:
        raise NotFound("export not found")
    if export.requester_user_id != requester.user_id:
        raise Forbidden("only the member who requested this export can download it")
    if export.state == "pending":
        raise Conflict("the export is still being prepared")
    if export.state == "failed":
        raise Conflict(f"the export failed: {export.error}")
    now = utcnow()
    if export.state == "ready" and export.expires_at is not None and export.expires_at <= now:
        await _expire(session, export)
    if export.state != "ready":
        raise Gone(f"this export is no longer available ({export.state}); request a new one")
    data = await storage.open_export_archive(session, export)
    taken = await session.execute(
        sa.update(ContactExport)
        .where(
            ContactExport.workspace_id == workspace_id,
            ContactExport.id == export.id,
            ContactExport.state == "ready",
        )
        .values(state="downloaded", downloaded_at=now, archive=None)
        .execution_options(synchronize_session=False)
    )
    if data is None or taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Gone("this export is no longer available; request a new one")
    await audit.record(
        session,
        workspace_id,
        "contact.export_downloaded",
        actor_kind=requester.kind,
        actor_id=requester.user_id,
        target_type="contact",
        target_id=contact_id,
        metadata={"export_id": str(export.id), "bytes": len(data)},
    )
    return data


async def _expire(session: AsyncSession, export: ContactExport) -> None:
    export.state, export.archive = "expired", None
    await audit.record(
        session,
        export.workspace_id,
        "contact.export_expired",
        target_type="contact",
        target_id=export.contact_id,
        metadata={"export_id": str(export.id)},
    )


async def expire_exports(session: AsyncSession, workspace_id: uuid.UUID, *, now: dt.datetime) -> int:
    """Empty the workspace's ready archives whose time ran out; returns how many."""
    rows = (
        await session.execute(
            sa.select(ContactExport).where(
                ContactExport.workspace_id == workspace_id,
                ContactExport.state == "ready",
                ContactExport.expires_at <= now,
            )
        )
    ).scalars()
    count = 0
    for export in rows:
        await _expire(session, export)
        count += 1
    return count


async def workspaces_with_expired_exports(session: AsyncSession, *, now: dt.datetime) -> list[uuid.UUID]:
    stmt = (
        sa.select(ContactExport.workspace_id)
        .where(ContactExport.state == "ready", ContactExport.expires_at <= now)
        .distinct()
    )
    return list((await session.execute(stmt)).scalars())


async def list_exports(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID
) -> list[tuple[ContactExport, SubjectRequest]]:
    """The contact's exports, newest first, with their requests (404 for another workspace's contact)."""
    await get_scoped(session, Contact, workspace_id, contact_id)
    rows = await session.execute(
        sa.select(ContactExport, SubjectRequest)
        .join(SubjectRequest, SubjectRequest.id == ContactExport.request_id)
        .where(ContactExport.workspace_id == workspace_id, ContactExport.contact_id == contact_id)
        .order_by(ContactExport.created_at.desc(), ContactExport.id.desc())
    )
    return [(e, r) for e, r in rows]


async def get_export(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID, export_id: uuid.UUID
) -> tuple[ContactExport, SubjectRequest]:
    export = await _scoped_export(session, workspace_id, export_id)
    if export.contact_id != contact_id:
        raise NotFound("export not found")
    request = await get_scoped(session, SubjectRequest, workspace_id, export.request_id)
    return export, request


async def _scoped_export(
    session: AsyncSession, workspace_id: uuid.UUID, export_id: uuid.UUID, *, for_update: bool = False
) -> ContactExport:
    try:
        return await get_scoped(session, ContactExport, workspace_id, export_id, for_update=for_update)
    except NotFound:
        raise NotFound("export not found") from None
