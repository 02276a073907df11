"""Append audit events to the per-workspace hash chain, inside the caller's writing transaction.

Call `record` in the same `db.write()` transaction as the change it describes, so the change and its
audit row commit or roll back together. Rows carry ids, never content (`audit_chain` refuses metadata
keys such as `email` or `text`).

Every action name is declared once in `ACTIONS` below (documented in docs/privacy.md, "Audit trail");
`record` refuses a name that is not there, so a new kind of event is added to the catalogue first.
tests/privacy/test_audit_coverage.py walks the app's state-changing admin routes and fails when one of
them records nothing.

Retention (privacy checklist item 17): `purge_before` removes the oldest part of a chain and records an
`AuditCheckpoint` (hash and seq of the last removed row, MAC'd under a master subkey) in the same
transaction; `verify` then checks the remaining chain from that checkpoint.

A login belongs to no single workspace: record it with `record_for_user` (one row in each workspace the
user is an active member of) or, for an unknown identifier, in the platform chain (`PLATFORM`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.models.audit import AuditCheckpoint, AuditEvent
from relaydesk.models.workspaces import Membership
from relaydesk.privacy import audit_chain, crypto, vault
from relaydesk.privacy.audit_chain import ActorKind, AuditRecord, ChainedRecord, MetadataValue, Outcome

PLATFORM = uuid.UUID(int=0)

# The audit catalogue: every action the chain may hold, with what it means. Security-relevant changes
# are recorded by the action in `relaydesk/actions/` that makes them (one place, same transaction), so
# the API, the web admin and the CLI all leave the same row.
ACTIONS: Mapping[str, str] = {
    # people signing in and guarding their account (auth/login.py)
    "auth.login": "a person signed in (with or without the second factor)",
    "auth.login_failed": "a sign-in or second-factor attempt failed",
    "auth.logout": "a person signed out",
    "auth.2fa_enabled": "a person turned two-factor authentication on",
    "auth.2fa_disabled": "a person turned two-factor authentication off",
    "auth.password_changed": "a person changed their password",
    # workspaces and who belongs to them (actions/workspaces.py, actions/invitations.py)
    "workspace.created": "a workspace was created (web, CLI `createadmin`, demo)",
    "workspace.settings_changed": "workspace name or settings (2FA requirement, private webhook targets) changed",
    "member.added": "a person became a member with a role (invitation accepted, API, `createadmin` owner)",
    "member.role_changed": "a member's role changed",
    "member.deactivated": "a member was deactivated (sessions and tokens end)",
    "member.reactivated": "a member was reactivated",
    "invitation.created": "an invitation link was issued for an e-mail address and role",
    "invitation.revoked": "an unused invitation was withdrawn",
    "invitation.accepted": "an invitation was accepted",
    # credentials (actions/people.py)
    "api_token.created": "an API token was issued (its scopes in the metadata)",
    "api_token.revoked": "an API token was revoked",
    # inboxes (actions/inboxes.py)
    "inbox.created": "an inbox was connected",
    "inbox.updated": "an inbox's name, settings or active flag changed",
    "inbox.deleted": "an inbox was deleted with its conversations",
    "inbox.credentials_changed": "an inbox secret was rotated",
    "inbox.secrets_revealed": "an inbox's secrets were shown to an owner on purpose",
    # outgoing webhooks (actions/webhooks.py)
    "webhook.created": "an outgoing webhook endpoint was added",
    "webhook.updated": "an outgoing webhook endpoint changed",
    "webhook.secret_rotated": "an outgoing webhook signing secret was rotated",
    "webhook.deleted": "an outgoing webhook endpoint was removed",
    # AI configuration (actions/ai.py, actions/ai_intents.py)
    "ai.settings_changed": "AI settings of the workspace or an inbox changed (keys, never values)",
    "ai.intent_created": "a custom intent was added",
    "ai.intent_updated": "an intent's name, phrases or rules changed",
    "ai.intent_deleted": "a custom intent was removed",
    # keys and data (actions/keys.py, actions/retention.py, api/v1/contacts.py)
    "keys.workspace_rotated": "a workspace key generation was started (`relaydesk keys rotate --workspace`)",
    "keys.master_rotated": "everything was re-wrapped under a new master key (`relaydesk keys rotate --master`)",
    "keys.contact_shredded": "a contact's key was destroyed (crypto-shredding)",
    "contact.viewed": "a contact's full profile was read",
    # data-subject requests (actions/exports.py)
    "contact.export_requested": "an export of a contact's data was requested (access request recorded)",
    "contact.exported": "a contact's export archive was built (counts of what it holds)",
    "contact.export_downloaded": "a contact's export archive was downloaded by its requester (then emptied)",
    "contact.export_expired": "a contact's export archive expired undownloaded and was emptied",
    # (actions/subject_rights.py)
    "contact.restricted": "a contact's processing was restricted (AI, automations, webhooks skip them)",
    "contact.restriction_lifted": "the restriction of a contact's processing was lifted",
    "contact.objected": "a contact objected to automated decisions (AI off, conversations to a person)",
    "audit.purged": "the oldest audit rows past retention were removed behind a checkpoint",
}


class UnknownAuditAction(ValueError):
    """An action name missing from `ACTIONS`: declare it (and document it) before recording it."""


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


async def chain_head(session: AsyncSession, workspace_id: uuid.UUID) -> AuditEvent | None:
    """The newest row of the workspace's chain (what the next row links to, and what exports pin)."""
    return (
        await session.execute(
            sa.select(AuditEvent)
            .where(AuditEvent.workspace_id == workspace_id)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def record(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    action: str,
    *,
    actor_kind: ActorKind | str | None = None,
    actor_id: uuid.UUID | str | None = None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    ip: str | None = None,
    request_id: str | None = None,
    outcome: Outcome | str = Outcome.SUCCESS,
    metadata: Mapping[str, MetadataValue | list[MetadataValue]] | None = None,
    occurred_at: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event to the workspace's chain (in the caller's transaction) and return its row.

    Without ``actor_kind`` the actor is a user when ``actor_id`` is given and the system otherwise: that
    is what every action called from both a request and a job means, so callers do not spell it out.
    """
    if action not in ACTIONS:
        raise UnknownAuditAction(
            f"audit action {action!r} is not in the catalogue (privacy/audit.py ACTIONS)"
        )
    if actor_kind is None:
        actor_kind = ActorKind.USER if actor_id is not None else ActorKind.SYSTEM
    await _lock_chain(session, workspace_id)
    last = await chain_head(session, workspace_id)
    checkpoint = None if last else await latest_checkpoint(session, workspace_id)
    rec = AuditRecord(
        workspace_id=workspace_id,
        seq=(last.seq + 1) if last else (checkpoint.seq + 1 if checkpoint else 1),
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
    if last is None and checkpoint is not None:
        # Every row was purged: the chain goes on from the checkpoint, not from genesis.
        prev_hash = checkpoint.hash
        chained = ChainedRecord(rec, prev_hash, audit_chain.chain_hash(prev_hash, rec))
    else:
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
    session: AsyncSession, workspace_id: uuid.UUID, *, batch: int = 5000, after: int = 0
) -> list[ChainedRecord]:
    """Every row of one workspace's chain after seq `after`, in seq order (read in batches to bound
    memory per query)."""
    out: list[ChainedRecord] = []
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


# --- retention checkpoints --------------------------------------------------------------------------

CHECKPOINT_PURPOSE = "audit-checkpoint"


def _checkpoint_key(master_key_id: str | None = None) -> tuple[str, bytes] | None:
    """(master key id, MAC key) for checkpoints: a subkey of the current master key, or of the named one
    if it is still configured (None once it has been rotated out and destroyed)."""
    ring = vault.ring()
    if master_key_id is None:
        master = ring.current_master
        return master.key_id, crypto.derive_subkey(master.key, CHECKPOINT_PURPOSE)
    try:
        return master_key_id, crypto.derive_subkey(ring.master_key(master_key_id), CHECKPOINT_PURPOSE)
    except crypto.UnknownKey:
        return None


def head_mac(workspace_id: uuid.UUID, seq: int, head_hash: str) -> tuple[str, str]:
    """(master key id, MAC) vouching for a chain head, for export to write-once storage."""
    key = _checkpoint_key()
    assert key is not None
    return key[0], audit_chain.checkpoint_mac(key[1], workspace_id, seq, head_hash)


async def latest_checkpoint(session: AsyncSession, workspace_id: uuid.UUID) -> AuditCheckpoint | None:
    return (
        await session.execute(
            sa.select(AuditCheckpoint)
            .where(AuditCheckpoint.workspace_id == workspace_id)
            .order_by(AuditCheckpoint.seq.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def checkpoints(session: AsyncSession, workspace_id: uuid.UUID | None = None) -> list[AuditCheckpoint]:
    stmt = sa.select(AuditCheckpoint).order_by(AuditCheckpoint.workspace_id, AuditCheckpoint.seq)
    if workspace_id is not None:
        stmt = stmt.where(AuditCheckpoint.workspace_id == workspace_id)
    return list((await session.execute(stmt)).scalars())


async def purge_before(
    session: AsyncSession, workspace_id: uuid.UUID, cutoff: dt.datetime
) -> AuditCheckpoint | None:
    """Delete the oldest rows of a chain, those before `cutoff`, leaving a checkpoint; None if nothing
    is old enough. Runs as system work, in the caller's writing transaction.

    Only a prefix of the chain goes: everything before the first row at or after `cutoff` (an older
    timestamp further on, from clock skew, is kept rather than leaving a hole). On PostgreSQL the
    append-only trigger lets these deletes through only because this transaction sets
    `relaydesk.audit_purge` to the workspace *and* the checkpoint covering them is inserted first."""
    await _lock_chain(session, workspace_id)
    first_kept = (
        await session.execute(
            sa.select(sa.func.min(AuditEvent.seq)).where(
                AuditEvent.workspace_id == workspace_id, AuditEvent.occurred_at >= cutoff
            )
        )
    ).scalar_one()
    old = sa.select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if first_kept is not None:
        old = old.where(AuditEvent.seq < first_kept)
    last = (await session.execute(old.order_by(AuditEvent.seq.desc()).limit(1))).scalar_one_or_none()
    if last is None:
        return None
    count_stmt = sa.select(sa.func.count()).where(
        AuditEvent.workspace_id == workspace_id, AuditEvent.seq <= last.seq
    )
    purged = (await session.execute(count_stmt)).scalar_one()
    key = _checkpoint_key()
    assert key is not None
    key_id, mac_key = key
    checkpoint = AuditCheckpoint(
        workspace_id=workspace_id,
        seq=last.seq,
        hash=last.hash,
        last_occurred_at=last.occurred_at,
        purged=purged,
        key_id=key_id,
        mac=audit_chain.checkpoint_mac(mac_key, workspace_id, last.seq, last.hash),
    )
    session.add(checkpoint)
    await session.flush()
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            sa.text("SELECT set_config('relaydesk.audit_purge', :ws, true)"), {"ws": str(workspace_id)}
        )
    await session.execute(
        sa.delete(AuditEvent)
        .where(AuditEvent.workspace_id == workspace_id, AuditEvent.seq <= last.seq)
        .execution_options(synchronize_session=False)
    )
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(sa.text("SELECT set_config('relaydesk.audit_purge', '', true)"))
    return checkpoint


def checkpoint_problems(checkpoint: AuditCheckpoint) -> list[audit_chain.ChainProblem]:
    """A checkpoint whose MAC does not match was not written by the purge (forged to hide removed rows).
    One MAC'd under a master key that is no longer configured cannot be checked: not reported here
    (compare the exported copy instead, `relaydesk audit checkpoints`)."""
    key = _checkpoint_key(checkpoint.key_id)
    if key is None:
        return []
    expected = audit_chain.checkpoint_mac(key[1], checkpoint.workspace_id, checkpoint.seq, checkpoint.hash)
    if hmac.compare_digest(expected, checkpoint.mac):
        return []
    return [
        audit_chain.ChainProblem(
            checkpoint.seq, "checkpoint", "checkpoint MAC does not match (not written by the purge)"
        )
    ]


async def verify(session: AsyncSession, workspace_id: uuid.UUID) -> list[audit_chain.ChainProblem]:
    """Recompute one workspace's chain from its latest checkpoint (or genesis); an empty list means
    intact. A deleted *tail* needs exported checkpoints or heads to be seen."""
    problems: list[audit_chain.ChainProblem] = []
    for checkpoint in await checkpoints(session, workspace_id):
        problems.extend(checkpoint_problems(checkpoint))
    latest = await latest_checkpoint(session, workspace_id)
    after = (latest.seq, latest.hash) if latest else None
    chain = await load_chain(session, workspace_id, after=latest.seq if latest else 0)
    return problems + audit_chain.verify_chain(chain, workspace_id, after=after)


async def chains(session: AsyncSession) -> list[uuid.UUID]:
    """Workspaces (and the platform scope) that have audit rows or checkpoints."""
    with_rows = set((await session.execute(sa.select(AuditEvent.workspace_id).distinct())).scalars())
    with_checkpoints = set(
        (await session.execute(sa.select(AuditCheckpoint.workspace_id).distinct())).scalars()
    )
    return sorted(with_rows | with_checkpoints)
