"""Connect and configure inboxes (one per channel)."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.actions import business_hours, offline_fallback
from relaydesk.channels.registry import implemented_channels, spec_for
from relaydesk.channels.spec import ChannelSpec, FieldError
from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.inboxes import Inbox
from relaydesk.privacy import audit, storage
from relaydesk.realtime import catalogue as events
from relaydesk.realtime.events import emit


def channel_spec(channel_type: str) -> ChannelSpec:
    """The inbox's channel, or a 400 naming the implemented ones."""
    spec = spec_for(channel_type)
    if spec is None:
        names = ", ".join(c.name for c in implemented_channels())
        raise InvalidInput(
            f"channel_type {channel_type[:40]!r} is not an implemented channel; use one of: {names}"
        )
    return spec


@contextmanager
def _field_errors() -> Iterator[None]:
    """A value that does not fit the channel's schema is a 400 naming the field."""
    try:
        yield
    except FieldError as exc:
        raise InvalidInput(str(exc), details={"field": exc.field}) from None


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
    """Settings and credentials are checked against the channel's spec (defaults filled, generated
    secrets made); a value that does not fit is a 400 naming the field."""
    spec = channel_spec(channel_type)
    if not name.strip():
        raise InvalidInput("inbox name is required")
    # Business hours belong to every channel: checked apart from the channel's own settings.
    channel_settings, common = business_hours.split_settings(settings or {})
    with _field_errors():
        checked_settings = spec.validate_settings(channel_settings)
        checked_credentials = spec.validate_credentials(credentials or {})
    # A setting naming another inbox (the chat's e-mail fallback) must name one of this workspace.
    await offline_fallback.check_settings(session, workspace_id, checked_settings)
    inbox = Inbox(
        workspace_id=workspace_id,
        name=name.strip(),
        channel_type=channel_type,
        public_id=secrets.token_urlsafe(12),
        settings=business_hours.apply_settings(checked_settings, common),
    )
    storage.write_inbox_credentials(inbox, checked_credentials)
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
    credentials: dict[str, Any] | None = None,
    is_active: bool | None = None,
    actor_id: uuid.UUID | None = None,
) -> Inbox:
    """Audited as `inbox.updated` with the names of the fields, settings and credentials changed, never
    their values. `settings` and `credentials` are merged into the stored ones and checked against the
    channel's spec (null removes an optional value). New credentials clear a "needs re-authorisation"
    mark: the admin fixed what the provider refused, so sending may resume."""
    inbox = await get_scoped(session, Inbox, workspace_id, inbox_id)
    spec = channel_spec(inbox.channel_type)
    if name is not None:
        if not name.strip():
            raise InvalidInput("inbox name is required")
        inbox.name = name.strip()
    with _field_errors():
        if settings is not None:
            # Business hours belong to every channel: checked apart from the channel's own settings.
            channel_settings, common = business_hours.split_settings(settings)
            checked = spec.validate_settings(channel_settings, current=inbox.settings)
            await offline_fallback.check_settings(session, workspace_id, checked)
            inbox.settings = business_hours.apply_settings(checked, common)
        if credentials:
            merged = spec.validate_credentials(credentials, current=storage.read_inbox_credentials(inbox))
    if credentials:
        storage.write_inbox_credentials(inbox, merged)
        inbox.reauth_reason = None
        inbox.reauth_since = None
    if is_active is not None:
        inbox.is_active = is_active
    changed = [k for k, v in (("name", name), ("is_active", is_active)) if v is not None]
    changed += [f"credentials.{k}" for k in sorted(credentials or {})]
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
    """Replace one generated secret (a signing secret) with a fresh one; typed-in provider credentials are
    replaced through `update_inbox` instead."""
    inbox = await get_scoped(session, Inbox, workspace_id, inbox_id)
    spec = channel_spec(inbox.channel_type)
    field = next((f for f in spec.generated_credentials() if f.name == which), None)
    if field is None or field.generated is None:
        names = ", ".join(f.name for f in spec.generated_credentials()) or "none"
        raise InvalidInput(f"this inbox has no {which[:80]!r} secret to rotate (its secrets: {names})")
    creds = storage.read_inbox_credentials(inbox)
    creds[which] = field.generated()
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


def revealable_secrets(inbox: Inbox) -> list[str]:
    """The names of the inbox's secrets an owner may reveal: those Relaydesk generated (signing secrets).
    Credentials an admin typed in (provider tokens) are never shown back, only replaced."""
    spec = spec_for(inbox.channel_type)
    if spec is None:
        return []
    creds = storage.read_inbox_credentials(inbox)
    return [f.name for f in spec.generated_credentials() if creds.get(f.name)]


async def reveal_secrets(
    session: AsyncSession, workspace_id: uuid.UUID, inbox_id: uuid.UUID, *, actor_id: uuid.UUID
) -> dict[str, str]:
    """An inbox's signing secrets, for an owner who asked to see them; the reveal is audited (names only).

    Reading a secret is as sensitive as changing it: whoever holds the outbound secret can forge
    Relaydesk's deliveries to the integrator, the inbound one can forge customers' messages."""
    inbox = await get_scoped(session, Inbox, workspace_id, inbox_id)
    creds = storage.read_inbox_credentials(inbox)
    shown = {name: creds[name] for name in revealable_secrets(inbox)}
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


async def mark_needs_reauthorisation(session: AsyncSession, inbox_id: uuid.UUID, reason: str) -> None:
    """The provider refused the inbox's credentials: mark it (the admin shows it, sending stops) until an
    admin replaces them. The first reason and time are kept while the mark stands."""
    inbox = await session.get(Inbox, inbox_id)
    if inbox is None:
        return
    if inbox.reauth_since is None:
        inbox.reauth_since = utcnow()
        inbox.reauth_reason = reason[:500]
    inbox.last_error = f"needs re-authorisation: {reason}"[:500]
    inbox.last_error_at = utcnow()
    await emit(session, inbox.workspace_id, events.inbox_updated(inbox.id))


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
