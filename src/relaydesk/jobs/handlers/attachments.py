"""Convert attachments stored before revision 0007 (clear file name and SHA-256) to the sealed form.

A periodic job rather than a one-off: it needs no operator step after an upgrade, and once every row is
converted a run costs one probe of an empty partial index. Resumable and idempotent by construction: a
converted row leaves that index, each batch commits on its own, and a killed run loses only its open batch
(privacy/storage/ `seal_clear_attachment_metadata`, docs/encryption.md §4).
"""

from __future__ import annotations

import asyncio
import logging

from relaydesk.jobs.registry import JobContext, periodic
from relaydesk.privacy import storage

log = logging.getLogger(__name__)

SEAL_METADATA_JOB = "attachments.seal_metadata"
TRUNCATE_ATTEMPTS = 10


@periodic(SEAL_METADATA_JOB, every_seconds=600)
async def seal_attachment_metadata(ctx: JobContext) -> None:
    """Every workspace with clear attachment metadata, one batch per write transaction (short write locks
    on SQLite, so ingest keeps flowing while a large backlog converts)."""
    batch = int(ctx.payload.get("batch", storage.CLEAR_METADATA_BATCH))
    async with ctx.services.db.read() as session:
        workspace_ids = await storage.workspaces_with_clear_attachment_metadata(session)
    for workspace_id in workspace_ids:
        converted = 0
        while True:
            async with ctx.services.db.write() as session:
                done = await storage.seal_clear_attachment_metadata(session, workspace_id, limit=batch)
            converted += done
            if done < batch:
                break
        log.info("sealed the metadata of %d attachments in workspace %s", converted, workspace_id)
    if workspace_ids and ctx.services.db.is_sqlite:
        await _empty_the_wal(ctx)


async def _empty_the_wal(ctx: JobContext) -> None:
    """Old page images in the SQLite WAL still hold the clear names until they are overwritten: copy the
    WAL into the database file and truncate it (the converted pages carry zeroed free space, see
    `seal_clear_attachment_metadata`). A concurrent checkpoint (the one `Database` runs after writes) or a
    long reader makes it report busy: retried briefly, then left to the next run (logged)."""
    for attempt in range(TRUNCATE_ATTEMPTS):
        async with ctx.services.db.read_engine.connect() as conn:
            busy, _log_pages, _moved = (await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        if not busy:
            return
        await asyncio.sleep(0.05 * (attempt + 1))
    log.warning("WAL still holds pre-conversion pages: readers kept the truncating checkpoint busy")
