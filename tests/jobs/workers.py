"""Start real `relaydesk worker` processes against the test database, and wait for things to happen."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from relaydesk.config import Settings

BIN = Path(sys.executable).parent


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
    )
    env.update(extra)
    return env


class Worker:
    """One `relaydesk worker` subprocess; its log goes to a temporary file shown when a test fails."""

    def __init__(self, settings: Settings, *args: str, **env: str) -> None:
        self.log_path = Path(tempfile.mkstemp(prefix="relaydesk-worker-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "relaydesk"), "worker", *args],
            env=worker_env(settings, **env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def started(self, timeout: float = 60.0) -> Worker:
        await eventually(
            lambda: _true(" running" in self.log), timeout, lambda: f"worker did not start:\n{self.log}"
        )
        return self

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.log_path.unlink(missing_ok=True)


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
