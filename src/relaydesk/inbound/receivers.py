"""The worker's background receivers: one per active inbox whose channel fetches instead of being called
(a channel spec with a `receiver`, such as e-mail over IMAP), each fed into the normal inbound intake.

A `ReceiverSupervisor` runs in every process that runs jobs (`relaydesk worker`, and `serve` with its
in-process worker). Every `scan_seconds`, and at once when this process commits a change to an inbox,
it lists the active inboxes that have a receiver and are not waiting for re-authorisation, claims their
leases (actions/receivers.py: one process per inbox, so two workers never read one mailbox), starts a
receiver for each inbox it holds, and stops the ones whose inbox was disabled, deleted, re-configured
(it restarts with the new settings) or whose lease another process took.

What a receiver fetches goes the way a webhook's request goes: `ReceiverContext.submit` seals the raw
item and hands it to the intake (inbound/intake.py), which stores it with its `inbound.process` job in
one transaction, deduplicated per inbox by the channel's dedupe key. The processing, threading and
failure display are the same as for webhooks. A receiver's cursor (`save_state`) is written only by the
lease holder, and a receiver writes it only after `submit` returned for what it covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from relaydesk.actions import receivers as bookkeeping
from relaydesk.channels.registry import implemented_channels, load, spec_for
from relaydesk.channels.spec import InboundRequest, Parsed, Receiver, Submitted
from relaydesk.db.base import utcnow
from relaydesk.db.engine import Database
from relaydesk.inbound.intake import Arrival, Intake, KnownInbox
from relaydesk.models.inboxes import Inbox
from relaydesk.privacy import storage

log = logging.getLogger(__name__)


@dataclass
class ReceiverStatusLine:
    """What a receiver reports besides errors: connected or not, when it last completed a sync."""

    state: str
    last_sync_at: dt.datetime | None = None


@dataclass
class InboxContext:
    """The `ReceiverContext` of one inbox: what its receiver may use (never the database directly)."""

    inbox_id: uuid.UUID
    workspace_id: uuid.UUID
    channel: str
    credentials: Mapping[str, Any]
    settings: Mapping[str, Any]
    db: Database
    intake: Intake
    holder: str
    #: May the receiver reach private addresses (the operator's choice for `channels`, outbound/ssrf.py)?
    allow_private: bool = False
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _status: ReceiverStatusLine = field(default_factory=lambda: ReceiverStatusLine("connecting"))
    _last_error: tuple[str, dt.datetime] | None = None

    async def submit(self, request: InboundRequest, *, dedupe_key: str | None, parsed: Parsed) -> Submitted:
        outcome = await self.intake.submit(
            Arrival(
                inbox=KnownInbox(self.inbox_id, self.workspace_id, dict(self.credentials)),
                channel=self.channel,
                dedupe_key=dedupe_key,
                signature_hash=None,
                sealed_body=storage.seal_raw_body(self.workspace_id, request.body),
                received_at=request.received_at,
                parsed=parsed,
                headers={k: v for k, v in request.headers.items() if k in _kept(self.channel)},
            )
        )
        return Submitted(outcome.status, outcome.event_id)

    async def load_state(self) -> dict[str, Any]:
        async with self.db.read() as session:
            return await bookkeeping.load_state(session, self.inbox_id) or {}

    async def save_state(self, state: dict[str, Any]) -> None:
        async with self.db.write() as session:
            await bookkeeping.save_state(session, self.holder, self.inbox_id, state)

    async def report_error(self, reason: str) -> None:
        self._last_error = (reason[:500], utcnow())
        await self.report_status(self._status.state)

    async def report_status(self, state: str, *, last_sync_at: dt.datetime | None = None) -> None:
        """Connected / disconnected and the last completed sync, for the admin page and the API."""
        self._status.state = state
        if last_sync_at is not None:
            self._status.last_sync_at = last_sync_at
        error, error_at = self._last_error if self._last_error else (None, None)
        async with self.db.write() as session:
            await bookkeeping.record_status(
                session,
                self.holder,
                self.inbox_id,
                state=state,
                last_sync_at=self._status.last_sync_at,
                last_error=error,
                last_error_at=error_at,
            )

    async def needs_reauthorisation(self, reason: str) -> None:
        async with self.db.write() as session:
            await bookkeeping.needs_reauthorisation(session, self.workspace_id, self.inbox_id, reason)
        self.stopping.set()


def _kept(channel: str) -> tuple[str, ...]:
    spec = spec_for(channel)
    return spec.kept_headers if spec is not None else ()


@dataclass
class _Running:
    fingerprint: str
    context: InboxContext
    task: asyncio.Task[None]


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ReceiverSupervisor:
    """Starts, restarts and stops this process's receivers (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        intake: Intake,
        *,
        holder: str | None = None,
        lease_seconds: float = 60.0,
        scan_seconds: float = 10.0,
        restart_seconds: float = 5.0,
        allow_private: bool = False,
    ) -> None:
        self.db = db
        self.intake = intake
        self.holder = holder or default_holder()
        self.lease_seconds = lease_seconds
        self.scan_seconds = scan_seconds
        self.restart_seconds = restart_seconds
        self.allow_private = allow_private
        self.running: dict[uuid.UUID, _Running] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stopping = False
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="receiver-supervisor")

    def poke(self) -> None:
        """An inbox changed (created, updated, disabled, deleted): look again now."""
        self._wake.set()

    async def stop(self) -> None:
        """Let the current pass finish, then stop every receiver and give up their leases. (A flag, not
        only a cancellation: a cancel racing a poke can be lost inside `wait_for` on Python 3.11.)"""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=30)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._stop_all(list(self.running))

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self.reconcile()
            except Exception:  # the database may be away for a moment: try again at the next scan
                log.warning("reconciling the receivers failed", exc_info=True)
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.scan_seconds)
            self._wake.clear()

    async def reconcile(self) -> None:
        """One pass: claim or renew leases, stop what must stop, start what must run."""
        wanted = await self._wanted()
        async with self.db.write() as session:
            held = await bookkeeping.claim(
                session, self.holder, {i: w.workspace_id for i, w in wanted.items()}, self.lease_seconds
            )
        stop = [
            inbox_id
            for inbox_id, running in self.running.items()
            if inbox_id not in held
            or running.fingerprint != wanted[inbox_id].fingerprint
            or (running.task.done() and running.context.stopping.is_set())
        ]
        await self._stop_all(stop)
        for inbox_id in held:
            if inbox_id not in self.running:
                self._start(wanted[inbox_id])

    async def _wanted(self) -> dict[uuid.UUID, _Wanted]:
        channels = {spec.name: spec for spec in implemented_channels() if spec.receiver}
        if not channels:
            return {}
        async with self.db.read() as session:
            inboxes = (
                (
                    await session.execute(
                        sa.select(Inbox).where(
                            Inbox.is_active.is_(True),
                            Inbox.channel_type.in_(list(channels)),
                            Inbox.reauth_reason.is_(None),
                        )
                    )
                )
                .scalars()
                .all()
            )
            return {inbox.id: _Wanted.of(inbox) for inbox in inboxes}

    def _start(self, wanted: _Wanted) -> None:
        context = InboxContext(
            inbox_id=wanted.inbox_id,
            workspace_id=wanted.workspace_id,
            channel=wanted.channel,
            credentials=wanted.credentials,
            settings=wanted.settings,
            db=self.db,
            intake=self.intake,
            holder=self.holder,
            allow_private=self.allow_private,
        )
        task = asyncio.create_task(self._run(context), name=f"receiver-{wanted.inbox_id}")
        self.running[wanted.inbox_id] = _Running(wanted.fingerprint, context, task)

    async def _run(self, context: InboxContext) -> None:
        """Run the channel's receiver until told to stop; restart it (after a pause) when it fails."""
        spec = spec_for(context.channel)
        assert spec is not None and spec.receiver is not None
        factory = load(spec.receiver)
        while not context.stopping.is_set():
            receiver: Receiver = factory()
            try:
                await receiver.run(context)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("receiver of inbox %s failed", context.inbox_id, exc_info=True)
                with contextlib.suppress(Exception):
                    await context.report_error(f"the receiver failed: {exc}"[:500])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(context.stopping.wait(), self.restart_seconds)

    async def _stop_all(self, inbox_ids: list[uuid.UUID]) -> None:
        stopped = [self.running.pop(inbox_id) for inbox_id in inbox_ids if inbox_id in self.running]
        for running in stopped:
            running.context.stopping.set()
        for running in stopped:
            try:
                await asyncio.wait_for(asyncio.shield(running.task), 10)
            except (TimeoutError, asyncio.CancelledError):
                running.task.cancel()
            except Exception:
                log.warning(
                    "receiver of inbox %s ended with an error", running.context.inbox_id, exc_info=True
                )
        if stopped:
            with contextlib.suppress(Exception):
                async with self.db.write() as session:
                    await bookkeeping.release(session, self.holder, [r.context.inbox_id for r in stopped])


@dataclass(frozen=True)
class _Wanted:
    inbox_id: uuid.UUID
    workspace_id: uuid.UUID
    channel: str
    credentials: dict[str, Any]
    settings: dict[str, Any]
    fingerprint: str

    @classmethod
    def of(cls, inbox: Inbox) -> _Wanted:
        credentials = storage.read_inbox_credentials(inbox)
        settings = dict(inbox.settings or {})
        # A change of credentials or settings restarts the receiver; the digest keeps no secret in memory
        # longer than the receiver itself does.
        digest = hashlib.sha256(
            json.dumps([credentials, settings], sort_keys=True, default=str).encode()
        ).hexdigest()
        return cls(inbox.id, inbox.workspace_id, inbox.channel_type, credentials, settings, digest)
