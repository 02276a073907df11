"""Helpers for the IMAP tests: realistic mails, a recording sink, a receiver running in the background.

The recording sink stands where the worker's database sink stands (imap_receiver.py); it is the
receiver's interface, not a mock of anything that runs here: the IMAP server is real (pymap on loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
from collections.abc import AsyncIterator
from typing import Any

from relaydesk.channels.email.imap import ImapAccount, ImapReceiver, ReceiverStatus, Timing
from relaydesk.channels.email.imap_server import LoopbackImapServer

USER = "support@acme.test"
PASSWORD = "imap-pass-1"
FAST = Timing(batch_size=50, resync_seconds=600, poll_seconds=600, backoff_base=0.05, backoff_cap=0.3)


def mail(
    n: int,
    *,
    sender: str = "maria@example.com",
    subject: str | None = None,
    body: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """A plain-text RFC 5322 mail as a mail client writes it."""
    lines = [
        f"From: Customer {n} <{sender}>",
        f"To: {USER}",
        f"Subject: {subject or f'Order question {n}'}",
        f"Date: {email.utils.formatdate(localtime=False)}",
        f"Message-ID: {message_id or f'<customer-{n}@mail.example.com>'}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {' '.join(references)}")
    for name, value in (extra_headers or {}).items():
        lines.append(f"{name}: {value}")
    text = body or f"Hello, this is message {n} about my order #{1000 + n}."
    return ("\r\n".join(lines) + "\r\n\r\n" + text + "\r\n").encode()


class RecordingSink:
    """Keeps what the receiver stores, its cursor and its status reports; can be told to fail a store."""

    def __init__(self) -> None:
        self.cursor: dict[str, Any] | None = None
        self.stored: list[bytes] = []
        self.batches: list[int] = []
        self.statuses: list[ReceiverStatus] = []
        self.fail_stores = 0
        self.cursor_saves = 0
        self.refused: list[str] = []

    async def load_cursor(self) -> dict[str, Any] | None:
        return self.cursor

    async def store(self, raws: list[bytes]) -> None:
        if self.fail_stores:
            self.fail_stores -= 1
            raise RuntimeError("database unavailable")
        self.stored.extend(raws)
        self.batches.append(len(raws))

    async def save_cursor(self, cursor: dict[str, Any]) -> None:
        self.cursor = cursor
        self.cursor_saves += 1

    async def report(self, status: ReceiverStatus) -> None:
        self.statuses.append(status)

    async def credentials_refused(self, reason: str) -> None:
        self.refused.append(reason)

    def message_ids(self) -> list[str]:
        found = []
        for raw in self.stored:
            for line in raw.split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    found.append(line.split(b":", 1)[1].strip().decode())
        return found


@contextlib.asynccontextmanager
async def imap_server(tls: str = "none", *, idle: bool = True) -> AsyncIterator[LoopbackImapServer]:
    server = LoopbackImapServer({USER: PASSWORD}, tls=tls, idle=idle)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def account(server: LoopbackImapServer, **changes: Any) -> ImapAccount:
    security = {"none": "plain", "starttls": "starttls", "implicit": "tls"}[server.tls]
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "username": USER,
        "password": PASSWORD,
        "security": security,
        "ca_file": server.ca_file,
    }
    values.update(changes)
    return ImapAccount(**values)


def receiver_for(account: ImapAccount, sink: RecordingSink, timing: Timing = FAST) -> ImapReceiver:
    """A receiver allowed to reach the loopback server (as the operator allows private targets in tests)."""
    return ImapReceiver(account, sink, timing, allow_private=True)


@contextlib.asynccontextmanager
async def running(receiver: ImapReceiver) -> AsyncIterator[ImapReceiver]:
    task = asyncio.create_task(receiver.run())
    try:
        yield receiver
    finally:
        await receiver.stop()
        await asyncio.wait_for(task, 10)


async def until(predicate: Any, timeout: float = 20.0) -> None:
    """Wait until `predicate()` holds (the receiver works in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
