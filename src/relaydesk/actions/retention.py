"""Retention: how long a workspace keeps its audit log and the raw inbound request bodies, and the purges.

Both periods are workspace settings (`PATCH /api/v1/workspace`), with defaults chosen for privacy:

* `audit_retention_days` (default 365, privacy checklist item 17: logs kept at most a year). Older audit
  rows are deleted by the hourly `audit.retention` job, which leaves a checkpoint so the rest of the
  chain still verifies (privacy/audit.py `purge_before`). The platform chain (events of no workspace)
  uses the default.
* `inbound_body_retention_days` (default 7): a processed raw provider request keeps its body that long
  after `processed_at`, for debugging and re-processing; then the `inbound.purge_bodies` job drops the
  sealed body and the headers. The row stays, with `dedupe_key` and `signature_hash`, so a provider
  retry or a replayed request is still refused. Failed events keep their body until an operator
  re-processes or deletes them (they are the ones worth debugging). Raw bodies are sealed under a
  workspace subkey, not the contact key, so this purge — and `purge_contact_raw_bodies` at erasure —
  is what makes them go away.

Columns relied on (owned by the ingest code): `inbound_events.state` ('processed'), `processed_at`,
`body`, `headers`, `inbox_id`, `dedupe_key`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.models.audit import AuditCheckpoint
from relaydesk.models.conversations import Conversation
from relaydesk.models.inbound import InboundEvent
from relaydesk.models.messages import Message
from relaydesk.models.workspaces import Workspace
from relaydesk.privacy import audit

AUDIT_RETENTION_SETTING = "audit_retention_days"
AUDIT_RETENTION_DEFAULT = 365
RAW_BODY_RETENTION_SETTING = "inbound_body_retention_days"
RAW_BODY_RETENTION_DEFAULT = 7
RAW_BODY_BATCH = 1000


def retention_days(settings: dict[str, Any] | None, name: str) -> int:
    """A retention setting in days, or its default."""
    defaults = {
        AUDIT_RETENTION_SETTING: AUDIT_RETENTION_DEFAULT,
        RAW_BODY_RETENTION_SETTING: RAW_BODY_RETENTION_DEFAULT,
    }
    value = (settings or {}).get(name)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else defaults[name]


async def _settings(session: AsyncSession, workspace_id: uuid.UUID) -> dict[str, Any]:
    found = (
        await session.execute(sa.select(Workspace.settings).where(Workspace.id == workspace_id))
    ).scalar_one_or_none()
    return dict(found or {})


async def purge_audit(
    session: AsyncSession, workspace_id: uuid.UUID, *, now: dt.datetime
) -> AuditCheckpoint | None:
    """Delete this chain's rows older than the workspace's audit retention, leaving a checkpoint, and
    record the purge itself in the chain (`audit.purged`: up to which seq, how many rows)."""
    days = retention_days(await _settings(session, workspace_id), AUDIT_RETENTION_SETTING)
    checkpoint = await audit.purge_before(session, workspace_id, now - dt.timedelta(days=days))
    if checkpoint is not None:
        await audit.record(
            session,
            workspace_id,
            "audit.purged",
            target_type="audit_checkpoint",
            target_id=checkpoint.id,
            metadata={"upto_seq": checkpoint.seq, "rows": checkpoint.purged, "retention_days": days},
        )
    return checkpoint


async def purge_raw_bodies(
    session: AsyncSession, workspace_id: uuid.UUID, *, now: dt.datetime, batch: int = RAW_BODY_BATCH
) -> int:
    """Drop the bodies of up to `batch` processed inbound events past retention; returns how many."""
    days = retention_days(await _settings(session, workspace_id), RAW_BODY_RETENTION_SETTING)
    ids = (
        sa.select(InboundEvent.id)
        .where(
            InboundEvent.workspace_id == workspace_id,
            InboundEvent.state == "processed",
            InboundEvent.processed_at < now - dt.timedelta(days=days),
            InboundEvent.body.is_not(None),
        )
        .limit(batch)
        .scalar_subquery()
    )
    result = await session.execute(
        sa.update(InboundEvent)
        .where(InboundEvent.workspace_id == workspace_id, InboundEvent.id.in_(ids))
        .values(body=None, headers={})
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def purge_contact_raw_bodies(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID
) -> int:
    """At erasure, drop the raw bodies of the inbound events that carried this contact's messages.

    They are found through the messages of the contact's conversations: same inbox, and the provider's
    message id as the dedupe key or one `:`-separated part of it (`message:<id>`, `status:<id>:read`).
    An event that cannot be tied to the contact this way is still purged by retention
    (`inbound_body_retention_days` after processing)."""
    pairs = (
        await session.execute(
            sa.select(Message.inbox_id, Message.provider_message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Message.workspace_id == workspace_id,
                Conversation.workspace_id == workspace_id,
                Conversation.contact_id == contact_id,
                Message.provider_message_id.is_not(None),
            )
        )
    ).all()
    dropped = 0
    for inbox_id, provider_id in pairs:
        escaped = _like_escape(provider_id)
        result = await session.execute(
            sa.update(InboundEvent)
            .where(
                InboundEvent.workspace_id == workspace_id,
                InboundEvent.inbox_id == inbox_id,
                InboundEvent.body.is_not(None),
                sa.or_(
                    InboundEvent.dedupe_key == provider_id,
                    InboundEvent.dedupe_key.like(f"%:{escaped}", escape="\\"),
                    InboundEvent.dedupe_key.like(f"%:{escaped}:%", escape="\\"),
                ),
            )
            .values(body=None, headers={})
            .execution_options(synchronize_session=False)
        )
        dropped += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return dropped
