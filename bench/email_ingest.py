"""E-mail ingest over IMAP end to end: 5,000 mails in a local IMAP server, fetched, stored and threaded by a
real `relaydesk serve`, compared with the API channel's ingest measured against the same server.

    .venv/bin/python bench/email_ingest.py                      # fresh SQLite file under bench/out/
    .venv/bin/python bench/email_ingest.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

1. A pymap IMAP server (in-memory, the one the tests and the demo use) runs in this process on 127.0.0.1;
   `--messages` mails (default 5,000) are delivered into its INBOX before the server starts: new threads,
   replies carrying In-Reply-To and References to earlier mails of their thread, a share with a PDF
   attachment, several customers.
2. `relaydesk serve` (in-process worker, as an operator runs it) starts with an e-mail inbox wired to that
   IMAP server: its receiver logs in, fetches in batches with `UID FETCH … BODY.PEEK[]`, hands each mail to
   the inbound intake, and the jobs parse and thread them. The phase ends when every mail is a message;
   the rate is messages divided by the time from the first stored mail to the last message. The server's
   peak RSS during the phase is sampled (process and children), from a baseline taken after start-up.
   The phase also checks the threading: conversations created must equal the threads delivered.
3. The API channel's closed-loop ingest (bench/ingest.py's phase 2, its machinery reused) against the same
   server for `--duration` seconds: persisted messages/s. The ratio e-mail / API is the figure to compare
   across machines (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email.utils
import multiprocessing as mp
import random
import threading
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import harness
import ingest
from harness import render_table

IMAP_USER = "support@bench.test"
IMAP_PASSWORD = "bench-imap-password"
_PDF = b"%PDF-1.4\n" + bytes(random.Random(7).getrandbits(8) for _ in range(20_000)) + b"\n%%EOF\n"
_LINES = [
    "Hello, my order #{n} has not arrived yet, can you check?",
    "Can I change the delivery address for order {n}?",
    "The parcel arrived damaged, I would like a refund please.",
    "Thanks for the quick answer, one more question about the invoice.",
]


# --- the mails -----------------------------------------------------------------------------------------


def mail_mix(count: int, seed: int = 1) -> tuple[list[bytes], int]:
    """`count` realistic mails and the number of threads they form: about 30 % start a thread, the rest
    reply to the latest mail of an earlier thread (In-Reply-To + the thread's References), 10 % carry a
    20 KB PDF, from 400 customers."""
    rng = random.Random(seed)
    threads: list[list[str]] = []  # Message-IDs of each thread, in order
    senders: list[str] = []
    mails: list[bytes] = []
    for n in range(count):
        new_thread = not threads or rng.random() < 0.3
        if new_thread:
            threads.append([])
            senders.append(f"customer{rng.randrange(400)}@example.com")
            index = len(threads) - 1
        else:
            index = rng.randrange(len(threads))
        thread = threads[index]
        message_id = f"<bench-{n}.{uuid.uuid4().hex[:8]}@mail.example.com>"
        headers = [
            f"From: Customer <{senders[index]}>",
            f"To: {IMAP_USER}",
            f"Subject: {'Re: ' if thread else ''}Order {1000 + index}",
            f"Date: {email.utils.formatdate()}",
            f"Message-ID: {message_id}",
            "MIME-Version: 1.0",
        ]
        if thread:
            headers.append(f"In-Reply-To: {thread[-1]}")
            headers.append(f"References: {' '.join(thread[-20:])}")
        text = rng.choice(_LINES).format(n=1000 + index)
        if thread:
            text += f"\r\n\r\nOn Monday, support wrote:\r\n> {rng.choice(_LINES).format(n=n)}\r\n"
        if rng.random() < 0.1:
            boundary = f"b{uuid.uuid4().hex}"
            body = (
                f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
                f'--{boundary}\r\nContent-Type: application/pdf; name="invoice-{n}.pdf"\r\n'
                f'Content-Disposition: attachment; filename="invoice-{n}.pdf"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\n"
                + base64.encodebytes(_PDF).decode().replace("\n", "\r\n")
                + f"--{boundary}--\r\n"
            )
            headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
        else:
            headers.append("Content-Type: text/plain; charset=utf-8")
            body = text + "\r\n"
        mails.append(("\r\n".join(headers) + "\r\n\r\n" + body).encode())
        thread.append(message_id)
    return mails, len(threads)


class ImapThread:
    """The loopback IMAP server on an event loop of its own, in a thread of this process."""

    def __init__(self) -> None:
        from relaydesk.channels.email.imap_server import LoopbackImapServer

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = LoopbackImapServer({IMAP_USER: IMAP_PASSWORD})
        self.call(self.server.start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def deliver_all(self, mails: list[bytes]) -> None:
        async def deliver() -> None:
            for raw in mails:
                await self.server.deliver(IMAP_USER, raw)

        self.call(deliver())

    def close(self) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# --- setup ---------------------------------------------------------------------------------------------


async def add_email_inbox(url: str, master_key: str, port: int) -> dict[str, str]:
    """A second workspace with an e-mail inbox receiving from the loopback IMAP server."""
    from relaydesk.actions.inboxes import create_inbox
    from relaydesk.actions.workspaces import create_workspace
    from relaydesk.config import load_settings
    from relaydesk.runtime import build_runtime

    runtime = build_runtime(load_settings(environ={}, database_url=url, master_key=master_key))
    try:
        async with runtime.db.write() as session:
            ws = await create_workspace(session, "Bench mail", f"bench-mail-{uuid.uuid4().hex[:6]}")
            inbox = await create_inbox(
                session,
                ws.id,
                name="Support mail",
                channel_type="email",
                settings={
                    "from_address": IMAP_USER,
                    "smtp_host": "127.0.0.1",
                    "smtp_security": "plain",
                    "imap_host": "127.0.0.1",
                    "imap_port": port,
                    "imap_security": "plain",
                    "imap_username": IMAP_USER,
                },
                credentials={"imap_password": IMAP_PASSWORD},
            )
        return {"workspace_id": str(ws.id), "inbox_id": str(inbox.id)}
    finally:
        await runtime.stop()


async def email_progress(url: str, inbox_id: str) -> tuple[int, int, Any, Any]:
    """(messages, conversations, first mail stored at, last message created at) of the e-mail inbox."""
    from relaydesk.models import Conversation, InboundEvent, Message

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            inbox = uuid.UUID(inbox_id)
            messages, last = (
                await conn.execute(
                    sa.select(sa.func.count(), sa.func.max(Message.created_at)).where(
                        Message.inbox_id == inbox
                    )
                )
            ).one()
            conversations = (
                await conn.execute(sa.select(sa.func.count()).where(Conversation.inbox_id == inbox))
            ).scalar_one()
            first = (
                await conn.execute(
                    sa.select(sa.func.min(InboundEvent.received_at)).where(InboundEvent.inbox_id == inbox)
                )
            ).scalar_one()
        return int(messages), int(conversations), first, last
    finally:
        await engine.dispose()


def _as_datetime(value: Any) -> Any:
    import datetime as dt

    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


# --- run -----------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    from relaydesk.server.keys import generate_master_key

    master_key = generate_master_key()
    harness.OUT.mkdir(parents=True, exist_ok=True)
    pg_name = f"relaydesk_bench_email_{uuid.uuid4().hex[:8]}"
    if args.database_url:
        url = await harness.create_pg_database(args.database_url, pg_name)
    else:
        url = f"sqlite+aiosqlite:///{harness.OUT / f'email-ingest-{uuid.uuid4().hex[:8]}.db'}"
    imap = ImapThread()
    server: harness.ServerProcess | None = None
    watcher: ingest.Watcher | None = None
    try:
        mails, threads = mail_mix(args.messages)
        t0 = time.perf_counter()
        imap.deliver_all(mails)
        print(f"delivered {len(mails)} mails ({threads} threads) in {time.perf_counter() - t0:.1f}s")
        api_ids = await ingest.setup(url, master_key)
        mail_ids = await add_email_inbox(url, master_key, imap.server.port)
        server = harness.ServerProcess(
            url, master_key, extra_env={"RELAYDESK_ALLOW_PRIVATE_TARGETS": "channels"}
        ).start()
        server.peak_rss = 0  # from here on: the e-mail phase
        deadline = time.monotonic() + args.timeout
        messages = conversations = 0
        first = last = None
        while time.monotonic() < deadline:
            messages, conversations, first, last = await email_progress(url, mail_ids["inbox_id"])
            if messages >= len(mails):
                break
            await asyncio.sleep(0.5)
        email_rss = server.peak_rss
        first, last = _as_datetime(first), _as_datetime(last)
        elapsed = (last - first).total_seconds() if first and last else float("nan")
        email_rate = messages / elapsed if messages >= len(mails) and elapsed > 0 else float("nan")

        # The API channel's ingest against the same server (bench/ingest.py's phase 2).
        watcher = ingest.Watcher(url, api_ids["workspace_id"])
        prefix = f"api-{uuid.uuid4().hex[:6]}"
        before, _ = await watcher.counts()
        specs = [
            {
                "port": server.port,
                "duration": args.duration,
                "connections": args.connections,
                "mode": "closed",
                "factory": ingest.IngestRequests(
                    api_ids["inbox_public_id"], api_ids["inbound_secret"], f"{prefix}-{p}", 200, p
                ),
            }
            for p in range(args.procs)
        ]
        with mp.get_context("spawn").Pool(args.procs) as pool:
            started = time.time() + 1.0
            r = await asyncio.get_running_loop().run_in_executor(None, ingest.run_load, pool, specs)
        reached, api_messages, _events = await watcher.wait_for(before + r.ok, timeout=120)
        api_rate = (api_messages - before) / (reached - started) if reached == reached else float("nan")
    finally:
        if server is not None:
            server.stop()
        imap.close()
        if watcher is not None:
            await watcher.engine.dispose()
        if args.database_url:
            await harness.drop_pg_database(args.database_url, pg_name)

    ratio = email_rate / api_rate if api_rate == api_rate and api_rate > 0 else float("nan")
    rows = [
        [
            "e-mail over IMAP (fetch, store, parse, thread)",
            messages,
            email_rate,
            email_rss / 2**20,
            f"{conversations} conversations for {threads} threads",
        ],
        ["API channel ingest (closed loop)", api_messages - before, api_rate, server.peak_rss / 2**20, ""],
    ]
    table = render_table(["phase", "messages", "messages/s", "peak RSS MB", "check"], rows)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    text = (
        f"E-mail ingest, {backend}: {len(mails)} mails\n\n{table}\n\n"
        f"Ratio e-mail / API ingest: {ratio:.2f}\n"
        f"Machine: {harness.machine_info()}"
    )
    harness.write_report(
        f"email-ingest-{backend.lower()}",
        {
            "messages": messages,
            "threads": threads,
            "conversations": conversations,
            "email_messages_per_s": email_rate,
            "email_peak_rss_mb": email_rss / 2**20,
            "api_messages_per_s": api_rate,
            "ratio": ratio,
            "machine": harness.machine_info(),
        },
        text,
    )
    print(text)
    if conversations != threads or messages < len(mails):
        raise SystemExit(f"threading check failed: {conversations} conversations for {threads} threads")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None, help="PostgreSQL base URL (default: SQLite file)")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of the API ingest phase")
    parser.add_argument("--procs", type=int, default=2, help="load processes of the API phase")
    parser.add_argument("--connections", type=int, default=32, help="connections per load process")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give the e-mail phase at most this long"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
