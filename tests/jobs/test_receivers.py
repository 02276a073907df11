"""Channels' background receivers (IMAP-shaped): the worker's supervisor runs one per inbox across workers,
what they fetch goes through the normal intake (deduplicated, processed by the inbound job), their cursor
survives a restart, refused credentials mark the inbox and stop the receiver until an admin replaces them,
a crash is shown and restarted, and a deactivated inbox's receiver stops.

The channel is defined here (a provider whose "mailbox" is a list in this module); the supervisor, the
context and the intake are the real ones."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from relaydesk.actions.inboxes import create_inbox, update_inbox
from relaydesk.channels.envelopes import IncomingMessage
from relaydesk.channels.spec import ChannelSpec, FieldSpec, InboundRequest, Parsed, ReceiverContext
from relaydesk.db.base import utcnow
from relaydesk.jobs.handlers.receivers import Supervisor
from relaydesk.models import Inbox, Message
from tests.support.channels import registered


class Mailbox:
    """The provider's side: what there is to fetch, and what the receivers did."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []
        self.arrived = asyncio.Event()
        self.runs = 0
        self.outcomes: list[str] = []

    def put(self, *items: tuple[str, str, str]) -> None:
        self.items.extend(items)
        self.arrived.set()


MAILBOX = Mailbox()


class PullChannel(ChannelSpec):
    name = "pulltest"
    label = "Pull test channel"
    credentials = (FieldSpec("password", "Password", kind="secret", required=True),)
    settings = (FieldSpec("mailbox", "Mailbox", default="INBOX"),)
    receiver = "tests.jobs.test_receivers:PullReceiver"

    def runs_receiver(self, settings: Any) -> bool:
        return settings.get("mailbox") != "none"  # "none": this inbox is reached by webhook only

    fake = "relaydesk.channels.api.fake:WebhookReceiver"

    def parse(self, request: InboundRequest) -> Parsed:
        data = json.loads(request.body)
        return Parsed(
            messages=[
                IncomingMessage(
                    external_contact_id=data["from"], provider_message_id=data["id"], text=data["text"]
                )
            ]
        )


class PullReceiver:
    async def run(self, ctx: ReceiverContext) -> None:
        MAILBOX.runs += 1
        if ctx.credentials["password"] == "bad":
            await ctx.needs_reauthorisation("login refused")
            return
        if ctx.settings["mailbox"] == "crash":
            raise ConnectionError("the server went away")
        last = (await ctx.load_state()).get("last", 0)
        while not ctx.stopping.is_set():
            MAILBOX.arrived.clear()
            while last < len(MAILBOX.items):
                item_id, sender, text = MAILBOX.items[last]
                body = json.dumps({"id": item_id, "from": sender, "text": text}).encode()
                request = InboundRequest(
                    "FETCH", "", {}, {"content-type": "application/json"}, body, utcnow()
                )
                submitted = await ctx.submit(request, dedupe_key=item_id, parsed=PullChannel().parse(request))
                MAILBOX.outcomes.append(submitted.status)
                last += 1
                await ctx.save_state({"last": last})
            stop = asyncio.ensure_future(ctx.stopping.wait())
            more = asyncio.ensure_future(MAILBOX.arrived.wait())
            await asyncio.wait({stop, more}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            more.cancel()


@pytest.fixture
def pull() -> Iterator[Mailbox]:
    global MAILBOX
    MAILBOX = Mailbox()
    with registered(PullChannel()):
        yield MAILBOX


class Workers:
    """Supervisors as workers run them (`run` until cancelled, as the dispatcher cancels its start hooks)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, owner: str) -> Supervisor:
        sup = Supervisor(
            self.runtime.services, owner=owner, scan_seconds=0.05, lease_seconds=2.0, backoff_base=0.05
        )
        self.tasks[owner] = asyncio.create_task(sup.run())
        return sup

    async def stop(self, owner: str) -> None:
        task = self.tasks.pop(owner)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def workers(runtime) -> AsyncIterator[Workers]:  # type: ignore[no-untyped-def]
    started = Workers(runtime)
    yield started
    for owner in list(started.tasks):
        await started.stop(owner)


async def until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def _inbox(runtime, ws_id: uuid.UUID, password: str = "good", mailbox: str = "INBOX") -> uuid.UUID:  # type: ignore[no-untyped-def]
    async with runtime.db.write() as session:
        inbox = await create_inbox(
            session,
            ws_id,
            name="Mail",
            channel_type="pulltest",
            settings={"mailbox": mailbox},
            credentials={"password": password},
        )
        return inbox.id


async def _inbox_row(runtime, inbox_id: uuid.UUID) -> Inbox:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        inbox = await session.get(Inbox, inbox_id)
        assert inbox is not None
        return inbox


async def _messages(runtime, inbox_id: uuid.UUID) -> int:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return (
            await session.execute(
                sa.select(sa.func.count()).select_from(Message).where(Message.inbox_id == inbox_id)
            )
        ).scalar_one()


async def test_one_receiver_per_inbox_through_the_intake_resuming_from_its_cursor(
    runtime, run_jobs, make_workspace, pull, workers
):
    ws = await make_workspace()
    inbox_id = await _inbox(runtime, ws.id)
    pull.put(("m1", "alice@example.com", "Hello"), ("m2", "bob@example.com", "Hi"))
    first = workers.start("worker-a")
    await until(lambda: len(pull.outcomes) == 2)
    second = workers.start("worker-b")  # the lease is held: worker-b runs nothing for this inbox
    await asyncio.sleep(0.3)
    assert pull.runs == 1 and list(first.running) == [inbox_id] and second.running == {}
    await run_jobs()
    assert await _messages(runtime, inbox_id) == 2

    pull.put(("m1", "alice@example.com", "Hello"))  # the same mail again (another folder, a resync)
    await until(lambda: len(pull.outcomes) == 3)
    assert pull.outcomes == ["accepted", "accepted", "duplicate"]
    assert (await _inbox_row(runtime, inbox_id)).receiver_state == {"last": 3}

    # worker-a stops and gives its lease back: worker-b takes over, from the saved cursor.
    await workers.stop("worker-a")
    assert first.running == {}
    pull.put(("m3", "carol@example.com", "Hey"))
    await until(lambda: len(pull.outcomes) == 4)
    assert pull.runs == 2 and list(second.running) == [inbox_id] and pull.outcomes[-1] == "accepted"
    assert (await _inbox_row(runtime, inbox_id)).receiver_owner == "worker-b"
    await run_jobs()
    assert await _messages(runtime, inbox_id) == 3


async def test_refused_credentials_stop_the_receiver_until_replaced_and_crashes_are_shown(
    runtime, make_workspace, pull, workers
):
    ws = await make_workspace()
    inbox_id = await _inbox(runtime, ws.id, password="bad")
    sup = workers.start("worker-a")
    await until(lambda: pull.runs == 1)
    await until(lambda: sup.running == {})
    await asyncio.sleep(0.3)
    inbox = await _inbox_row(runtime, inbox_id)
    assert inbox.reauth_reason == "login refused" and pull.runs == 1  # not retried against the provider

    async with runtime.db.write() as session:
        await update_inbox(session, ws.id, inbox_id, credentials={"password": "good"})
    await until(lambda: pull.runs == 2 and inbox_id in sup.running)
    assert (await _inbox_row(runtime, inbox_id)).reauth_since is None

    # New settings restart it with them; a crash is restarted with backoff and shown on the health line.
    async with runtime.db.write() as session:
        await update_inbox(session, ws.id, inbox_id, settings={"mailbox": "crash"})
    await until(lambda: pull.runs >= 5)
    inbox = await _inbox_row(runtime, inbox_id)
    assert "receiver failed" in (inbox.last_error or "") and "the server went away" in (
        inbox.last_error or ""
    )

    # An inbox that needs no receiver (webhook only) gets none, and holds no lease.
    async with runtime.db.write() as session:
        await update_inbox(session, ws.id, inbox_id, settings={"mailbox": "none"})
    await until(lambda: sup.running == {})
    runs = pull.runs
    await asyncio.sleep(0.3)
    assert pull.runs == runs and (await _inbox_row(runtime, inbox_id)).receiver_owner is None

    async with runtime.db.write() as session:
        await update_inbox(session, ws.id, inbox_id, settings={"mailbox": "crash"})
    await until(lambda: inbox_id in sup.running)
    async with runtime.db.write() as session:
        await update_inbox(session, ws.id, inbox_id, is_active=False)
    await until(lambda: sup.running == {})
    runs = pull.runs
    await asyncio.sleep(0.3)
    assert pull.runs == runs
