"""The batched ingest path: group-committed acknowledgements, batch receiving, splitting, hand-over."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import time
import uuid
from typing import Any

import sqlalchemy as sa

from relaydesk.actions.conversations import change_status
from relaydesk.actions.incoming import receive_incoming_batch
from relaydesk.actions.keys import shred_contact
from relaydesk.channels.api.client import signed_request_headers
from relaydesk.channels.envelopes import IncomingMessage
from relaydesk.db.base import utcnow
from relaydesk.models import Contact, Conversation, Event, InboundEvent, Inbox, Job, Message
from relaydesk.privacy import storage


def _body(message_id: str, customer: str, text: str, **extra: Any) -> bytes:
    return json.dumps(
        {
            "type": "message",
            "id": message_id,
            "contact": {"id": customer, "name": customer},
            "text": text,
            **extra,
        }
    ).encode()


async def _post(client: Any, ws: Any, raw: bytes, headers: dict[str, str] | None = None) -> Any:
    return await client.post(
        f"/inbound/api/{ws.api_inbox_public_id}",
        content=raw,
        headers=headers or signed_request_headers(ws.inbound_secret, raw),
    )


async def _scalars(runtime: Any, stmt: Any) -> list[Any]:
    async with runtime.db.read() as session:
        return list((await session.execute(stmt)).scalars())


async def test_requests_arriving_together_share_one_commit_and_each_gets_its_answer(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    bodies = [_body(f"m-{i}", f"cust-{i % 5}", f"message {i}") for i in range(20)]
    replayed = bodies[3]
    replay_headers = signed_request_headers(ws.inbound_secret, replayed)
    first = await _post(client, ws, replayed, replay_headers)
    assert first.status_code == 202
    requests = [_post(client, ws, raw) for raw in bodies[4:]]
    requests.append(_post(client, ws, replayed, replay_headers))  # the same signed bytes again
    # Same provider id, signed again a second later: a provider's redelivery, not a replay.
    later = signed_request_headers(ws.inbound_secret, replayed, int(time.time()) + 1)
    requests.append(_post(client, ws, replayed, later))
    answers = await asyncio.gather(*requests)

    assert [a.status_code for a in answers[:16]] == [202] * 16
    assert answers[16].status_code == 409, answers[16].text
    assert answers[17].status_code == 200 and answers[17].json() == {
        "id": first.json()["id"],
        "duplicate": True,
    }
    ids = {a.json()["id"] for a in answers[:16]}
    assert len(ids) == 16
    jobs = await _scalars(runtime, sa.select(Job).where(Job.kind == "inbound.process"))
    # 17 requests stored, but by a handful of transactions: one job per committed batch.
    assert 2 <= len(jobs) <= 4, [len(j.payload["inbound_event_ids"]) for j in jobs]
    assert sum(len(j.payload["inbound_event_ids"]) for j in jobs) == 17

    await run_jobs()
    stored = await _scalars(
        runtime, sa.select(Message.provider_message_id).where(Message.workspace_id == ws.id)
    )
    assert sorted(stored) == sorted(f"m-{i}" for i in range(3, 20))
    events = await _scalars(
        runtime, sa.select(Event.seq).where(Event.workspace_id == ws.id).order_by(Event.seq)
    )
    assert events == list(range(events[0], events[0] + len(events)))  # no gaps, no duplicates


async def test_a_batch_that_fails_commits_nothing_and_every_event_is_retried_alone(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    assert (await _post(client, ws, _body("first", "erased", "hello"))).status_code == 202
    await run_jobs()
    async with runtime.db.write() as session:
        contact_id = (
            await session.execute(sa.select(Contact.id).where(Contact.workspace_id == ws.id))
        ).scalar_one()
        await shred_contact(session, ws.id, contact_id)
    # One batch: a message for the erased contact (refused: its key is gone) among two healthy ones.
    answers = await asyncio.gather(
        _post(client, ws, _body("ok-1", "alice", "one")),
        _post(client, ws, _body("poison", "erased", "again")),
        _post(client, ws, _body("ok-2", "bob", "two")),
    )
    assert [a.status_code for a in answers] == [202, 202, 202]
    await run_jobs()
    stored = await _scalars(
        runtime, sa.select(Message.provider_message_id).where(Message.workspace_id == ws.id)
    )
    assert sorted(p for p in stored if p != "first") == ["ok-1", "ok-2"]
    singles = await _scalars(
        runtime,
        sa.select(Job).where(Job.kind == "inbound.process_event", Job.state != "done"),
    )
    assert len(singles) == 1 and len(singles[0].payload["inbound_event_ids"]) == 1
    assert "erased" in (singles[0].last_error or "")
    states = await _scalars(runtime, sa.select(InboundEvent.state).where(InboundEvent.workspace_id == ws.id))
    assert sorted(states) == ["processed", "processed", "processed", "received"]


async def test_one_batch_keeps_a_customers_messages_in_order_in_one_conversation(runtime, make_workspace):
    ws = await make_workspace()
    at = utcnow()

    def msg(pid: str, text: str, customer: str = "c-1", **kw: Any) -> IncomingMessage:
        return IncomingMessage(
            external_contact_id=customer, provider_message_id=pid, text=text, sent_at=at, **kw
        )

    async with runtime.db.write() as session:
        inbox = await session.get(Inbox, ws.api_inbox_id)
        results = await receive_incoming_batch(
            session,
            inbox,
            [
                msg("p1", "first", contact_name="Grace", contact_email="Grace@Example.com"),
                msg("p2", "second", reply_to_provider_id="p1"),
                msg("p1", "first again"),  # redelivered inside the batch
                msg("p3", "third"),
                msg("q1", "other customer", customer="c-2"),
            ],
        )
    assert [created for _, created in results] == [True, True, False, True, True]
    assert results[2][0] == results[0][0]
    async with runtime.db.read() as session:
        convs = list(
            (
                await session.execute(sa.select(Conversation).where(Conversation.workspace_id == ws.id))
            ).scalars()
        )
        assert len(convs) == 2
        conv = next(c for c in convs if c.unread_count == 3)
        assert conv.last_message_id == results[3][0] and conv.waiting_since is not None
        thread = list(
            (
                await session.execute(
                    sa.select(Message).where(Message.conversation_id == conv.id).order_by(Message.id)
                )
            ).scalars()
        )
        assert [storage.read_message_content(m) for m in thread] == ["first", "second", "third"]
        assert thread[1].reply_to_id == thread[0].id
        contact = await session.get(Contact, conv.contact_id)
        assert storage.read_contact(contact).email == "grace@example.com"
        assert await storage.find_contacts_by_email(session, ws.id, "grace@example.com")
        types = list(
            (
                await session.execute(
                    sa.select(Event.type).where(Event.workspace_id == ws.id).order_by(Event.seq)
                )
            ).scalars()
        )
    assert types.count("contact.created") == 2 and types.count("conversation.created") == 2
    assert types.count("message.created") == 4 and types.count("conversation.updated") == 2

    # A snoozed conversation reopens; a resolved one stays closed and the next message starts a new one.
    async with runtime.db.write() as session:
        await change_status(
            session, ws.id, conv.id, "snoozed", snoozed_until=utcnow() + dt.timedelta(hours=1)
        )
        other = next(c for c in convs if c.id != conv.id)
        await change_status(session, ws.id, other.id, "resolved")
        inbox = await session.get(Inbox, ws.api_inbox_id)
        await receive_incoming_batch(
            session, inbox, [msg("p4", "back"), msg("q2", "new topic", customer="c-2")]
        )
    async with runtime.db.read() as session:
        reopened = await session.get(Conversation, conv.id)
        assert reopened.status == "open" and reopened.snoozed_until is None and reopened.unread_count == 4
        count = (
            await session.execute(
                sa.select(sa.func.count()).select_from(Conversation).where(Conversation.workspace_id == ws.id)
            )
        ).scalar_one()
        assert count == 3


@dataclasses.dataclass
class _DeadDispatcher:
    """Claims the intake's batches, then dies before running them (what kill -9 does to `serve`)."""

    worker_id: str = "gone:1"
    lease_seconds: float = 0.2
    adopted: list[Any] = dataclasses.field(default_factory=list)

    def adopt(self, jobs: list[Any]) -> None:
        self.adopted.extend(jobs)


async def test_a_batch_handed_to_a_dispatcher_that_dies_is_claimed_by_another(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    dead = _DeadDispatcher()
    runtime.intake.attach(dead)  # type: ignore[arg-type]
    try:
        assert (await _post(client, ws, _body("handed", "dora", "hi"))).status_code == 202
    finally:
        runtime.intake.attach(None)
    assert len(dead.adopted) == 1
    [job] = await _scalars(runtime, sa.select(Job).where(Job.kind == "inbound.process"))
    assert (job.state, job.locked_by, job.attempts) == ("running", "gone:1", 1)
    assert await run_jobs() == 0  # leased by the dead dispatcher: nobody else takes it yet
    await asyncio.sleep(0.3)
    assert await run_jobs() == 1
    stored = await _scalars(
        runtime, sa.select(Message.provider_message_id).where(Message.workspace_id == ws.id)
    )
    assert stored == ["handed"]


async def test_a_running_dispatcher_stores_handed_over_batches_without_claiming(
    client, runtime, make_workspace
):
    ws = await make_workspace()
    dispatcher = runtime.dispatcher
    assert dispatcher is not None
    runtime.intake.attach(dispatcher)
    task = asyncio.create_task(dispatcher.run())
    try:
        answers = await asyncio.gather(
            *(_post(client, ws, _body(f"live-{i}", f"c{i}", "hi")) for i in range(5))
        )
        assert {a.status_code for a in answers} == {202}
        for _ in range(200):
            stored = await _scalars(runtime, sa.select(Message.id).where(Message.workspace_id == ws.id))
            if len(stored) == 5:
                break
            await asyncio.sleep(0.02)
        assert len(stored) == 5
        jobs = await _scalars(runtime, sa.select(Job).where(Job.kind == "inbound.process"))
        assert {(j.state, j.attempts) for j in jobs} == {("done", 1)}
    finally:
        runtime.intake.attach(None)
        dispatcher._stopping = True
        dispatcher.wake()
        await task
        dispatcher._stopping = False
        dispatcher._claim_wanted = True


async def test_events_of_a_batch_carry_ids_never_text(runtime, make_workspace):
    ws = await make_workspace()
    async with runtime.db.write() as session:
        inbox = await session.get(Inbox, ws.api_inbox_id)
        secret = f"secret words {uuid.uuid4().hex}"
        await receive_incoming_batch(
            session,
            inbox,
            [
                IncomingMessage(
                    external_contact_id="x", provider_message_id="x1", text=secret, contact_name="Zed Q"
                )
            ],
        )
        pending = list(session.info.get("relaydesk.events", []))
    assert pending and secret not in json.dumps(pending) and "Zed Q" not in json.dumps(pending)
