"""Run the channels' background receivers (channels/spec.py `Receiver`): one per active inbox whose channel
declares one (IMAP for e-mail), in exactly one worker process at a time.

`run_receivers` is a worker start hook and lasts as long as the worker. Every `scan_seconds` the
`Supervisor` claims the inboxes it may run (actions/receivers.py: a lease on the inbox row, renewed at
each scan, taken over by another worker only once it ran out) and starts, restarts or stops receivers to
match: an inbox deactivated, deleted, marked for re-authorisation, or given new settings or credentials has
its receiver stopped (and started again with the new configuration). A receiver that raises, or returns
without being asked to stop, is restarted after a capped exponential backoff, with the error on the inbox's
health line.

What a receiver fetches goes through the process's intake (`Services.inbound`), exactly like a webhook:
its body sealed, deduplicated per inbox by the receiver's dedupe key, processed by the `inbound.process`
job.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from relaydesk.actions import receivers as receiver_actions
from relaydesk.actions.inboxes import mark_needs_reauthorisation, record_inbox_health
from relaydesk.channels.registry import implemented_channels, load
from relaydesk.channels.spec import ChannelSpec, InboundRequest, Parsed, Receiver, Submitted
from relaydesk.inbound.handover import Arrival, KnownInbox
from relaydesk.jobs.registry import on_worker_start
from relaydesk.jobs.services import Services
from relaydesk.privacy import storage

log = logging.getLogger(__name__)


class InboxReceiverContext:
    """The `ReceiverContext` of one inbox (channels/spec.py): what a receiver may do, and nothing more."""

    def __init__(
        self, services: Services, spec: ChannelSpec, inbox: receiver_actions.ReceiverInbox, owner: str
    ):
        self.services = services
        self.spec = spec
        self.owner = owner
        self.inbox_id = inbox.id
        self.workspace_id = inbox.workspace_id
        self.credentials: Mapping[str, Any] = MappingProxyType(dict(inbox.credentials))
        self.settings: Mapping[str, Any] = MappingProxyType(dict(inbox.settings))
        self.stopping = asyncio.Event()
        # The operator's choice for channel traffic: may the receiver reach loopback and LAN addresses?
        self.allow_private = "channels" in services.settings.private_target_purposes
        self._known = KnownInbox(inbox.id, inbox.workspace_id, dict(inbox.credentials))

    async def submit(self, request: InboundRequest, *, dedupe_key: str | None, parsed: Parsed) -> Submitted:
        intake = self.services.inbound
        if intake is None:
            raise RuntimeError("this process has no inbound intake")
        outcome = await intake.submit(
            Arrival(
                inbox=self._known,
                channel=self.spec.name,
                dedupe_key=dedupe_key,
                signature_hash=None,
                sealed_body=storage.seal_raw_body(self.workspace_id, request.body),
                received_at=request.received_at,
                parsed=parsed,
                headers={k: request.headers[k] for k in self.spec.kept_headers if k in request.headers},
            )
        )
        return Submitted(outcome.status, outcome.event_id)

    async def load_state(self) -> dict[str, Any]:
        async with self.services.db.read() as session:
            return await receiver_actions.load_receiver_state(session, self.inbox_id)

    async def save_state(self, state: dict[str, Any]) -> None:
        async with self.services.db.write() as session:
            held = await receiver_actions.save_receiver_state(session, self.inbox_id, self.owner, state)
        if not held:  # another worker runs this inbox now: this receiver must end
            self.stopping.set()

    async def report_error(self, reason: str) -> None:
        async with self.services.db.write() as session:
            await record_inbox_health(session, self.inbox_id, error=reason)

    async def report_status(self, state: str, *, last_sync_at: dt.datetime | None = None) -> None:
        async with self.services.db.write() as session:
            await receiver_actions.record_receiver_status(
                session, self.inbox_id, self.owner, state, last_sync_at
            )

    async def needs_reauthorisation(self, reason: str) -> None:
        async with self.services.db.write() as session:
            await mark_needs_reauthorisation(session, self.inbox_id, reason)
        self.stopping.set()


@dataclass
class _Running:
    task: asyncio.Task[None]
    context: InboxReceiverContext
    fingerprint: str


class Supervisor:
    def __init__(
        self,
        services: Services,
        *,
        owner: str | None = None,
        scan_seconds: float = 5.0,
        lease_seconds: float = 30.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        stop_grace: float = 5.0,
    ) -> None:
        self.services = services
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.scan_seconds = scan_seconds
        self.lease_seconds = lease_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.stop_grace = stop_grace
        self.running: dict[uuid.UUID, _Running] = {}

    @staticmethod
    def specs() -> dict[str, ChannelSpec]:
        return {spec.name: spec for spec in implemented_channels() if spec.receiver}

    async def run(self) -> None:
        """Scan until cancelled; then stop every receiver and give the leases back."""
        if not self.specs():
            return  # no channel has a receiver: nothing to run, ever (the registry is fixed)
        try:
            while True:
                try:
                    await self.scan()
                except Exception:
                    log.exception("scanning the inboxes for receivers failed")
                await asyncio.sleep(self.scan_seconds)
        finally:
            await asyncio.shield(self.stop_all())

    async def scan(self) -> None:
        specs = self.specs()
        async with self.services.db.write() as session:
            leased = await receiver_actions.claim_receiver_inboxes(
                session, self.owner, list(specs), self.lease_seconds
            )
            claimed = [i for i in leased if specs[i.channel_type].runs_receiver(i.settings)]
            idle = [i.id for i in leased if i not in claimed]  # nothing to fetch: leave them to nobody
            await receiver_actions.release_receiver_inboxes(session, self.owner, idle)
        wanted = {inbox.id: inbox for inbox in claimed}
        for inbox_id, running in list(self.running.items()):
            inbox = wanted.get(inbox_id)
            if inbox is None or inbox.fingerprint != running.fingerprint or running.task.done():
                await self._stop(inbox_id)
        for inbox in claimed:
            if inbox.id not in self.running:
                context = InboxReceiverContext(self.services, specs[inbox.channel_type], inbox, self.owner)
                task = asyncio.create_task(self._keep_running(context), name=f"receiver-{inbox.id}")
                self.running[inbox.id] = _Running(task, context, inbox.fingerprint)

    async def _keep_running(self, context: InboxReceiverContext) -> None:
        assert context.spec.receiver is not None
        factory = load(context.spec.receiver)
        attempt = 0
        while not context.stopping.is_set():
            started = time.monotonic()
            try:
                receiver: Receiver = factory()
                await receiver.run(context)
                if context.stopping.is_set():
                    return
                error = "the receiver stopped by itself"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("receiver of inbox %s failed", context.inbox_id, exc_info=True)
                error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() - started > self.backoff_cap:
                attempt = 0  # it ran fine for a while: this is a new failure, not the same one again
            delay = min(self.backoff_cap, self.backoff_base * 2**attempt)
            attempt += 1
            with contextlib.suppress(Exception):
                await context.report_error(f"receiver failed, restarting in {delay:.0f} s: {error}"[:500])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(context.stopping.wait(), delay)

    async def _stop(self, inbox_id: uuid.UUID) -> None:
        running = self.running.pop(inbox_id)
        running.context.stopping.set()
        # Its own failures were reported by _keep_running; here it only has to end, nicely or not.
        done, _ = await asyncio.wait({running.task}, timeout=self.stop_grace)
        if not done:
            running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running.task

    async def stop_all(self) -> None:
        ids = list(self.running)
        await asyncio.gather(*(self._stop(inbox_id) for inbox_id in ids))
        if ids:
            with contextlib.suppress(Exception):
                async with self.services.db.write() as session:
                    await receiver_actions.release_receiver_inboxes(session, self.owner, ids)


@on_worker_start
async def run_receivers(services: Services) -> None:
    """The worker's receivers, for as long as it runs."""
    await Supervisor(services).run()
