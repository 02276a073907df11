"""Mail fetched over IMAP becomes messages the way a webhook's request does: through the intake (sealed raw
event + job in one transaction, deduplicated by Message-ID), processed, threaded and shown by the same
code. The worker side (the receivers' supervisor, its leases and the inbox's cursor) runs for real against
pymap on 127.0.0.1 and the test database."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from relaydesk.actions.inboxes import create_inbox, delete_inbox, update_inbox
from relaydesk.actions.messages import post_message
from relaydesk.channels.email.fake import FakeSmtpServer
from relaydesk.channels.email.ids import our_message_id
from relaydesk.channels.email.imap_server import LoopbackImapServer
from relaydesk.channels.email.tests.imap_support import PASSWORD, USER, imap_server, mail, until
from relaydesk.jobs.handlers.receivers import Supervisor
from relaydesk.models import Conversation, InboundEvent, Inbox, Job, Message
from relaydesk.runtime import Runtime
from tests.support.fixtures import count_rows
from tests.web.helpers import login

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


async def email_inbox(runtime: Runtime, ws: Any, server: LoopbackImapServer, **settings: Any) -> uuid.UUID:
    async with runtime.db.write() as session:
        inbox = await create_inbox(
            session,
            ws.id,
            name="Support mail",
            channel_type="email",
            settings={
                "from_address": USER,
                "smtp_host": "127.0.0.1",
                "smtp_security": "plain",
                "imap_host": "127.0.0.1",
                "imap_port": server.port,
                "imap_security": "plain",
                "imap_username": USER,
                **settings,
            },
            credentials={"imap_password": PASSWORD},
        )
        return inbox.id


@contextlib.asynccontextmanager
async def supervisor(runtime: Runtime, owner: str = "worker-a") -> AsyncIterator[Supervisor]:
    """The worker's receivers' supervisor (jobs/handlers/receivers.py), scanning fast for the test."""
    sup = Supervisor(runtime.services, owner=owner, scan_seconds=0.2, backoff_base=0.05, backoff_cap=0.5)
    task = asyncio.create_task(sup.run())
    try:
        yield sup
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def inbox_row(runtime: Runtime, inbox_id: uuid.UUID) -> Inbox:
    async with runtime.db.read() as session:
        return (await session.execute(sa.select(Inbox).where(Inbox.id == inbox_id))).scalar_one()


async def settle(runtime: Runtime, run_jobs: Any, inbox_id: uuid.UUID, events: int) -> None:
    """Wait until `events` raw mails are stored for the inbox, then process them."""
    deadline = asyncio.get_running_loop().time() + 15
    while await count_rows(runtime, InboundEvent, inbox_id=inbox_id) < events:
        assert asyncio.get_running_loop().time() < deadline, "mails not stored in time"
        await asyncio.sleep(0.05)
    await run_jobs()


async def messages_of(runtime: Runtime, inbox_id: uuid.UUID) -> list[Message]:
    async with runtime.db.read() as session:
        return list(
            (
                await session.execute(
                    sa.select(Message).where(Message.inbox_id == inbox_id).order_by(Message.created_at)
                )
            ).scalars()
        )


async def test_new_mail_is_fetched_by_idle_stored_sealed_and_becomes_a_message(
    runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    async with imap_server() as server:
        inbox_id = await email_inbox(runtime, ws, server)
        async with supervisor(runtime):
            uid = await server.deliver(USER, mail(1, body="Where is my parcel? Order #1001."))
            await settle(runtime, run_jobs, inbox_id, 1)
            async with runtime.db.read() as session:
                event = (await session.execute(sa.select(InboundEvent))).scalar_one()
            inbox = await inbox_row(runtime, inbox_id)
            # The raw mail is stored sealed, deduplicated by its Message-ID.
            assert b"Where is my parcel" not in event.body
            assert event.dedupe_key and "customer-1@mail.example.com" in event.dedupe_key
            assert inbox.receiver_owner == "worker-a" and inbox.receiver_status == "connected"
            assert inbox.receiver_synced_at is not None
        messages = await messages_of(runtime, inbox_id)
        assert len(messages) == 1 and messages[0].message_type == "incoming"
        assert server.seen_flag() not in await server.flags(USER, uid)  # BODY.PEEK: still unread


async def test_replies_fetched_over_imap_thread_into_their_conversation(runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    async with imap_server() as server:
        inbox_id = await email_inbox(runtime, ws, server)
        first = "<first@mail.example.com>"
        async with supervisor(runtime):
            await server.deliver(USER, mail(1, message_id=first, subject="Broken kettle"))
            await server.deliver(
                USER,
                mail(
                    2,
                    message_id="<second@mail.example.com>",
                    subject="Re: Broken kettle",
                    in_reply_to=first,
                    references=[first],
                ),
            )
            # Same person, new subject, no reference: a new conversation (no hijacking).
            await server.deliver(USER, mail(3, message_id="<third@mail.example.com>", subject="Invoice"))
            await settle(runtime, run_jobs, inbox_id, 3)
        messages = await messages_of(runtime, inbox_id)
        assert len(messages) == 3
        assert messages[0].conversation_id == messages[1].conversation_id
        assert messages[2].conversation_id != messages[0].conversation_id
        assert await count_rows(runtime, Conversation, inbox_id=inbox_id) == 2


async def test_a_uidvalidity_change_refetches_everything_and_creates_only_the_new_mail(
    runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    async with imap_server() as server:
        box = "Support"
        old = [mail(n) for n in range(3)]
        for raw in old:
            await server.deliver(USER, raw, box)
        inbox_id = await email_inbox(runtime, ws, server, imap_mailbox=box)
        async with supervisor(runtime):
            await settle(runtime, run_jobs, inbox_id, 3)
        await server.renumber(USER, box, [mail(9), *old])  # new UIDVALIDITY; the new mail has UID 1
        async with supervisor(runtime):
            await settle(runtime, run_jobs, inbox_id, 4)
            await asyncio.sleep(0.3)  # let the resync finish re-offering the old three
            await run_jobs()
        assert await count_rows(runtime, InboundEvent, inbox_id=inbox_id) == 4
        assert len(await messages_of(runtime, inbox_id)) == 4
        async with runtime.db.read() as session:
            state = (
                await session.execute(sa.select(Inbox.receiver_state).where(Inbox.id == inbox_id))
            ).scalar_one()
        assert state["uidvalidity"] == await server.uidvalidity(USER, box)


async def test_a_crash_after_storing_but_before_the_cursor_moved_duplicates_nothing(
    runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    async with imap_server() as server:
        for n in range(4):
            await server.deliver(USER, mail(n))
        inbox_id = await email_inbox(runtime, ws, server)
        async with supervisor(runtime):
            await settle(runtime, run_jobs, inbox_id, 4)
        # As if the process died between the intake's commit and the cursor's: the cursor is behind.
        async with runtime.db.write() as session:
            state = (
                await session.execute(sa.select(Inbox.receiver_state).where(Inbox.id == inbox_id))
            ).scalar_one()
            await session.execute(
                sa.update(Inbox).where(Inbox.id == inbox_id).values(receiver_state={**state, "last_uid": 0})
            )
        await server.deliver(USER, mail(4))
        async with runtime.db.write() as session:  # the first worker died: its lease ran out
            await session.execute(sa.update(Inbox).where(Inbox.id == inbox_id).values(receiver_until=None))
        async with supervisor(runtime, owner="worker-b"):  # another process takes over the lapsed lease
            await settle(runtime, run_jobs, inbox_id, 5)
            await asyncio.sleep(0.3)
        assert await count_rows(runtime, InboundEvent, inbox_id=inbox_id) == 5
        assert len(await messages_of(runtime, inbox_id)) == 5


async def test_the_receiver_reconnects_after_the_imap_server_restarts(runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    async with imap_server() as server:
        await server.deliver(USER, mail(1))
        inbox_id = await email_inbox(runtime, ws, server)
        async with supervisor(runtime) as sup:
            await settle(runtime, run_jobs, inbox_id, 1)
            await server.restart(downtime=0.5)
            await server.deliver(USER, mail(2))
            await settle(runtime, run_jobs, inbox_id, 2)
            assert len(sup.running) == 1
        assert len(await messages_of(runtime, inbox_id)) == 2
        inbox = await inbox_row(runtime, inbox_id)
        # The drop was shown on the inbox's health line, and the receiver stopped cleanly with the worker.
        assert inbox.last_error and "IMAP" in inbox.last_error and inbox.last_error_at is not None
        assert inbox.receiver_status == "stopped" and inbox.receiver_owner is None


async def test_fetched_auto_replies_and_bounces_trigger_nothing_automatic(runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    async with imap_server() as server:
        inbox_id = await email_inbox(runtime, ws, server)
        async with supervisor(runtime):
            await server.deliver(
                USER,
                mail(1, subject="Out of office", extra_headers={"Auto-Submitted": "auto-replied"}),
            )
            await server.deliver(
                USER,
                mail(
                    2,
                    subject="Newsletter",
                    extra_headers={"List-Id": "<news.example.com>", "Precedence": "bulk"},
                ),
            )
            await settle(runtime, run_jobs, inbox_id, 2)
        messages = await messages_of(runtime, inbox_id)
        assert len(messages) == 2
        assert all(m.content_attributes.get("email", {}).get("automatic") for m in messages)
        async with runtime.db.read() as session:
            outgoing = (
                await session.execute(
                    sa.select(sa.func.count())
                    .select_from(Message)
                    .where(Message.workspace_id == ws.id, Message.message_type == "outgoing")
                )
            ).scalar_one()
            kinds = set(
                (await session.execute(sa.select(Job.kind).where(Job.workspace_id == ws.id))).scalars()
            )
        assert outgoing == 0
        assert not any(kind.startswith(("ai.", "outbound.")) for kind in kinds)


async def test_disabling_or_deleting_the_inbox_stops_its_receiver_and_new_settings_restart_it(
    runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    async with imap_server() as server:
        inbox_id = await email_inbox(runtime, ws, server)
        async with supervisor(runtime) as sup:
            await until(lambda: inbox_id in sup.running)
            first = sup.running[inbox_id]
            async with runtime.db.write() as session:
                await update_inbox(session, ws.id, inbox_id, settings={"imap_mailbox": "Archive"})
            await until(lambda: inbox_id in sup.running and sup.running[inbox_id] is not first)
            async with runtime.db.write() as session:
                await update_inbox(session, ws.id, inbox_id, is_active=False)
            await until(lambda: inbox_id not in sup.running)
            await until(lambda: first.task.done())
            async with runtime.db.write() as session:
                await update_inbox(session, ws.id, inbox_id, is_active=True)
            await until(lambda: inbox_id in sup.running)
            async with runtime.db.write() as session:
                await delete_inbox(session, ws.id, inbox_id)
            await until(lambda: inbox_id not in sup.running)


async def test_two_workers_never_run_the_same_mailbox(runtime, make_workspace):
    ws = await make_workspace()
    async with imap_server() as server:
        inbox_id = await email_inbox(runtime, ws, server)
        async with supervisor(runtime, "worker-a") as a, supervisor(runtime, "worker-b") as b:
            await until(lambda: inbox_id in a.running or inbox_id in b.running)
            await asyncio.sleep(0.5)  # several scans of both
            assert (inbox_id in a.running) != (inbox_id in b.running)


async def test_a_bounce_fetched_over_imap_marks_our_reply_failed_and_answers_nothing(
    runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    async with imap_server() as server, FakeSmtpServer() as smtp:
        inbox_id = await email_inbox(runtime, ws, server, smtp_port=smtp.port)
        async with supervisor(runtime):
            await server.deliver(USER, mail(1))
            await settle(runtime, run_jobs, inbox_id, 1)
            [incoming] = await messages_of(runtime, inbox_id)
            async with runtime.db.write() as session:
                reply = await post_message(
                    session,
                    ws.id,
                    incoming.conversation_id,
                    text="On its way.",
                    sender_user_id=ws.agent.user_id,
                )
            ours = our_message_id(reply.id, USER.partition("@")[2])
            report = (
                (FIXTURES / "bounce.eml")
                .read_bytes()
                .replace(b"rd.0190f3a6c1d27e4b9a3f5c6d7e8f9a33@support.example.com", ours.encode())
            )
            await run_jobs()
            assert len(smtp.received) == 1  # the reply went out, by SMTP
            async with runtime.db.read() as session:
                assert (await session.get(Message, reply.id)).status == "sent"  # type: ignore[union-attr]
            await server.deliver(USER, report)
            await settle(runtime, run_jobs, inbox_id, 2)
        async with runtime.db.read() as session:
            bounced = await session.get(Message, reply.id)
        assert bounced is not None and bounced.status == "failed"
        assert "550" in (bounced.failure_reason or "")  # the reason is shown on the reply
        # The report is no conversation and draws no answer.
        assert await count_rows(runtime, Conversation, inbox_id=inbox_id) == 1
        assert len(await messages_of(runtime, inbox_id)) == 2
        assert len(smtp.received) == 1


async def test_the_receivers_state_shows_in_the_api_and_on_the_admin_page(runtime, make_workspace, client):
    ws = await make_workspace()
    async with imap_server() as server:
        inbox_id = await email_inbox(runtime, ws, server)
        async with supervisor(runtime):
            await until_async(lambda: _status(runtime, inbox_id), "connected")
            shown = await client.get(f"/api/v1/inboxes/{inbox_id}", headers=ws.admin.headers)
            health = shown.json()["health"]
            assert health["receiver"]["state"] == "connected" and health["receiver"]["last_sync_at"]
            await login(client, ws.admin.email, ws.admin.password)
            page = await client.get("/admin/inboxes")
            assert "Mailbox connected" in page.text and "last checked" in page.text
            live = (await client.get("/admin/inboxes/health")).json()["items"]
            assert next(i for i in live if i["id"] == str(inbox_id))["receiver"]["state"] == "connected"
        await server.stop()  # the server goes away while the receiver is stopped: shown as stopped, not lost
    async with runtime.db.read() as session:
        assert (await session.get(Inbox, inbox_id)).receiver_status == "stopped"  # type: ignore[union-attr]


async def _status(runtime: Runtime, inbox_id: uuid.UUID) -> str | None:
    return (await inbox_row(runtime, inbox_id)).receiver_status


async def until_async(fetch: Any, expected: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await fetch() != expected:
        assert asyncio.get_running_loop().time() < deadline, f"never became {expected!r}"
        await asyncio.sleep(0.05)
