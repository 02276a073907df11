"""Start real `relaydesk worker` processes against the test database, and wait for things to happen."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

from relaydesk.config import Settings
from tests.support.processes import RelaydeskProcess


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYDESK_")}
    env.update(
        RELAYDESK_DATABASE_URL=settings.database_url,
        RELAYDESK_MASTER_KEY=settings.master_key,
        RELAYDESK_JOB_LEASE_SECONDS="1.5",
        RELAYDESK_JOB_BACKOFF_BASE="0.05",
        RELAYDESK_JOB_BACKOFF_MAX="0.2",
        RELAYDESK_JOB_MAX_ATTEMPTS="5",
        RELAYDESK_LOG_LEVEL="INFO",
        # The test receivers listen on loopback: a private target, allowed here as in the fixtures.
        RELAYDESK_ALLOW_PRIVATE_TARGETS=settings.allow_private_targets,
    )
    env.update(extra)
    return env


class Worker(RelaydeskProcess):
    """One `relaydesk worker` subprocess; its log goes to a temporary file shown when a test fails."""

    def __init__(self, settings: Settings, *args: str, **env: str) -> None:
        super().__init__("worker", list(args), worker_env(settings, **env))

    async def started(self, timeout: float = 60.0) -> Worker:
        await eventually(
            lambda: _true(" running" in self.log), timeout, lambda: f"worker did not start:\n{self.log}"
        )
        return self


async def _true(value: bool) -> bool:
    return value


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, message: str | Callable[[], str] = ""
) -> None:
    """Poll `check`; `message` may be a callable so a log is read when the wait fails, not before."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError((message() if callable(message) else message) or "condition not met in time")
