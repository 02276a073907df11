"""Key management actions: rotate a workspace or the master key, crypto-shred a contact. All audited."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions import retention
from relaydesk.jobs.outbox import enqueue
from relaydesk.models.keys import KeyRotation
from relaydesk.privacy import audit, rotation, storage, vault
from relaydesk.privacy.audit_chain import ActorKind


async def rotate_workspace_key(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    actor_kind: ActorKind | str = ActorKind.SYSTEM,
    actor_id: uuid.UUID | str | None = None,
    batch: int = rotation.BATCH,
) -> KeyRotation:
    """New writes use the new generation at once; the `keys.rekey` job re-wraps the old contact keys.
    Run it in a transaction of its own, so a new generation is never cached before it is committed."""
    rot = await rotation.rotate(session, workspace_id)
    await enqueue(
        session,
        rotation.REKEY_JOB,
        {"workspace_id": str(workspace_id), "target_key_id": rot.target_key_id, "batch": batch},
        workspace_id=workspace_id,
        idempotency_key=f"rekey:{workspace_id}:{rot.target_key_id}",
    )
    await audit.record(
        session,
        workspace_id,
        "keys.workspace_rotated",
        actor_kind=actor_kind,
        actor_id=actor_id,
        target_type="workspace_key",
        target_id=rot.target_key_id,
        metadata={"contact_keys": rot.total},
    )
    return rot


async def shred_contact(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    contact_id: uuid.UUID,
    *,
    actor_kind: ActorKind | str = ActorKind.SYSTEM,
    actor_id: uuid.UUID | str | None = None,
) -> None:
    """Destroy the contact's data key and its derived index data: every message, attachment and
    personal field sealed for it becomes unreadable, in this database and in copies of it (see
    docs/encryption.md §4 for what copies need). The erasure flow calls this, then deletes rows."""
    # Raw provider requests are sealed under a workspace subkey, not the contact key: drop the ones that
    # can be tied to the contact now (the rest go by retention, actions/retention.py).
    raw_dropped = await retention.purge_contact_raw_bodies(session, workspace_id, contact_id)
    removed = await storage.shred_contact(session, workspace_id, contact_id)
    await audit.record(
        session,
        workspace_id,
        "keys.contact_shredded",
        actor_kind=actor_kind,
        actor_id=actor_id,
        target_type="contact",
        target_id=contact_id,
        metadata={"index_subjects_removed": removed, "raw_bodies_dropped": raw_dropped},
    )


async def rotate_master_key(session: AsyncSession) -> dict[str, int]:
    """Re-wrap every workspace key and master-sealed secret under the first configured master key
    (`relaydesk keys rotate --master`), audited as `keys.master_rotated` in the platform chain with the
    new key's id and the counts; returns the counts per kind."""
    counts = await rotation.rewrap_for_master(session)
    await audit.record(
        session,
        audit.PLATFORM,
        "keys.master_rotated",
        target_type="master_key",
        target_id=vault.ring().current_master.key_id,
        metadata={name: count for name, count in counts.items()},
    )
    return counts
