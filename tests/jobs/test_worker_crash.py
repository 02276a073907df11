"""kill -9 a real worker mid-delivery: the job completes elsewhere, nothing is lost, nothing is done twice.

"Nothing sent twice" is at-least-once delivery with a stable idempotency key (docs/scaling.md): a worker
can die after the integrator received a POST and before recording it, so the next worker POSTs again
with the same `webhook-id`; the integrator keeps one. What must never happen is a second *distinct*
id for one message, a lost job, or a job finished twice.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections import Counter

import pytest
import sqlalchemy as sa

from relaydesk.actions.messages import post_message
from relaydesk.channels.api.fake import ScriptedReceiver
from relaydesk.channels.api.tests.support import (
    agent_reply,
    message_json,
    start_conversation,
)
from relaydesk.models import Event, Job
from tests.jobs.workers import Worker, eventually, worker_env

pytestmark = pytest.mark.slow


@pytest.fixture
async def receiver():
    rec = await ScriptedReceiver().start()
    yield rec
    await rec.stop()


async def _deliveries(runtime) -> list[Job]:
    async with runtime.db.read() as session:
        return list((await session.execute(sa.select(Job).where(Job.kind == "outbound.deliver"))).scalars())


async def _all_done(runtime) -> bool:
    jobs = await _deliveries(runtime)
    return bool(jobs) and all(j.state == "done" for j in jobs)


async def _status_events(runtime, message_id: str) -> list[str]:
    async with runtime.db.read() as session:
        rows = (await session.execute(sa.select(Event).where(Event.type == "message.updated"))).scalars()
        return [e.payload["status"] for e in rows if e.payload.get("message_id") == message_id]


async def test_worker_killed_mid_request_another_finishes_once(
    client, runtime, settings, make_workspace, run_jobs, receiver
):
    ws = await make_workspace(webhook_url=receiver.url)
    receiver.secret = ws.outbound_secret
    conv = await start_conversation(client, ws, run_jobs)
    msg_id = await agent_reply(client, ws, conv, "Your refund is on its way")
    receiver.script = ["hold"]  # the first POST stalls until the worker is dead
    first = Worker(settings)
    second = None
    try:
        await first.started()
        await eventually(lambda: _is_set(receiver), 60, lambda: f"worker never sent:\n{first.log}")
        (job,) = await _deliveries(runtime)
        assert (job.state, job.attempts) == ("running", 1) and job.locked_by
        first.kill9()
        second = await Worker(settings).started()
        await eventually(lambda: _all_done(runtime), 30, lambda: f"job not finished:\n{second.log}")
    finally:
        first.stop()
        if second is not None:
            second.stop()
    (job,) = await _deliveries(runtime)
    assert (job.state, job.attempts, job.locked_by) == ("done", 2, None)
    assert [r.headers["webhook-id"] for r in receiver.received] == [msg_id, msg_id]
    assert receiver.accepted_ids == [msg_id]  # the integrator kept one
    assert receiver.rejected == 0
    assert (await message_json(client, ws, conv, msg_id))["status"] == "sent"
    assert await _status_events(runtime, msg_id) == ["sent"]  # marked delivered-to-integrator once


async def _is_set(receiver: ScriptedReceiver) -> bool:
    return receiver.holding.is_set()


CLAIM_AND_HANG = textwrap.dedent(
    """
    import asyncio, sys
    from relaydesk.config import load_settings
    from relaydesk.jobs.dispatcher import Dispatcher
    from relaydesk.runtime import build_runtime

    async def main():
        runtime = build_runtime(load_settings())
        jobs = await Dispatcher(runtime.services, worker_id="claimed-then-killed").claim(100)
        print(len(jobs), flush=True)
        await asyncio.sleep(3600)  # claimed, never started: the test kills us here

    asyncio.run(main())
    """
)


async def test_worker_killed_after_claiming_loses_nothing(
    client, runtime, settings, make_workspace, run_jobs, receiver
):
    ws = await make_workspace(webhook_url=receiver.url)
    receiver.secret = ws.outbound_secret
    conv = await start_conversation(client, ws, run_jobs)
    ids = [await agent_reply(client, ws, conv, f"reply {n}") for n in range(5)]
    claimer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLAIM_AND_HANG, env=worker_env(settings), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert claimer.stdout is not None
        line = await asyncio.wait_for(claimer.stdout.readline(), 30)
        assert line.strip() == b"5"
        jobs = await _deliveries(runtime)
        assert {(j.state, j.locked_by) for j in jobs} == {("running", "claimed-then-killed")}
    finally:
        claimer.kill()  # SIGKILL
        await claimer.wait()
    worker = await Worker(settings).started()
    try:
        await eventually(lambda: _all_done(runtime), 30, lambda: f"jobs not finished:\n{worker.log}")
    finally:
        worker.stop()
    assert sorted(receiver.accepted_ids) == sorted(ids)
    assert len(receiver.received) == 5  # never started before, so sent exactly once each
    assert {j.attempts for j in await _deliveries(runtime)} == {2}
    for msg_id in ids:
        assert (await message_json(client, ws, conv, msg_id))["status"] == "sent"


async def test_two_workers_drain_200_jobs_each_exactly_once(
    runtime, settings, make_workspace, receiver, backend
):
    """Concurrent claims never hand one job to two workers (FOR UPDATE SKIP LOCKED on PostgreSQL, the
    single writer lock on SQLite)."""
    from relaydesk.actions.incoming import receive_incoming
    from relaydesk.channels.envelopes import IncomingMessage
    from relaydesk.models import Inbox

    total = 200 if backend == "postgresql" else 50  # SQLite serialises every claim: fewer suffice there
    ws = await make_workspace(webhook_url=receiver.url)
    receiver.secret = ws.outbound_secret
    async with runtime.db.write() as session:
        inbox = await session.get(Inbox, ws.api_inbox_id)
        incoming, _ = await receive_incoming(
            session,
            inbox,
            IncomingMessage(external_contact_id="cust-1", provider_message_id="m-1", text="hi"),
        )
        ids = [
            str((await post_message(session, ws.id, incoming.conversation_id, text=f"reply {n}")).id)
            for n in range(total)
        ]
    # A long lease: this test is about claims, and a takeover after a lapsed lease (a loaded machine) would
    # legitimately send twice.
    workers = [Worker(settings, "--concurrency", "8", RELAYDESK_JOB_LEASE_SECONDS="60") for _ in range(2)]
    try:
        for worker in workers:
            await worker.started()
        await eventually(lambda: _all_done(runtime), 90, lambda: "\n\n".join(w.log for w in workers))
        logs = [w.log for w in workers]
    finally:
        for worker in workers:
            worker.stop()
    sent = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert sorted(sent) == sorted(ids)
    assert set(sent.values()) == {1}, [k for k, v in sent.items() if v > 1]
    jobs = await _deliveries(runtime)
    assert len(jobs) == total and {j.attempts for j in jobs} == {1}
    ran = [log.count("POST " + receiver.url) for log in logs]
    assert sum(ran) == total
    if backend == "postgresql":
        assert all(n > 0 for n in ran), ran  # both really worked in parallel
