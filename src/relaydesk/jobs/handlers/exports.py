"""`contacts.export`: build a contact's export archive (actions/exports.py); `exports.expire`: empty the
archives nobody downloaded in time."""

from __future__ import annotations

import uuid

from relaydesk.actions import exports
from relaydesk.db.base import utcnow
from relaydesk.errors import Conflict, NotFound
from relaydesk.jobs.registry import JobContext, PermanentError, handler, periodic


@handler(exports.EXPORT_JOB)
async def build_contact_export(ctx: JobContext) -> None:
    """Idempotent: a built (or failed) export is left as it is. A contact erased before its export was
    built fails the export for good (its data no longer opens); anything else is retried."""
    workspace_id = ctx.job.workspace_id
    try:
        export_id = uuid.UUID(str(ctx.payload["export_id"]))
    except (KeyError, ValueError) as exc:
        raise PermanentError(f"bad export payload: {exc}") from exc
    if workspace_id is None:
        raise PermanentError("an export job belongs to a workspace")
    try:
        await exports.build_export(ctx.services.db, workspace_id, export_id)
    except (Conflict, NotFound) as exc:
        async with ctx.services.db.write() as session:
            await exports.fail_export(session, workspace_id, export_id, exc.message)


@periodic(exports.EXPIRE_JOB, every_seconds=3600)
async def expire_contact_exports(ctx: JobContext) -> None:
    """One write transaction per workspace with archives past `expires_at`."""
    now = utcnow()
    async with ctx.services.db.read() as session:
        workspace_ids = await exports.workspaces_with_expired_exports(session, now=now)
    for workspace_id in workspace_ids:
        async with ctx.services.db.write() as session:
            await exports.expire_exports(session, workspace_id, now=now)
