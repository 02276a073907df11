"""Connect and configure inboxes (one per channel)."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.channels.registry import channel, implemented_channels
from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.inboxes import Inbox
from relaydesk.privacy import audit, storage
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit


def new_signing_secret() -> str:
    """A Standard-Webhooks style secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def default_credentials(channel_type: str) -> dict[str, Any]:
    if channel_type == "api":
        # One secret signs what the integrator sends us, another what we send the integrator.
        return {"inbound_secret": new_signing_secret(), "outbound_secret": new_signing_secret()}
    if channel_type == "widget":
        return {"identity_secret": secrets.token_hex(32), "visitor_token_secret": secrets.token_hex(32)}
    return {}


async def create_inbox(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    name: str,
    channel_type: str,
    settings: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
    actor_id: uuid.UUID | None = None,
) -> Inbox:
    if channel(channel_type) is None:
        names = ", ".join(c.name for c in implemented_channels())
        raise InvalidInput(
            f"channel_type {channel_type[:40]!r} is not an implemented channel; use one of: {names}"
        )
    if not name.strip():
        raise InvalidInput("inbox name is required")
    inbox = Inbox(
        workspace_id=workspace_id,
        name=name.strip(),
        channel_type=channel_type,
        public_id=secrets.token_urlsafe(12),
        settings=dict(settings or {}),
    )
    storage.write_inbox_credentials(inbox, {**default_credentials(channel_type), **(credentials or {})})
    session.add(inbox)
    await session.flush()
    # AI switched on for the workspace reaches new inboxes too (imported here: the AI stack is heavy).
    from relaydesk.actions.ai import sync_inbox_flags

    await sync_inbox_flags(session, workspace_id)
    await audit.record(
        session,
        workspace_id,
        "inbox.created",
        actor_id=actor_id,
        target_type="inbox",
        target_id=inbox.id,
        metadata={"channel_type": channel_type, "credentials_given": sorted(credentials or {})},
    )
    await emit(session, workspace_id, events.inbox_created(inbox.id, channel_type))
    return inbox


async def update_inbox(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    inbox_id: uuid.UUID,
    *,
    name: str | None = None,
    settings: dict[str, Any] | None = None,
    is_active: bool | None = None,
    actor_id: uuid.UUID | None = None,
) -> Inbox:
    """Audited as `inbox.updated` with the names of the fields and settings changed, not their values."""
    inbox = await get_scoped(session, Inbox, workspace_id, inbox_id)
    if name is not None:
        if not name.strip():
            raise InvalidInput("inbox name is required")
        inbox.name = name.strip()
    if settings is not None:
        inbox.settings = {**inbox.settings, **settings}
    if is_active is not None:
        inbox.is_active = is_active
    changed = [k for k, v in (("name", name), ("is_active", is_active)) if v is not None]
    await audit.record(
        session,
        workspace_id,
        "inbox.updated",
        actor_id=actor_id,
        target_type="inbox",
        target_id=inbox.id,
        metadata={"keys": changed + [f"settings.{k}" for k in sorted(settings or {})]},
    )
    await emit(session, workspace_id, events.inbox_updated(inbox.id))
    return inbox


async def rotate_secret(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    inbox_id: uuid.UUID,
    which: str,
    *,
    actor_id: uuid.UUID | None = None,
) -> Inbox:
    inbox = await get_scoped(session, Inbox, workspace_id, inbox_id)
    creds = storage.read_inbox_credentials(inbox)
    if which not in creds:
        raise InvalidInput(f"this inbox has no {which!r} secret")
    creds[which] = new_signing_secret()
    storage.write_inbox_credentials(inbox, creds)
    await audit.record(
        session,
        workspace_id,
        "inbox.credentials_changed",
        actor_id=actor_id,
        target_type="inbox",
        target_id=inbox.id,
        metadata={"rotated": which},
    )
    return inbox


SECRET_NAMES = ("inbound_secret", "outbound_secret")


async def reveal_secrets(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_id: uuid.UUID, *, actor_id: uuid.UUID
) -> dict[str, str]:
    """An inbox's signing secrets, for an owner who asked to see them; the reveal is audited (names only).

    Reading a secret is as sensitive as changing it: whoever holds the outbound secret can forge
    Relaydesk's deliveries to the integrator, the inbound one can forge customers' messages."""
    inbox = await get_scoped(session, Inbox, workspace_id, inbox_id)
    creds = storage.read_inbox_credentials(inbox)
    shown = {name: creds[name] for name in SECRET_NAMES if creds.get(name)}
    if not shown:
        raise InvalidInput("this inbox has no signing secrets")
    await audit.record(
        session,
        workspace_id,
        "inbox.secrets_revealed",
        actor_id=actor_id,
        target_type="inbox",
        target_id=inbox.id,
        metadata={"shown": sorted(shown)},
    )
    return shown


async def record_inbox_health(
    session: AsyncSession, inbox_id: uuid.UUID, *, error: str | None = None, event: bool = False
) -> None:
    """The admin's "last event received / last error" line; never holds message content."""
    inbox = await session.get(Inbox, inbox_id)
    if inbox is None:
        return
    if event:
        inbox.last_event_at = utcnow()
    if error is not None:
        inbox.last_error = error[:500]
        inbox.last_error_at = utcnow()


# Inbox id -> when this process last wrote its `last_event_at` (monotonic seconds).
_event_recorded: dict[uuid.UUID, float] = {}
_INBOX_EVENT = (
    sa.update(Inbox.__table__)
    .where(Inbox.__table__.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(last_event_at=sa.bindparam("now", type_=Inbox.__table__.c.last_event_at.type))
)


async def record_inbox_events(session: AsyncSession, inbox_ids: set[uuid.UUID]) -> None:
    """ "Last event received" for the inboxes a batch of inbound events came through. At most once a
    second per inbox and process: the admin's health line needs no finer grain, and a busy inbox would
    otherwise rewrite its row with every batch."""
    now = time.monotonic()
    due = [inbox_id for inbox_id in inbox_ids if now - _event_recorded.get(inbox_id, -1e9) >= 1.0]
    if not due:
        return
    if len(_event_recorded) > 10_000:
        _event_recorded.clear()
    for inbox_id in due:
        _event_recorded[inbox_id] = now
    conn = await session.connection()
    await conn.execute(_INBOX_EVENT, {"ids": due, "now": utcnow()})


async def delete_inbox(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_id: uuid.UUID, *, actor_id: uuid.UUID | None = None
) -> None:
    """Delete the inbox with its conversations and messages (the database cascades)."""
    inbox = await get_scoped(session, Inbox, workspace_id, inbox_id)
    await audit.record(
        session,
        workspace_id,
        "inbox.deleted",
        actor_id=actor_id,
        target_type="inbox",
        target_id=inbox.id,
        metadata={"channel_type": inbox.channel_type},
    )
    await session.delete(inbox)
    await emit(session, workspace_id, events.inbox_deleted(inbox_id))
