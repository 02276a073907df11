"""Append audit events to the per-workspace hash chain, inside the caller's writing transaction.

Call `record` in the same `db.write()` transaction as the change it describes, so the change and its
audit row commit or roll back together. Rows carry ids, never content (`audit_chain` refuses metadata
keys such as `email` or `text`).

Action names in use (keep this list in step with docs/encryption.md §6):

    auth.login  auth.login_failed  auth.logout  auth.2fa_enabled  auth.2fa_disabled
    member.role_changed  member.deactivated  member.reactivated
    inbox.created  inbox.credentials_changed
    keys.workspace_rotated  keys.master_rotated  keys.contact_shredded
    contact.viewed

A login belongs to no single workspace: record it with `record_for_user` (one row in each workspace the
user is an active member of) or, for an unknown identifier, in the platform chain (`PLATFORM`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.models.audit import AuditEvent
from relaydesk.models.workspaces import Membership
from relaydesk.privacy import audit_chain
from relaydesk.privacy.audit_chain import ActorKind, AuditRecord, ChainedRecord, MetadataValue, Outcome

PLATFORM = uuid.UUID(int=0)


async def _lock_chain(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Serialise appends per workspace. SQLite writers are serialised already (BEGIN IMMEDIATE); on
    PostgreSQL a transaction-scoped advisory lock does it, and UNIQUE (workspace_id, seq) backs it up."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"relaydesk-audit:{workspace_id}"},
        )


def to_record(row: AuditEvent) -> AuditRecord:
    return AuditRecord(
        workspace_id=row.workspace_id,
        seq=row.seq,
        occurred_at=row.occurred_at,
        actor_kind=ActorKind(row.actor_kind),
        actor_id=row.actor_id,
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        ip=row.ip,
        request_id=row.request_id,
        outcome=Outcome(row.outcome),
        metadata=dict(row.details or {}),
    )


def to_chained(row: AuditEvent) -> ChainedRecord:
    return ChainedRecord(record=to_record(row), prev_hash=row.prev_hash, hash=row.hash)


async def record(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    action: str,
    *,
    actor_kind: ActorKind | str = ActorKind.SYSTEM,
    actor_id: uuid.UUID | str | None = None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    ip: str | None = None,
    request_id: str | None = None,
    outcome: Outcome | str = Outcome.SUCCESS,
    metadata: Mapping[str, MetadataValue | list[MetadataValue]] | None = None,
    occurred_at: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event to the workspace's chain (in the caller's transaction) and return its row."""
    await _lock_chain(session, workspace_id)
    last = (
        await session.execute(
            sa.select(AuditEvent)
            .where(AuditEvent.workspace_id == workspace_id)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    rec = AuditRecord(
        workspace_id=workspace_id,
        seq=(last.seq + 1) if last else 1,
        # Microsecond precision is what the canonical form keeps, so the stored value re-hashes equal.
        occurred_at=(occurred_at or utcnow()).astimezone(dt.UTC),
        actor_kind=ActorKind(actor_kind),
        actor_id=str(actor_id) if actor_id is not None else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=ip,
        request_id=request_id,
        outcome=Outcome(outcome),
        metadata=dict(metadata or {}),
    )
    chained = audit_chain.append(to_chained(last) if last else None, rec)
    row = AuditEvent(
        workspace_id=workspace_id,
        seq=rec.seq,
        occurred_at=rec.occurred_at,
        actor_kind=rec.actor_kind.value,
        actor_id=rec.actor_id,
        action=rec.action,
        target_type=rec.target_type,
        target_id=rec.target_id,
        ip=rec.ip,
        request_id=rec.request_id,
        outcome=rec.outcome.value,
        details=dict(rec.metadata),
        prev_hash=chained.prev_hash,
        hash=chained.hash,
    )
    session.add(row)
    await session.flush()
    return row


async def record_for_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    action: str,
    *,
    outcome: Outcome | str = Outcome.SUCCESS,
    ip: str | None = None,
    request_id: str | None = None,
    metadata: Mapping[str, MetadataValue | list[MetadataValue]] | None = None,
) -> int:
    """Record a user-level event (login, logout, 2FA) in every workspace the user is an active member
    of, or in the platform chain if none; returns the number of rows written."""
    workspace_ids = list(
        (
            await session.execute(
                sa.select(Membership.workspace_id).where(
                    Membership.user_id == user_id, Membership.is_active.is_(True)
                )
            )
        ).scalars()
    ) or [PLATFORM]
    for workspace_id in workspace_ids:
        await record(
            session,
            workspace_id,
            action,
            actor_kind=ActorKind.USER,
            actor_id=user_id,
            target_type="user",
            target_id=user_id,
            outcome=outcome,
            ip=ip,
            request_id=request_id,
            metadata=metadata,
        )
    return len(workspace_ids)


async def load_chain(
    session: AsyncSession, workspace_id: uuid.UUID, *, batch: int = 5000
) -> list[ChainedRecord]:
    """Every row of one workspace's chain in seq order (read in batches to bound memory per query)."""
    out: list[ChainedRecord] = []
    after = 0
    while True:
        rows = list(
            (
                await session.execute(
                    sa.select(AuditEvent)
                    .where(AuditEvent.workspace_id == workspace_id, AuditEvent.seq > after)
                    .order_by(AuditEvent.seq)
                    .limit(batch)
                )
            ).scalars()
        )
        out.extend(to_chained(r) for r in rows)
        if len(rows) < batch:
            return out
        after = rows[-1].seq


async def verify(session: AsyncSession, workspace_id: uuid.UUID) -> list[audit_chain.ChainProblem]:
    """Recompute one workspace's chain; an empty list means intact (a deleted *tail* needs checkpoints)."""
    return audit_chain.verify_chain(await load_chain(session, workspace_id), workspace_id)


async def chains(session: AsyncSession) -> list[uuid.UUID]:
    """Workspaces (and the platform scope) that have audit rows."""
    return list((await session.execute(sa.select(AuditEvent.workspace_id).distinct())).scalars())
