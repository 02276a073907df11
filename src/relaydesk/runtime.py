"""The process-wide objects every entry point needs: settings, database, bus, dispatcher, HTTP client.

`serve`, `worker` and the tests build one Runtime; actions receive sessions, not the runtime, so they stay
pure database work. Web handlers reach the runtime for I/O; job handlers get only its `services`
(jobs/services.py), so nothing below this module depends on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.config import Settings
from relaydesk.db.engine import Database
from relaydesk.inbound.intake import Intake
from relaydesk.jobs.dispatcher import Dispatcher
from relaydesk.jobs.outbox import took_jobs
from relaydesk.jobs.services import Services
from relaydesk.outbound.ssrf import OutboundHttp
from relaydesk.privacy import key_check, storage
from relaydesk.realtime.bus import Bus, make_bus
from relaydesk.realtime.events import taken_events
from relaydesk.server.keys import load_master_keys

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    bus: Bus
    # What job handlers may use (database, settings, outbound HTTP clients by purpose).
    services: Services
    dispatcher: Dispatcher | None = None
    intake: Intake = field(init=False)

    def __post_init__(self) -> None:
        self.intake = Intake(self.db)
        self.services.inbound = self.intake

    async def _after_commit(self, session: AsyncSession) -> None:
        events = taken_events(session)
        if events:
            if any(event["type"].startswith("inbox.") for event in events):
                self.intake.inboxes.clear()  # a rotated secret or a deactivated inbox counts at once
            await self.bus.publish(events)
        if took_jobs(session) and self.dispatcher is not None:
            self.dispatcher.wake()

    async def check_master_key(self) -> None:
        """Refuse to run with a master key that does not open this database (privacy/key_check.py)."""
        async with self.db.write() as session:
            await key_check.verify(session, load_master_keys(self.settings))

    async def start(self, *, with_dispatcher: bool) -> None:
        await self.check_master_key()
        await self.bus.start()
        if with_dispatcher:
            self.dispatcher = Dispatcher(self.services)
            await self.dispatcher.start()
            self.intake.attach(self.dispatcher)

    async def stop(self) -> None:
        await self.intake.close()
        self.intake.attach(None)
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        await self.bus.stop()
        await self.services.aclose()
        await self.db.dispose()


def build_runtime(settings: Settings) -> Runtime:
    import relaydesk.jobs.handlers  # noqa: F401  (registers every job handler and start hook)

    storage.configure(load_master_keys(settings))
    http = OutboundHttp(timeout=settings.http_timeout_seconds, allow_private=settings.private_target_purposes)
    db = Database(settings.database_url)
    runtime = Runtime(
        settings=settings,
        db=db,
        bus=make_bus(settings.redis_url),
        services=Services(settings=settings, db=db, http=http),
    )
    runtime.db.on_commit(runtime._after_commit)
    return runtime
