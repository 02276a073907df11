"""Group commit for inbound requests: every request that arrives while a write is in flight is stored with
the next one, in a single transaction.

A provider's 2xx must mean "stored durably", so each request waits for a commit; but one commit per
request would make the database's commit rate the ceiling of the whole ingest path (on SQLite there is one
writer). The intake keeps one writer task: a request appends its raw event and awaits a future; the task
takes everything queued (up to `max_batch`), inserts it with one `INSERT … ON CONFLICT DO NOTHING
RETURNING`, enqueues one `inbound.process` job per workspace for the batch (already claimed by this
process's dispatcher when it has one, which then runs it without a claim transaction), commits, and
answers every waiting request. At low rates a batch is one request and nothing waits for company; under load batches grow
by themselves, which is what makes acknowledgements cheap exactly when they are many.

A row the unique indexes refuse is a provider redelivery (same dedupe key: answered 200 with the original
id) or a replay of a signed request (same signature: refused with 409), decided in the same transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from relaydesk.db.base import utcnow
from relaydesk.db.engine import Database
from relaydesk.db.ids import uuid7
from relaydesk.db.statements import insert_ignoring_conflicts
from relaydesk.inbound.handover import (
    BATCH_EVENTS,
    PROCESS_KIND,
    Arrival,
    KnownInbox,
    Outcome,
    Prepared,
    Taker,
    attach_prepared,
    job_payload,
)
from relaydesk.jobs.outbox import WAKE_KEY
from relaydesk.models.inbound import InboundEvent
from relaydesk.models.inboxes import Inbox
from relaydesk.models.jobs import Job
from relaydesk.privacy import storage

log = logging.getLogger(__name__)

_events = InboundEvent.__table__
_INSERT_JOBS = sa.insert(Job.__table__)


class InboxCache:
    """Active inboxes by (channel, public id) for `ttl` seconds, so a request costs no inbox query.

    This process drops the cache as soon as it commits a change to any inbox (`Runtime` watches the
    `inbox.*` events); other processes see a rotated secret or a deactivated inbox within `ttl`."""

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, KnownInbox | None]] = {}

    async def get(self, db: Database, channel: str, public_id: str) -> KnownInbox | None:
        now = time.monotonic()
        hit = self._entries.get((channel, public_id))
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        async with db.read() as session:
            inbox = (
                await session.execute(
                    sa.select(Inbox).where(
                        Inbox.public_id == public_id, Inbox.channel_type == channel, Inbox.is_active.is_(True)
                    )
                )
            ).scalar_one_or_none()
        known = (
            None
            if inbox is None
            else KnownInbox(inbox.id, inbox.workspace_id, storage.read_inbox_credentials(inbox))
        )
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[(channel, public_id)] = (now, known)
        return known

    def clear(self) -> None:
        self._entries.clear()


class Intake:
    """`max_batch` bounds one transaction: on SQLite the writer runs on the event loop, so a batch's
    insert (and the processing batch it becomes) must stay short for other requests' sake."""

    def __init__(self, db: Database, *, max_batch: int = BATCH_EVENTS) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: list[tuple[Arrival, asyncio.Future[Outcome]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.inboxes = InboxCache()
        self.dispatcher: Taker | None = None
        self._insert: sa.Insert | None = None

    async def submit(self, arrival: Arrival) -> Outcome:
        """Store the request (with everything else arriving meanwhile) and return once it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.append((arrival, future))
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name="inbound-intake")
        assert self._wake is not None
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Write what is queued, then stop the writer task."""
        task, self._task = self._task, None
        if task is not None and not task.done() and self._wake is not None:
            self._closing = True
            self._wake.set()
            await task
        self._closing = False
        await self._drain()  # anything queued on a loop whose writer is gone

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            await self._drain()

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            try:
                outcomes = await self._write([arrival for arrival, _ in batch])
            except Exception as exc:  # every request of the batch gets the error; nothing was stored
                log.warning("storing %d inbound requests failed: %s", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():  # the client may have gone away; the event is stored anyway
                    future.set_result(outcome)

    def attach(self, dispatcher: Taker | None) -> None:
        """With a dispatcher in this process, batches are handed to it already claimed (no claim
        transaction, no polling delay); without one, their jobs wait for any worker."""
        self.dispatcher = dispatcher

    async def _write(self, arrivals: list[Arrival]) -> list[Outcome]:
        now = utcnow()
        rows = [
            {
                "id": uuid7(),
                "workspace_id": a.inbox.workspace_id,
                "inbox_id": a.inbox.id,
                "channel_type": a.channel,
                "dedupe_key": a.dedupe_key,
                "signature_hash": a.signature_hash,
                "headers": a.headers,
                "body": a.sealed_body,
                "state": "received",
                "error": None,
                "received_at": a.received_at,
                "processed_at": None,
            }
            for a in arrivals
        ]
        dispatcher = self.dispatcher
        by_id = {str(row["id"]): (row, arrival) for row, arrival in zip(rows, arrivals, strict=True)}
        async with self.db.write(urgent=True) as session:
            conn = await session.connection()
            inserted = set((await conn.execute(self._insert_events(), rows)).scalars())
            by_workspace: dict[uuid.UUID, list[str]] = defaultdict(list)
            for row in rows:
                if row["id"] in inserted:
                    by_workspace[row["workspace_id"]].append(str(row["id"]))
            jobs = [
                {
                    "id": uuid7(),
                    "workspace_id": workspace_id,
                    "kind": PROCESS_KIND,
                    "payload": job_payload(ids),
                    "idempotency_key": None,
                    "max_attempts": None,
                    "run_at": now,
                    "created_at": now,
                    "last_error": None,
                    "finished_at": None,
                    # Claimed by this process's dispatcher from the start, or pending for any worker.
                    "state": "running" if dispatcher else "pending",
                    "attempts": 1 if dispatcher else 0,
                    "locked_by": dispatcher.worker_id if dispatcher else None,
                    "locked_until": now + dt.timedelta(seconds=dispatcher.lease_seconds)
                    if dispatcher
                    else None,
                }
                for workspace_id, ids in by_workspace.items()
            ]
            if jobs:
                await conn.execute(_INSERT_JOBS, jobs)
                if dispatcher is None:
                    session.info[WAKE_KEY] = True  # wake an in-process dispatcher, if one starts later
            outcomes = [
                Outcome("accepted", row["id"]) if row["id"] in inserted else await _refused(conn, row)
                for row in rows
            ]
        if dispatcher is not None and jobs:
            handed = []
            for job in jobs:
                obj = Job(**job)
                carried = {}
                for event_id in job["payload"]["inbound_event_ids"]:
                    row, arrival = by_id[event_id]
                    carried[row["id"]] = Prepared(
                        row["id"], row["inbox_id"], row["workspace_id"], row["channel_type"], arrival.parsed
                    )
                attach_prepared(obj, carried)
                handed.append(obj)
            dispatcher.adopt(handed)
        return outcomes

    def _insert_events(self) -> sa.Insert:
        if self._insert is None:
            self._insert = insert_ignoring_conflicts(_events, self.db.dialect).returning(_events.c.id)
        return self._insert


async def _refused(conn: AsyncConnection, row: dict[str, Any]) -> Outcome:
    """Why the unique indexes refused a row: the same signed bytes again (replay), or the same provider
    event again (redelivery, answered with the original)."""
    c = _events.c
    if row["signature_hash"] is not None:
        replay = (
            await conn.execute(
                sa.select(c.id).where(
                    c.inbox_id == row["inbox_id"], c.signature_hash == row["signature_hash"]
                )
            )
        ).first()
        if replay is not None:
            return Outcome("replay", None)
    original = (
        await conn.execute(
            sa.select(c.id).where(c.inbox_id == row["inbox_id"], c.dedupe_key == row["dedupe_key"])
        )
    ).scalar_one()
    return Outcome("duplicate", original)
