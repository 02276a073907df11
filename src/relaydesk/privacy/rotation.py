"""Online key rotation: new generations, batched re-wrapping, progress, and master-key re-wrapping.

Rotating a workspace key adds generation `w{n+1}`; new contact keys are wrapped under it at once. The
`keys.rekey` job (jobs/handlers/rekey.py) then walks the workspace's contact keys in id order, a batch per
transaction, re-wrapping those still under an older generation, and stores its cursor in `key_rotations`
so a crashed or restarted worker resumes where it stopped. Data sealed under contact keys is not touched:
only the 60-odd-byte wrapped keys change, so rotation cost is per contact, not per message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import Base, utcnow
from relaydesk.models.inboxes import Inbox
from relaydesk.models.keys import ContactKey, KeyRotation, WorkspaceKey
from relaydesk.models.workspaces import Workspace
from relaydesk.privacy import crypto, key_check, vault
from relaydesk.privacy.keys import KeyRing

REKEY_JOB = "keys.rekey"
BATCH = 500


async def rotate(session: AsyncSession, workspace_id: uuid.UUID) -> KeyRotation:
    """Add the next workspace key generation and record a rotation for the job to carry out."""
    vault.ring().forget_workspace(workspace_id)  # number the generation from the stored keys, not a cache
    new_id = await vault.run(session, lambda ring: ring.rotate_workspace_key(workspace_id))
    total = (
        await session.execute(
            sa.select(sa.func.count())
            .select_from(ContactKey)
            .where(ContactKey.workspace_id == workspace_id, ContactKey.destroyed_at.is_(None))
        )
    ).scalar_one()
    rotation = KeyRotation(
        workspace_id=workspace_id, target_key_id=new_id, total=total, done=0, pass_changed=0
    )
    session.add(rotation)
    await session.flush()
    return rotation


async def _rewrap_batch(
    ring: KeyRing, workspace_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> tuple[int, int, uuid.UUID | None]:
    ring.forget_workspace(workspace_id)  # see the newest generation even if another process rotated
    rows = vault.store().contact_keys_after(workspace_id, after, limit=limit)
    changed = 0
    for contact_id, stored in rows:
        if await ring.rewrap_contact_key(workspace_id, contact_id, stored):
            changed += 1
    return len(rows), changed, rows[-1][0] if rows else None


async def step(
    session: AsyncSession, workspace_id: uuid.UUID, target_key_id: str, *, batch: int = BATCH
) -> bool:
    """Run one batch of a rotation; returns True while there is more to do."""
    rotation = await session.get(KeyRotation, (workspace_id, target_key_id), with_for_update=True)
    if rotation is None or rotation.finished_at is not None:
        return False
    seen, changed, last = await vault.run(
        session, lambda ring: _rewrap_batch(ring, workspace_id, rotation.cursor, batch)
    )
    rotation.done += changed
    rotation.pass_changed += changed
    if seen:
        rotation.cursor = last
        return True
    if rotation.pass_changed == 0:
        rotation.finished_at = utcnow()
        return False
    rotation.cursor, rotation.pass_changed = None, 0  # one more pass to catch stragglers
    return True


@dataclass(frozen=True)
class KeyStatus:
    workspace_id: uuid.UUID
    slug: str
    generations: list[str]
    current: str
    contact_keys: int
    shredded: int
    behind: int  # contact keys still wrapped under an older generation
    rotation: KeyRotation | None


async def status(session: AsyncSession, workspace_id: uuid.UUID) -> KeyStatus:
    """Where a workspace's keys stand; `behind` is what a rotation still has to re-wrap."""
    slug = (await session.execute(sa.select(Workspace.slug).where(Workspace.id == workspace_id))).scalar_one()
    generations = sorted(
        (
            await session.execute(
                sa.select(WorkspaceKey.key_id).where(WorkspaceKey.workspace_id == workspace_id)
            )
        ).scalars(),
        key=lambda k: int(k[1:]),
    )
    current = generations[-1] if generations else "-"
    live = shredded = behind = 0
    rows = await session.execute(sa.select(ContactKey.wrapped).where(ContactKey.workspace_id == workspace_id))
    for (wrapped,) in rows:
        if wrapped is None:
            shredded += 1
            continue
        live += 1
        if crypto.key_id_of(wrapped) != current:
            behind += 1
    rotation = (
        await session.execute(
            sa.select(KeyRotation)
            .where(KeyRotation.workspace_id == workspace_id)
            .order_by(KeyRotation.started_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return KeyStatus(workspace_id, slug, generations, current, live, shredded, behind, rotation)


# Columns sealed with `storage.seal_secret` / `seal_raw_body` under a master subkey: (table, column, scope
# column or None for the platform scope, AAD label). A master rotation re-seals them all before the old
# master key may be dropped from the configuration. Add a row here when a new sealed secret column appears.
SECRET_COLUMNS: list[tuple[str, str, str | None, tuple[str, str]]] = [
    ("webhook_endpoints", "secret", "workspace_id", ("secrets", "value")),
    ("ai_settings", "api_key_sealed", "workspace_id", ("secrets", "value")),
    ("users", "totp_secret", None, ("secrets", "value")),
    ("inbound_events", "body", "workspace_id", ("inbound_events", "body")),
]
PLATFORM_SCOPE = uuid.UUID(int=0)


async def _reseal_column(
    session: AsyncSession, table_name: str, column: str, scope_col: str | None, label: tuple[str, str]
) -> int:
    table = Base.metadata.tables.get(table_name)
    if table is None or column not in table.c:
        return 0
    scope_expr = table.c[scope_col] if scope_col else sa.literal(None)
    rows = (
        await session.execute(
            sa.select(table.c.id, scope_expr, table.c[column]).where(table.c[column].is_not(None))
        )
    ).all()
    changed = 0
    for row_id, scope, blob in rows:
        if not blob or not vault.secret_needs_reseal(blob):
            continue
        scope = scope or PLATFORM_SCOPE
        aad = crypto.aad_for(scope, label[0], label[1], scope)
        fresh = vault.seal_secret_bytes(scope, vault.open_secret_bytes(scope, blob, aad), aad)
        await session.execute(sa.update(table).where(table.c.id == row_id).values({column: fresh}))
        changed += 1
    return changed


async def rewrap_for_master(session: AsyncSession) -> dict[str, int]:
    """After configuring `RELAYDESK_MASTER_KEY=new,old`: re-wrap every workspace key, re-seal every secret
    and the master key check value under the new master key. When it returns, the old key can be removed
    from the setting (a start with only the old key is then refused); copies of the database taken before
    then need the old key, so destroying it makes them unreadable."""
    from relaydesk.privacy import storage

    counts: dict[str, int] = {"workspace_keys": 0, "inboxes.credentials": 0}
    workspace_ids = list((await session.execute(sa.select(WorkspaceKey.workspace_id).distinct())).scalars())
    for workspace_id in workspace_ids:
        counts["workspace_keys"] += await vault.run(
            session, lambda ring, ws=workspace_id: ring.rewrap_workspace_keys(ws)
        )
        vault.ring().forget_workspace(workspace_id)
    for inbox in (await session.execute(sa.select(Inbox).where(Inbox.credentials.is_not(None)))).scalars():
        if inbox.credentials and vault.secret_needs_reseal(inbox.credentials):
            storage.write_inbox_credentials(inbox, storage.read_inbox_credentials(inbox))
            counts["inboxes.credentials"] += 1
    for table, column, scope_col, label in SECRET_COLUMNS:
        counts[f"{table}.{column}"] = await _reseal_column(session, table, column, scope_col, label)
    await key_check.reseal(session, vault.ring().current_master)  # starts now need the new key
    counts["master_key_check"] = 1
    return counts
