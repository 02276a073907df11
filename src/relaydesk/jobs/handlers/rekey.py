"""Carry out a workspace-key rotation in the background, one batch per transaction (privacy/rotation.py).

Idempotent and resumable: progress lives in `key_rotations.cursor`, so a retried or taken-over job
continues from the last committed batch and re-wrapping an already re-wrapped key is a no-op.
"""

from __future__ import annotations

import uuid

from relaydesk.jobs.registry import JobContext, PermanentError, handler
from relaydesk.privacy import rotation


@handler(rotation.REKEY_JOB)
async def rekey(ctx: JobContext) -> None:
    try:
        workspace_id = uuid.UUID(str(ctx.payload["workspace_id"]))
        target = str(ctx.payload["target_key_id"])
    except (KeyError, ValueError) as exc:
        raise PermanentError(f"bad rekey payload: {exc}") from exc
    batch = int(ctx.payload.get("batch", rotation.BATCH))
    more = True
    while more:
        async with ctx.services.db.write() as session:
            more = await rotation.step(session, workspace_id, target, batch=batch)
