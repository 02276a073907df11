"""Outgoing webhook endpoints: subscribe, change, rotate the secret, and record delivery progress.

Delivery itself is jobs/handlers/webhooks.py; these functions are the writes it and the API make.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput
from relaydesk.models.webhooks import WebhookEndpoint
from relaydesk.models.workspaces import Workspace
from relaydesk.outbound.signing import new_signing_secret
from relaydesk.privacy import audit, storage
from relaydesk.realtime.catalogue import CATALOGUE

EVENT_TYPE = re.compile(r"^(\*|[a-z_]{1,40}\.(\*|[a-z_]{1,40}))$")
MAX_EVENT_TYPES = 50


def check_url(url: str) -> str:
    """http(s) with a host and no credentials; where it may point (SSRF) is decided at connect time."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise InvalidInput("url must not contain credentials")
    if port == 0 or len(url) > 2000:
        raise InvalidInput("url is not a valid URL")
    return url


def check_event_types(event_types: list[str]) -> list[str]:
    if not event_types:
        raise InvalidInput('event_types needs at least one type, family ("message.*") or "*"')
    if len(event_types) > MAX_EVENT_TYPES:
        raise InvalidInput(f"at most {MAX_EVENT_TYPES} event types")
    bad = [t for t in event_types if not EVENT_TYPE.match(t)]
    if bad:
        raise InvalidInput("invalid event types", details={"event_types": bad})
    # A subscription to a type nobody emits would stay silent for ever: only catalogued types and families.
    families = {t.family for t in CATALOGUE.values()}
    unknown = [
        t
        for t in event_types
        if t != "*" and t not in CATALOGUE and not (t.endswith(".*") and t[:-2] in families)
    ]
    if unknown:
        raise InvalidInput(
            "unknown event types (the event table in docs/api.md lists them)",
            details={"event_types": unknown},
        )
    return sorted(set(event_types))


def subscribed(event_types: list[str], event_type: str) -> bool:
    family = event_type.split(".", 1)[0] + ".*"
    return any(t in ("*", event_type, family) for t in event_types)


async def create_endpoint(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    url: str,
    event_types: list[str],
    description: str = "",
    actor_id: uuid.UUID | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its signing secret in clear, shown to the admin once.

    The cursor starts at the workspace's current event: a new subscription receives what happens from now
    on, not the workspace's history.
    """
    current = (
        await session.execute(sa.select(Workspace.event_seq).where(Workspace.id == workspace_id))
    ).scalar_one()
    secret = new_signing_secret()
    endpoint = WebhookEndpoint(
        workspace_id=workspace_id,
        url=check_url(url),
        description=description.strip(),
        event_types=check_event_types(event_types),
        secret=storage.seal_secret(workspace_id, secret),
        is_active=True,
        last_seq=current,
        failure_count=0,
    )
    session.add(endpoint)
    await session.flush()
    await _audit(session, workspace_id, "webhook.created", endpoint.id, actor_id)
    return endpoint, secret


async def _audit(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    action: str,
    endpoint_id: uuid.UUID,
    actor_id: uuid.UUID | None,
) -> None:
    """Who created, re-pointed, re-keyed or removed an outgoing webhook (by id; never the URL or secret)."""
    await audit.record(
        session,
        workspace_id,
        action,
        actor_id=actor_id,
        target_type="webhook_endpoint",
        target_id=endpoint_id,
    )


async def update_endpoint(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
    actor_id: uuid.UUID | None = None,
) -> WebhookEndpoint:
    endpoint = await get_scoped(session, WebhookEndpoint, workspace_id, endpoint_id)
    if url is not None:
        endpoint.url = check_url(url)
    if event_types is not None:
        endpoint.event_types = check_event_types(event_types)
    if description is not None:
        endpoint.description = description.strip()
    if is_active is not None:
        if is_active and not endpoint.is_active:
            # Re-enabling (e.g. after a 410) tries again at once.
            endpoint.failure_count = 0
            endpoint.next_attempt_at = None
        endpoint.is_active = is_active
    if url is not None:
        endpoint.next_attempt_at = None  # a fixed URL deserves an immediate try
    await _audit(session, workspace_id, "webhook.updated", endpoint.id, actor_id)
    return endpoint


async def rotate_endpoint_secret(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None = None,
) -> tuple[WebhookEndpoint, str]:
    endpoint = await get_scoped(session, WebhookEndpoint, workspace_id, endpoint_id)
    secret = new_signing_secret()
    endpoint.secret = storage.seal_secret(workspace_id, secret)
    await _audit(session, workspace_id, "webhook.secret_rotated", endpoint.id, actor_id)
    return endpoint, secret


async def delete_endpoint(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None = None,
) -> None:
    await session.delete(await get_scoped(session, WebhookEndpoint, workspace_id, endpoint_id))
    await _audit(session, workspace_id, "webhook.deleted", endpoint_id, actor_id)


async def claim_endpoint(session: AsyncSession, endpoint_id: uuid.UUID, lease: dt.timedelta) -> bool:
    """Take the endpoint's delivery lease; False when another delivery holds it (or it is gone/disabled)."""
    now = utcnow()
    result = await session.execute(
        sa.update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.is_active.is_(True),
            sa.or_(WebhookEndpoint.locked_until.is_(None), WebhookEndpoint.locked_until < now),
        )
        .values(locked_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def advance_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, seq: int, *, delivered: bool, lease: dt.timedelta
) -> None:
    """Move the cursor to `seq` (delivered, or skipped as not subscribed) and extend the lease."""
    now = utcnow()
    values: dict[str, object] = {"last_seq": seq, "locked_until": now + lease}
    if delivered:
        values.update(last_delivered_at=now, failure_count=0, next_attempt_at=None)
    await session.execute(
        sa.update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.last_seq < seq)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def endpoint_failed(
    session: AsyncSession, endpoint_id: uuid.UUID, error: str, *, retry_in: float, disable: bool = False
) -> None:
    """Record the error for the admin and hold deliveries back until the backoff has passed."""
    now = utcnow()
    values: dict[str, object] = {
        "failure_count": WebhookEndpoint.failure_count + 1,
        "last_error": error[:1000],
        "last_error_at": now,
        "next_attempt_at": now + dt.timedelta(seconds=retry_in),
        "locked_until": None,
    }
    if disable:
        values["is_active"] = False
    await session.execute(
        sa.update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def release_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    await session.execute(
        sa.update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(locked_until=None)
        .execution_options(synchronize_session=False)
    )
