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
`body`, `headers`, `inbox_id`, `dedupe_key`; and `messages.inbound_event_id` (set by `actions/incoming.py`).
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


async def purge_contact_raw_bodies(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID
) -> int:
    """At erasure, drop the raw bodies of the inbound events that carried this contact's messages.

    Each customer message records the raw event it was parsed from (`messages.inbound_event_id`), so the
    events are found through the contact's conversations whatever the channel and its dedupe keys. An event
    that carried none of the contact's messages (a delivery receipt) is still purged by retention
    (`inbound_body_retention_days` after processing)."""
    sources = (
        sa.select(Message.inbound_event_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.workspace_id == workspace_id,
            Conversation.workspace_id == workspace_id,
            Conversation.contact_id == contact_id,
            Message.inbound_event_id.is_not(None),
        )
    )
    result = await session.execute(
        sa.update(InboundEvent)
        .where(
            InboundEvent.workspace_id == workspace_id,
            InboundEvent.id.in_(sources),
            InboundEvent.body.is_not(None),
        )
        .values(body=None, headers={})
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
