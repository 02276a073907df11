"""The API channel's front door: signed requests in, nothing stored for anything forged or malformed."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import pytest
import sqlalchemy as sa

from relaydesk.actions.inboxes import update_inbox
from relaydesk.channels.api.client import signed_request_headers
from relaydesk.channels.api.fake import ScriptedReceiver
from relaydesk.channels.api.tests.support import (
    agent_reply,
    fixture_bytes,
    fixture_json,
    message_json,
    post_signed,
    start_conversation,
    stored_counts,
)
from relaydesk.models import Attachment, InboundEvent, Inbox, Job, Message
from tests.support.fixtures import count_rows


async def _thread(client, ws) -> tuple[str, list[dict]]:
    convs = (await client.get("/api/v1/conversations", headers=ws.agent.headers)).json()["items"]
    assert len(convs) == 1
    items = (
        await client.get(f"/api/v1/conversations/{convs[0]['id']}/messages", headers=ws.agent.headers)
    ).json()["items"]
    return convs[0]["id"], items


async def test_signed_message_is_accepted_then_processed(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    resp = await post_signed(client, ws, fixture_bytes("message_text.json"))
    assert resp.status_code == 202, resp.text
    assert resp.json()["duplicate"] is False
    before = await stored_counts(runtime, ws.id)
    assert before["inbound_events"] == 1 and before["messages"] == 0 and before["jobs"] == 1
    await run_jobs()
    _, items = await _thread(client, ws)
    assert [m["content"] for m in items] == ["Hello, where is my order #5521?"]
    assert items[0]["provider_message_id"] == "crm-msg-1001"
    assert items[0]["message_type"] == "incoming"


def _forgeries(ws, body: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    good = signed_request_headers(ws.inbound_secret, body)
    stale_ts = int(time.time()) - 301
    wrong_secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    tampered = body.replace(b"#5521", b"#9999")
    return [
        ("forged signature", signed_request_headers(wrong_secret, body), body),
        ("missing signature", {k: v for k, v in good.items() if k != "x-relaydesk-signature"}, body),
        ("missing timestamp", {k: v for k, v in good.items() if k != "x-relaydesk-timestamp"}, body),
        ("no headers", {"content-type": "application/json"}, body),
        ("timestamp skew > 5 min", signed_request_headers(ws.inbound_secret, body, stale_ts), body),
        ("future timestamp", signed_request_headers(ws.inbound_secret, body, int(time.time()) + 400), body),
        ("tampered body", good, tampered),
        ("non-numeric timestamp", {**good, "x-relaydesk-timestamp": "yesterday"}, body),
    ]


async def test_unauthentic_requests_are_refused_and_store_nothing(client, runtime, make_workspace):
    ws = await make_workspace()
    body = fixture_bytes("message_text.json")
    before = await stored_counts(runtime, ws.id)
    for label, headers, sent in _forgeries(ws, body):
        resp = await client.post(f"/inbound/api/{ws.api_inbox_public_id}", content=sent, headers=headers)
        assert resp.status_code == 401, (label, resp.text)
        assert resp.json()["error"]["code"] == "not_authenticated", label
        assert await stored_counts(runtime, ws.id) == before, label


async def test_signature_within_five_minutes_is_accepted(client, make_workspace):
    ws = await make_workspace()
    resp = await post_signed(client, ws, fixture_bytes("message_text.json"), timestamp=int(time.time()) - 280)
    assert resp.status_code == 202, resp.text


async def test_byte_identical_replay_is_refused(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    body = fixture_bytes("message_text.json")
    headers = signed_request_headers(ws.inbound_secret, body)
    url = f"/inbound/api/{ws.api_inbox_public_id}"
    assert (await client.post(url, content=body, headers=headers)).status_code == 202
    after_first = await stored_counts(runtime, ws.id)
    replay = await client.post(url, content=body, headers=headers)
    assert replay.status_code == 409, replay.text
    assert replay.json()["error"]["code"] == "conflict"
    assert await stored_counts(runtime, ws.id) == after_first
    await run_jobs()
    assert await count_rows(runtime, Message, workspace_id=ws.id) == 1


async def test_resigned_redelivery_is_a_duplicate(client, runtime, make_workspace, run_jobs):
    """An integrator retrying with a fresh timestamp (new signature) gets 200 and no second message."""
    ws = await make_workspace()
    body = fixture_bytes("message_text.json")
    first = await post_signed(client, ws, body, timestamp=int(time.time()) - 10)
    assert first.status_code == 202
    await run_jobs()
    again = await post_signed(client, ws, body)
    assert again.status_code == 200, again.text
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    # Same integrator id, different bytes (e.g. re-serialised JSON): still the same message.
    reformatted = json.dumps(fixture_json("message_text.json"), indent=2).encode()
    third = await post_signed(client, ws, reformatted)
    assert third.status_code == 200 and third.json()["duplicate"] is True
    await run_jobs()
    assert await count_rows(runtime, Message, workspace_id=ws.id) == 1
    assert (await stored_counts(runtime, ws.id))["inbound_events"] == 1


MALFORMED = [
    ("not JSON", b'{"type": "message", "id": ', "not valid JSON"),
    ("not an object", b'["message"]', "JSON object"),
    ("missing contact", fixture_bytes("invalid_missing_contact.json"), "contact"),
    ("wrong types", fixture_bytes("invalid_wrong_types.json"), "must be a string"),
    ("bad base64", fixture_bytes("invalid_bad_base64.json"), "base64"),
    ("unknown type", b'{"type": "poke", "id": "x"}', "type must be"),
    ("empty message", b'{"id": "m-9", "contact": {"id": "c"}, "text": "   "}', "text or attachments"),
    ("contact without id", b'{"id": "m-9", "contact": {"name": "Ada"}, "text": "hi"}', "id is required"),
    ("bad timestamp", b'{"id": "m-9", "contact": {"id": "c"}, "text": "hi", "timestamp": "soon"}', "ISO"),
    ("bad status", b'{"type": "status", "message_id": "x", "status": "lost"}', "status must be"),
    ("attachments not a list", b'{"id": "m", "contact": {"id": "c"}, "attachments": {}}', "list"),
]


async def test_malformed_payloads_are_400_and_store_nothing(client, runtime, make_workspace):
    ws = await make_workspace()
    before = await stored_counts(runtime, ws.id)
    for label, body, needle in MALFORMED:
        resp = await post_signed(client, ws, body)
        assert resp.status_code == 400, (label, resp.text)
        error = resp.json()["error"]
        assert error["code"] == "invalid" and needle in error["message"], (label, error)
        assert await stored_counts(runtime, ws.id) == before, label


async def test_oversized_body_is_413_and_stores_nothing(client, runtime, make_workspace):
    ws = await make_workspace()
    body = fixture_json("message_text.json")
    body["text"] = "x" * (runtime.settings.max_body_bytes + 10)
    before = await stored_counts(runtime, ws.id)
    resp = await post_signed(client, ws, body)
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["code"] == "too_large"
    assert await stored_counts(runtime, ws.id) == before


async def test_unknown_and_inactive_inboxes_are_404(client, runtime, make_workspace):
    ws = await make_workspace()
    body = fixture_bytes("message_text.json")
    unknown = await post_signed(client, ws, body, public_id="no-such-inbox")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    wrong_channel = await client.post(
        f"/inbound/whatsapp/{ws.api_inbox_public_id}",
        content=body,
        headers=signed_request_headers(ws.inbound_secret, body),
    )
    assert wrong_channel.status_code == 404
    async with runtime.db.write() as session:
        await update_inbox(session, ws.id, ws.api_inbox_id, is_active=False)
    before = await stored_counts(runtime, ws.id)
    inactive = await post_signed(client, ws, body)
    assert inactive.status_code == 404, inactive.text
    assert await stored_counts(runtime, ws.id) == before


async def test_another_inboxs_secret_does_not_sign_for_this_one(client, runtime, make_workspace):
    ws = await make_workspace()
    other = await make_workspace("Other")
    resp = await post_signed(client, ws, fixture_bytes("message_text.json"), secret=other.inbound_secret)
    assert resp.status_code == 401
    assert (await stored_counts(runtime, ws.id))["inbound_events"] == 0


async def test_attachments_are_stored_and_downloadable(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    payload = fixture_json("message_with_attachment.json")
    expected = base64.b64decode(payload["attachments"][0]["data_base64"])
    assert (await post_signed(client, ws, payload)).status_code == 202
    await run_jobs()
    _, items = await _thread(client, ws)
    (att,) = items[0]["attachments"]
    assert (
        att["filename"] == "box.png" and att["content_type"] == "image/png" and att["size"] == len(expected)
    )
    download = await client.get(att["url"], headers=ws.agent.headers)
    assert download.status_code == 200
    assert download.content == expected
    assert download.headers["content-type"].startswith("image/png")
    other = await make_workspace("Other")
    assert (await client.get(att["url"], headers=other.agent.headers)).status_code == 404
    assert await count_rows(runtime, Attachment, workspace_id=ws.id) == 1


async def test_reply_to_resolves_to_the_earlier_message(client, make_workspace, run_jobs):
    ws = await make_workspace()
    await post_signed(client, ws, fixture_bytes("message_text.json"))
    await run_jobs()
    await post_signed(client, ws, fixture_bytes("message_reply.json"))
    await run_jobs()
    _, items = await _thread(client, ws)
    by_provider = {m["provider_message_id"]: m for m in items}
    assert by_provider["crm-msg-1003"]["reply_to_id"] == by_provider["crm-msg-1001"]["id"]


async def _receipt(client, ws, run_jobs, name: str, message_id: str) -> None:
    resp = await post_signed(client, ws, fixture_bytes(name, REPLACE_WITH_RELAYDESK_MESSAGE_ID=message_id))
    assert resp.status_code == 202, resp.text
    await run_jobs()


async def _sent_reply(client, ws, run_jobs) -> tuple[str, str]:
    """An outgoing message the integrator accepted (status `sent`): receipts then start from there."""
    conv = await start_conversation(client, ws, run_jobs)
    msg_id = await agent_reply(client, ws, conv)
    await run_jobs()
    assert (await message_json(client, ws, conv, msg_id))["status"] == "sent"
    return conv, msg_id


@pytest.fixture
async def receiver():
    rec = await ScriptedReceiver().start()
    yield rec
    await rec.stop()


RECEIPT_SEQUENCES = [
    (["status_delivered.json", "status_read.json"], "read"),
    (["status_read.json", "status_delivered.json"], "read"),
    (["status_failed.json", "status_delivered.json"], "delivered"),
    (["status_delivered.json", "status_failed.json"], "delivered"),
    (["status_read.json", "status_failed.json"], "read"),
]


async def test_status_receipts_only_move_forward(client, make_workspace, run_jobs, receiver):
    ws = await make_workspace(webhook_url=receiver.url)
    conv = await start_conversation(client, ws, run_jobs)
    for receipts, final in RECEIPT_SEQUENCES:
        msg_id = await agent_reply(client, ws, conv)
        await run_jobs()
        for name in receipts:
            await _receipt(client, ws, run_jobs, name, msg_id)
        msg = await message_json(client, ws, conv, msg_id)
        assert msg["status"] == final, (receipts, msg)
        assert msg["failure_reason"] is None, receipts
        assert msg[f"{final}_at"], receipts


async def test_failed_receipt_shows_its_reason(client, make_workspace, run_jobs, receiver):
    ws = await make_workspace(webhook_url=receiver.url)
    conv, msg_id = await _sent_reply(client, ws, run_jobs)
    await _receipt(client, ws, run_jobs, "status_failed.json", msg_id)
    msg = await message_json(client, ws, conv, msg_id)
    assert msg["status"] == "failed"
    assert msg["failure_reason"] == "recipient blocked the business"


async def test_receipt_for_another_workspaces_message_changes_nothing(
    client, make_workspace, run_jobs, receiver
):
    ws = await make_workspace(webhook_url=receiver.url)
    other = await make_workspace("Other")
    conv, msg_id = await _sent_reply(client, ws, run_jobs)
    await _receipt(client, ws, run_jobs, "status_delivered.json", msg_id)
    await _receipt(client, other, run_jobs, "status_read.json", msg_id)
    after = await message_json(client, ws, conv, msg_id)
    assert after["status"] == "delivered" and after["read_at"] is None


async def test_signed_json_under_another_media_type_is_415_and_stores_nothing(
    client, runtime, make_workspace
):
    ws = await make_workspace()
    body = fixture_bytes("message_text.json")
    before = await stored_counts(runtime, ws.id)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None, "application/jsonx"):
        headers = signed_request_headers(ws.inbound_secret, body)
        if content_type is None:
            del headers["content-type"]
        else:
            headers["content-type"] = content_type
        resp = await client.post(f"/inbound/api/{ws.api_inbox_public_id}", content=body, headers=headers)
        assert resp.status_code == 415, (content_type, resp.text)
        assert resp.json()["error"]["code"] == "unsupported_media_type"
    assert await stored_counts(runtime, ws.id) == before
    # The label may carry parameters.
    headers = {
        **signed_request_headers(ws.inbound_secret, body),
        "content-type": "application/json; charset=utf-8",
    }
    resp = await client.post(f"/inbound/api/{ws.api_inbox_public_id}", content=body, headers=headers)
    assert resp.status_code == 202, resp.text


async def test_unstorable_text_is_refused_at_the_door_and_stores_nothing(client, runtime, make_workspace):
    """A NUL in any field (here the contact id, which PostgreSQL cannot store) was once acknowledged 202 and
    then failed for ever in its job; now the door refuses it, naming the field."""
    ws = await make_workspace()
    before = await stored_counts(runtime, ws.id)
    for field, mutate in (
        ("contact.id", lambda b: b["contact"].__setitem__("id", "c\x00")),
        ("text", lambda b: b.__setitem__("text", "hi\ud800")),
        ("id", lambda b: b.__setitem__("id", "\x00")),
    ):
        body = fixture_json("message_text.json")
        mutate(body)
        resp = await post_signed(client, ws, body)
        assert resp.status_code == 400, (field, resp.text)
        assert resp.json()["error"]["details"] == {"field": field}
    deep = b'{"id": "m-deep", "contact": {"id": "c"}, "text": "hi", "x": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    resp = await post_signed(client, ws, deep)
    assert resp.status_code == 400 and "nested deeper" in resp.json()["error"]["message"]
    assert await stored_counts(runtime, ws.id) == before


async def _store_event(runtime, ws, sealed_body: bytes, dedupe: str) -> uuid.UUID:
    """An inbound event and its processing job as the intake stores them (the door would refuse the
    bodies these tests need, so they are written directly)."""
    from relaydesk.db.ids import uuid7
    from relaydesk.inbound.handover import PROCESS_KIND, job_payload
    from relaydesk.jobs.outbox import enqueue

    event_id = uuid7()
    async with runtime.db.write() as session:
        session.add(
            InboundEvent(
                id=event_id,
                workspace_id=ws.id,
                inbox_id=ws.api_inbox_id,
                channel_type="api",
                dedupe_key=dedupe,
                body=sealed_body,
            )
        )
        await session.flush()
        await enqueue(session, PROCESS_KIND, job_payload([str(event_id)]), workspace_id=ws.id)
    return event_id


async def _event_and_job(runtime, event_id):
    async with runtime.db.read() as session:
        event = await session.get(InboundEvent, event_id)
        job = (await session.execute(sa.select(Job).where(Job.kind == "inbound.process"))).scalar_one()
        inbox = await session.get(Inbox, event.inbox_id)
        return event, job, inbox


async def _run_until_final(runtime, run_jobs, event_id):
    """Run jobs until the event's job is no longer waiting for a retry (backoff is milliseconds here)."""
    for _ in range(50):
        await run_jobs()
        found = await _event_and_job(runtime, event_id)
        if found[1].state in ("dead", "done"):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"job still {found[1].state}")


async def test_poison_event_is_dead_lettered_and_shown_to_the_admin(
    client, runtime, make_workspace, run_jobs
):
    """An event that fails every attempt (here its stored body no longer opens) ends `failed` with the
    reason, its job dead, and its inbox counts it, in the API and on the admin Inboxes page."""
    from relaydesk.privacy import storage
    from tests.web.helpers import login

    ws = await make_workspace()
    other = await make_workspace()
    sealed_elsewhere = storage.seal_raw_body(other.id, fixture_bytes("message_text.json"))
    event_id = await _store_event(runtime, ws, sealed_elsewhere, "message:poison-1")
    event, job, inbox = await _run_until_final(runtime, run_jobs, event_id)
    assert job.state == "dead" and job.attempts == runtime.settings.job_max_attempts
    assert event.state == "failed" and event.error == job.last_error and event.processed_at is not None
    assert inbox.failed_events == 1 and job.last_error in inbox.last_error
    health = (await client.get(f"/api/v1/inboxes/{ws.api_inbox_id}", headers=ws.admin.headers)).json()[
        "health"
    ]
    assert health["failed_events"] == 1 and "could not be processed" in health["last_error"]
    await login(client, ws.owner.email, ws.owner.password)
    page = await client.get("/admin/inboxes")
    assert "1 inbound event(s) could not be processed" in page.text
    assert (await client.get("/admin/inboxes/health")).json()["items"][0]["failed_events"] == 1
    # Retrying the dead job by hand does not count the event twice.
    assert (await client.post(f"/api/v1/jobs/{job.id}/retry", headers=ws.admin.headers)).status_code == 200
    assert (await _run_until_final(runtime, run_jobs, event_id))[2].failed_events == 1
    # Nothing else was held back: the next message goes through.
    assert (await post_signed(client, ws, fixture_json("message_text.json"))).status_code == 202
    await run_jobs()
    assert len((await _thread(client, ws))[1]) == 1


async def test_data_the_database_refuses_dead_letters_at_once_without_its_values(
    client, runtime, make_workspace, run_jobs, backend
):
    """A value no column can hold (NUL on PostgreSQL) can never succeed: no retries, the event is failed
    with the database's reason, and the stored error holds no statement parameters (personal data)."""
    from relaydesk.privacy import storage

    ws = await make_workspace()
    body = fixture_json("message_text.json")
    body["contact"]["id"] = "ada-lovelace\x00"
    event_id = await _store_event(
        runtime, ws, storage.seal_raw_body(ws.id, json.dumps(body).encode()), "m:nul"
    )
    await run_jobs()
    event, job, inbox = await _event_and_job(runtime, event_id)
    if backend == "sqlite":  # SQLite stores NUL faithfully: the event is an ordinary message
        assert event.state == "processed" and job.state == "done"
        return
    assert job.state == "dead" and job.attempts == 1, job.last_error
    assert "refused the event's data" in job.last_error and "ada-lovelace" not in job.last_error
    assert event.state == "failed" and inbox.failed_events == 1
