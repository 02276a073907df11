"""The API channel's way out: Standard Webhooks signed POSTs, retried, throttled and dead-lettered."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from relaydesk.channels.api.fake import ScriptedReceiver
from relaydesk.channels.api.tests.support import (
    agent_reply,
    drain,
    job_for,
    message_json,
    run_once,
    start_conversation,
)
from relaydesk.db.base import utcnow
from relaydesk.models import Event, Job
from relaydesk.outbound.signing import SignatureError, verify
from relaydesk.outbound.ssrf import OutboundHttp
from tests.support.fixtures import count_rows


@pytest.fixture
async def receiver():
    rec = await ScriptedReceiver().start()
    yield rec
    await rec.stop()


async def _setup(client, make_workspace, run_jobs, receiver, text: str = "On its way"):
    ws = await make_workspace(webhook_url=receiver.url)
    receiver.secret = ws.outbound_secret
    conv = await start_conversation(client, ws, run_jobs)
    msg_id = await agent_reply(client, ws, conv, text)
    return ws, conv, msg_id


def _state_is(runtime, msg_id: str, *states: str):
    async def check() -> bool:
        return (await job_for(runtime, "outbound.deliver", msg_id)).state in states

    return check


async def test_webhook_is_signed_and_verifies(client, runtime, make_workspace, run_jobs, receiver):
    ws, conv, msg_id = await _setup(client, make_workspace, run_jobs, receiver, "It ships today.")
    await run_jobs()
    (req,) = receiver.received
    assert req.headers["webhook-id"] == msg_id
    verify(ws.outbound_secret, req.headers, req.body)  # the integrator's check
    with pytest.raises(SignatureError):
        verify(ws.inbound_secret, req.headers, req.body)  # the other secret does not sign it
    with pytest.raises(SignatureError):
        verify(ws.outbound_secret, req.headers, req.body.replace(b"today", b"never"))
    body = req.json
    assert body["type"] == "message.created" and body["id"] == msg_id
    assert body["text"] == "It ships today." and body["contact"]["id"] == "cust-42"
    assert body["conversation"]["id"] == conv
    assert receiver.accepted_ids == [msg_id] and receiver.rejected == 0
    assert (await message_json(client, ws, conv, msg_id))["status"] == "sent"
    job = await job_for(runtime, "outbound.deliver", msg_id)
    assert (job.state, job.attempts, job.last_error) == ("done", 1, None)


async def test_server_errors_are_retried_with_backoff(client, runtime, make_workspace, run_jobs, receiver):
    receiver.script = [500, 503]
    ws, conv, msg_id = await _setup(client, make_workspace, run_jobs, receiver)
    before = utcnow()
    await run_once(runtime)
    job = await job_for(runtime, "outbound.deliver", msg_id)
    assert job.state == "pending" and job.attempts == 1 and job.last_error == "RetryableSendError: HTTP 500"
    base = runtime.settings.job_backoff_base
    # backoff_seconds(1) lies in [base/2, base]; run_at is measured from the failure, after `before`.
    assert before + dt.timedelta(seconds=base / 2) <= job.run_at
    assert job.run_at <= utcnow() + dt.timedelta(seconds=base)
    assert (await message_json(client, ws, conv, msg_id))["status"] == "pending"
    await drain(runtime, _state_is(runtime, msg_id, "done", "dead"))
    job = await job_for(runtime, "outbound.deliver", msg_id)
    assert (job.state, job.attempts) == ("done", 3)
    assert [r.headers["webhook-id"] for r in receiver.received] == [msg_id] * 3
    assert receiver.accepted_ids == [msg_id]
    assert (await message_json(client, ws, conv, msg_id))["status"] == "sent"


async def test_timeouts_are_retried(client, runtime, make_workspace, run_jobs, receiver):
    receiver.script = ["hold"]
    ws, conv, msg_id = await _setup(client, make_workspace, run_jobs, receiver)
    original = runtime.services.http
    runtime.services.http = OutboundHttp(timeout=0.3, allow_private=frozenset({"channels"}))
    try:
        await run_once(runtime)
        job = await job_for(runtime, "outbound.deliver", msg_id)
        assert job.state == "pending" and "ReadTimeout" in (job.last_error or "")
        receiver.release.set()
        await drain(runtime, _state_is(runtime, msg_id, "done", "dead"))
    finally:
        await runtime.services.http.aclose()
        runtime.services.http = original
    assert (await job_for(runtime, "outbound.deliver", msg_id)).state == "done"
    assert (await message_json(client, ws, conv, msg_id))["status"] == "sent"
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1


async def test_retry_after_is_honoured_on_429(client, runtime, make_workspace, run_jobs, receiver):
    receiver.script = [(429, {"retry-after": "120"})]
    ws, conv, msg_id = await _setup(client, make_workspace, run_jobs, receiver)
    await run_once(runtime)
    job = await job_for(runtime, "outbound.deliver", msg_id)
    assert job.state == "pending" and job.last_error == "RetryLater: HTTP 429"
    wait = (job.run_at - utcnow()).total_seconds()
    assert 110 < wait <= 120, wait  # the receiver's 120 s, not the 0.01 s backoff of these settings
    assert await runtime.dispatcher.run_until_idle() == 0  # not due yet
    async with runtime.db.write() as session:  # let the two minutes pass
        await session.execute(sa.update(Job).where(Job.id == job.id).values(run_at=utcnow()))
    await runtime.dispatcher.run_until_idle()
    assert (await job_for(runtime, "outbound.deliver", msg_id)).state == "done"
    assert (await message_json(client, ws, conv, msg_id))["status"] == "sent"


async def test_dead_letter_after_max_attempts_marks_the_message_failed(
    client, runtime, make_workspace, run_jobs, receiver
):
    attempts = runtime.settings.job_max_attempts
    receiver.script = [500] * (attempts + 5)
    ws, conv, msg_id = await _setup(client, make_workspace, run_jobs, receiver)
    await drain(runtime, _state_is(runtime, msg_id, "dead"))
    job = await job_for(runtime, "outbound.deliver", msg_id)
    assert job.attempts == attempts and job.finished_at is not None
    assert len(receiver.received) == attempts and receiver.accepted_ids == []
    msg = await message_json(client, ws, conv, msg_id)
    assert msg["status"] == "failed"
    assert msg["failure_reason"] == "RetryableSendError: HTTP 500"
    assert msg["failed_at"]
    assert await count_rows(runtime, Event, workspace_id=ws.id, type="message.updated") == 1


@pytest.mark.parametrize("status", [400, 404, 410, 422])
async def test_client_errors_fail_permanently_at_once(
    client, runtime, make_workspace, run_jobs, receiver, status
):
    receiver.script = [status]
    ws, conv, msg_id = await _setup(client, make_workspace, run_jobs, receiver)
    await runtime.dispatcher.run_until_idle()
    job = await job_for(runtime, "outbound.deliver", msg_id)
    assert (job.state, job.attempts) == ("dead", 1)
    assert len(receiver.received) == 1
    msg = await message_json(client, ws, conv, msg_id)
    assert msg["status"] == "failed" and msg["failure_reason"] == f"HTTP {status}"
    # The admin sees it on the inbox as well.
    inbox_error = await _inbox_error(runtime, ws.api_inbox_id)
    assert inbox_error == f"delivery refused: HTTP {status}"


async def _inbox_error(runtime, inbox_id) -> str | None:
    from relaydesk.models import Inbox

    async with runtime.db.read() as session:
        return (await session.get(Inbox, inbox_id)).last_error


async def test_late_delivered_receipt_overrides_a_dead_letter(
    client, runtime, make_workspace, run_jobs, receiver
):
    """The integrator may have processed a request we saw fail; its receipt wins over our failure."""
    from relaydesk.channels.api.tests.support import fixture_bytes, post_signed

    receiver.script = [400]
    ws, conv, msg_id = await _setup(client, make_workspace, run_jobs, receiver)
    await run_jobs()
    assert (await message_json(client, ws, conv, msg_id))["status"] == "failed"
    body = fixture_bytes("status_delivered.json", REPLACE_WITH_RELAYDESK_MESSAGE_ID=msg_id)
    assert (await post_signed(client, ws, body)).status_code == 202
    await run_jobs()
    msg = await message_json(client, ws, conv, msg_id)
    assert msg["status"] == "delivered" and msg["failure_reason"] is None
