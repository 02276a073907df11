"""Outgoing webhooks as an ordered pump over the `events` table.

`webhooks.pump` runs periodically and costs one indexed query when nothing is new: it finds active
endpoints whose workspace has events past the endpoint's cursor (and that are neither backing off nor being
delivered) and enqueues one `webhooks.deliver` job for each. A delivery job takes the endpoint's lease, sends
the events after the cursor in sequence order (Standard Webhooks signed, `webhook-id` = the event id, so a
resend after a crash is recognisable), and moves the cursor after each acknowledged one. A failure stops the
line: the error is recorded on the endpoint and the next try waits with exponential backoff, so order holds.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import httpx
import sqlalchemy as sa

from relaydesk.actions import subject_rights
from relaydesk.actions import webhooks as actions
from relaydesk.db.base import utcnow
from relaydesk.jobs.dispatcher import backoff_seconds
from relaydesk.jobs.outbox import enqueue
from relaydesk.jobs.registry import JobContext, RetryLater, handler, periodic
from relaydesk.models.events import Event
from relaydesk.models.webhooks import WebhookEndpoint
from relaydesk.models.workspaces import Workspace
from relaydesk.outbound.signing import signed_headers
from relaydesk.privacy import storage

BATCH = 100
PUMP_EVERY_SECONDS = 2.0


def _lease(ctx: JobContext) -> dt.timedelta:
    return dt.timedelta(seconds=2 * ctx.services.settings.http_timeout_seconds + 30)


def deliver_key(endpoint_id: uuid.UUID, last_seq: int, trigger: uuid.UUID) -> str:
    """At most one delivery job per endpoint position and triggering job (pump run or previous batch).

    Order does not rest on this key but on the endpoint lease: a second job for the same endpoint waits.
    """
    return f"webhooks.deliver:{endpoint_id}:{last_seq}:{trigger}"


def webhook_body(event: Event) -> bytes:
    """The Standard Webhooks payload shape: type, timestamp, data (ids and state, never message text)."""
    return json.dumps(
        {
            "id": str(event.id),
            "type": event.type,
            "timestamp": event.created_at.isoformat(),
            "workspace_id": str(event.workspace_id),
            "seq": event.seq,
            "data": event.payload,
        },
        separators=(",", ":"),
    ).encode()


@periodic("webhooks.pump", every_seconds=PUMP_EVERY_SECONDS)
async def pump(ctx: JobContext) -> None:
    now = utcnow()
    async with ctx.services.db.write() as session:
        due = (
            await session.execute(
                sa.select(WebhookEndpoint.id, WebhookEndpoint.workspace_id, WebhookEndpoint.last_seq)
                .join(Workspace, Workspace.id == WebhookEndpoint.workspace_id)
                .where(
                    WebhookEndpoint.is_active.is_(True),
                    Workspace.event_seq > WebhookEndpoint.last_seq,
                    sa.or_(WebhookEndpoint.next_attempt_at.is_(None), WebhookEndpoint.next_attempt_at <= now),
                    sa.or_(WebhookEndpoint.locked_until.is_(None), WebhookEndpoint.locked_until < now),
                )
            )
        ).all()
        for endpoint_id, workspace_id, last_seq in due:
            await enqueue(
                session,
                "webhooks.deliver",
                {"endpoint_id": str(endpoint_id)},
                workspace_id=workspace_id,
                idempotency_key=deliver_key(endpoint_id, last_seq, ctx.job.id),
                max_attempts=3,
            )


async def _post(
    ctx: JobContext, client: httpx.AsyncClient, url: str, secret: str, event: Event
) -> str | None:
    """Send one event; returns None when acknowledged (2xx), else the error to show the admin."""
    body = webhook_body(event)
    try:
        response = await client.post(url, content=body, headers=signed_headers(secret, str(event.id), body))
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


@handler("webhooks.deliver")
async def deliver(ctx: JobContext) -> None:
    endpoint_id = uuid.UUID(ctx.payload["endpoint_id"])
    lease = _lease(ctx)
    async with ctx.services.db.write() as session:
        claimed = await actions.claim_endpoint(session, endpoint_id, lease)
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None or not endpoint.is_active:
            return
        if not claimed:
            # Another delivery holds the line; look again once its lease could have lapsed.
            raise RetryLater("endpoint busy with another delivery", lease.total_seconds())
        secret = storage.open_secret(endpoint.workspace_id, endpoint.secret)
        url, types, cursor = endpoint.url, list(endpoint.event_types), endpoint.last_seq
        failures = endpoint.failure_count
    try:
        async with ctx.services.db.read() as session:
            events = list(
                (
                    await session.execute(
                        sa.select(Event)
                        .where(Event.workspace_id == endpoint.workspace_id, Event.seq > cursor)
                        .order_by(Event.seq)
                        .limit(BATCH)
                    )
                ).scalars()
            )
            # Events about a contact whose processing is restricted are never sent (subject_rights.py).
            withheld = await subject_rights.restricted_event_ids(session, endpoint.workspace_id, events)
        client = ctx.services.http_for("webhooks")
        for event in events:
            if event.id in withheld or not actions.subscribed(types, event.type):
                async with ctx.services.db.write() as session:
                    await actions.advance_endpoint(
                        session, endpoint_id, event.seq, delivered=False, lease=lease
                    )
                continue
            error = await _post(ctx, client, url, secret, event)
            if error is not None:
                settings = ctx.services.settings
                delay = backoff_seconds(failures + 1, settings.job_backoff_base, settings.job_backoff_max)
                async with ctx.services.db.write() as session:
                    await actions.endpoint_failed(
                        session, endpoint_id, error, retry_in=delay, disable=error == "HTTP 410"
                    )
                return
            async with ctx.services.db.write() as session:
                await actions.advance_endpoint(session, endpoint_id, event.seq, delivered=True, lease=lease)
    except BaseException:
        async with ctx.services.db.write() as session:
            await actions.release_endpoint(session, endpoint_id)
        raise
    async with ctx.services.db.write() as session:
        await actions.release_endpoint(session, endpoint_id)
        if len(events) == BATCH:
            # More waiting: continue at once rather than at the next pump.
            await enqueue(
                session,
                "webhooks.deliver",
                {"endpoint_id": str(endpoint_id)},
                workspace_id=endpoint.workspace_id,
                idempotency_key=deliver_key(endpoint_id, events[-1].seq, ctx.job.id),
                max_attempts=3,
            )
