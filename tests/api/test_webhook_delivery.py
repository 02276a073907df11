"""Outgoing webhooks: ordered, signed delivery over the events table, backoff on failure, SSRF guard."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from relaydesk.channels.api.fake import WebhookReceiver
from relaydesk.models import Event, Job, WebhookEndpoint
from relaydesk.outbound.ssrf import OutboundHttp

API = "/api/v1"


async def pump(runtime, run_jobs) -> None:
    """What the periodic scheduler does every few seconds, then drain the jobs it enqueued."""
    async with runtime.db.write() as session:
        await session.execute(sa.delete(Job).where(Job.kind == "webhooks.pump"))
    await runtime.dispatcher.enqueue_periodic()
    await run_jobs()


async def subscribe(client, ws, url: str, types: list[str] | None = None) -> dict:
    body = {"url": url} if types is None else {"url": url, "event_types": types}
    resp = await client.post(f"{API}/webhooks", json=body, headers=ws.admin.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def endpoint(client, ws, hook_id: str) -> dict:
    return (await client.get(f"{API}/webhooks/{hook_id}", headers=ws.admin.headers)).json()


async def test_events_delivered_in_order_signed_without_message_text(
    client, runtime, make_workspace, run_jobs
):
    receiver = await WebhookReceiver().start()
    try:
        ws = await make_workspace()
        hook = await subscribe(client, ws, receiver.url, ["label.*", "message.created", "contact.created"])
        receiver.secret = hook["secret"]
        assert hook["secret"].startswith("whsec_")
        shown = await endpoint(client, ws, hook["id"])
        assert "secret" not in shown
        for name in ("a", "b", "c"):
            await client.post(f"{API}/labels", json={"name": name}, headers=ws.admin.headers)
        contact = (
            await client.post(f"{API}/contacts", json={"name": "Zed"}, headers=ws.agent.headers)
        ).json()
        await client.post(f"{API}/teams", json={"name": "not subscribed"}, headers=ws.admin.headers)
        conv = await client.post(
            f"{API}/conversations",
            json={"inbox_id": str(ws.api_inbox_id), "contact_id": contact["id"]},
            headers=ws.agent.headers,
        )
        note = await client.post(
            f"{API}/conversations/{conv.json()['id']}/messages",
            json={"content": "secret internal remark", "private": True},
            headers=ws.agent.headers,
        )
        assert note.status_code == 201
        await pump(runtime, run_jobs)

        bodies = [r.json for r in receiver.received]
        assert [b["type"] for b in bodies] == [
            "label.created",
            "label.created",
            "label.created",
            "contact.created",
            "message.created",
        ]
        seqs = [b["seq"] for b in bodies]
        assert seqs == sorted(seqs)
        assert receiver.rejected == 0 and len(receiver.accepted_ids) == 5
        assert all(r.headers["webhook-id"] == r.json["id"] for r in receiver.received)
        assert all(
            b"secret internal remark" not in r.body and b"Zed" not in r.body for r in receiver.received
        )
        assert bodies[-1]["data"]["message_id"] == note.json()["id"]

        async with runtime.db.read() as session:
            top = (
                await session.execute(sa.select(sa.func.max(Event.seq)).where(Event.workspace_id == ws.id))
            ).scalar()
        state = await endpoint(client, ws, hook["id"])
        assert state["delivery"]["last_seq"] == top  # skipped (unsubscribed) events move the cursor too
        assert state["delivery"]["failure_count"] == 0 and state["delivery"]["last_delivered_at"]

        # Idle: the pump enqueues nothing when no endpoint is behind.
        async with runtime.db.read() as session:
            before = (await session.execute(sa.select(sa.func.count()).select_from(Job))).scalar()
        await pump(runtime, run_jobs)
        async with runtime.db.read() as session:
            after = (await session.execute(sa.select(sa.func.count()).select_from(Job))).scalar()
        assert after == before  # only the pump job itself, which replaced the old one
        assert len(receiver.received) == 5
    finally:
        await receiver.stop()


async def test_failure_holds_the_line_with_backoff_and_visible_error(
    client, runtime, make_workspace, run_jobs
):
    receiver = await WebhookReceiver(fail_next=[500, 503]).start()
    try:
        ws = await make_workspace()
        hook = await subscribe(client, ws, receiver.url, ["label.created"])
        receiver.secret = hook["secret"]
        await client.post(f"{API}/labels", json={"name": "first"}, headers=ws.admin.headers)
        await client.post(f"{API}/labels", json={"name": "second"}, headers=ws.admin.headers)
        await pump(runtime, run_jobs)
        state = await endpoint(client, ws, hook["id"])
        assert state["delivery"]["failure_count"] == 1
        assert state["delivery"]["last_error"] == "HTTP 500" and state["delivery"]["next_attempt_at"]
        assert len(receiver.received) == 1  # the second event waits behind the first

        for _ in range(20):
            await asyncio.sleep(0.06)  # test backoff is at most 0.05 s
            await pump(runtime, run_jobs)
            if len(receiver.accepted_ids) == 2:
                break
        names = [r.json["data"]["label_id"] for r in receiver.received]
        # 500, 503, then the first event again and the second: same webhook-id on every try of one event.
        ids = [r.headers["webhook-id"] for r in receiver.received]
        assert ids[0] == ids[1] == ids[2] and ids[3] != ids[0]
        assert len(names) == 4 and len(receiver.accepted_ids) == 2
        state = await endpoint(client, ws, hook["id"])
        assert state["delivery"]["failure_count"] == 0 and state["delivery"]["last_error"] == "HTTP 503"
    finally:
        await receiver.stop()


async def test_gone_disables_and_reactivation_resumes(client, runtime, make_workspace, run_jobs):
    receiver = await WebhookReceiver(fail_next=[410]).start()
    try:
        ws = await make_workspace()
        hook = await subscribe(client, ws, receiver.url)
        await client.post(f"{API}/labels", json={"name": "x"}, headers=ws.admin.headers)
        await pump(runtime, run_jobs)
        state = await endpoint(client, ws, hook["id"])
        assert state["is_active"] is False and state["delivery"]["last_error"] == "HTTP 410"
        on = await client.patch(
            f"{API}/webhooks/{hook['id']}", json={"is_active": True}, headers=ws.admin.headers
        )
        assert on.status_code == 200
        await pump(runtime, run_jobs)
        assert len(receiver.accepted_ids) == 1
    finally:
        await receiver.stop()


async def test_private_targets_refused_unless_the_operator_allows_them_for_webhooks(
    client, runtime, make_workspace, run_jobs, public_only
):
    receiver = await WebhookReceiver().start()
    try:
        ws = await make_workspace()
        hook = await subscribe(client, ws, receiver.url, ["label.*"])
        await client.post(f"{API}/labels", json={"name": "x"}, headers=ws.admin.headers)
        await pump(runtime, run_jobs)
        assert receiver.received == []
        state = await endpoint(client, ws, hook["id"])
        assert "not a public address" in state["delivery"]["last_error"]

        # A workspace admin cannot switch the guard off: the setting is gone from the API.
        refused = await client.patch(
            f"{API}/workspace",
            json={"settings": {"allow_private_webhook_targets": True}},
            headers=ws.owner.headers,
        )
        assert refused.status_code == 400

        # Allowing another purpose changes nothing for webhooks.
        runtime.services.http = OutboundHttp(timeout=2.0, allow_private=frozenset({"channels", "ai"}))
        await asyncio.sleep(0.06)
        await pump(runtime, run_jobs)
        assert receiver.received == []
        await runtime.services.http.aclose()

        # The operator allows private targets for webhooks: the delivery goes through.
        runtime.services.http = OutboundHttp(timeout=2.0, allow_private=frozenset({"webhooks"}))
        await asyncio.sleep(0.06)
        await pump(runtime, run_jobs)
        assert len(receiver.accepted_ids) == 1
        await runtime.services.http.aclose()
        runtime.services.http = public_only
    finally:
        await receiver.stop()


async def test_webhook_crud_validation_and_roles(client, runtime, make_workspace):
    ws = await make_workspace()
    assert (await client.get(f"{API}/webhooks", headers=ws.agent.headers)).status_code == 403
    for bad in (
        {"url": "ftp://example.com/x"},
        {"url": "http://user:pw@example.com/"},
        {"url": "not a url"},
        {"url": "https://example.com/", "event_types": []},
        {"url": "https://example.com/", "event_types": ["Bad Type"]},
        {"url": "https://example.com/", "event_types": ["mesage.created"]},  # typo: nobody emits it
        {"url": "https://example.com/", "event_types": ["orders.*"]},  # no such family
        {"url": "https://example.com/", "extra": 1},
    ):
        resp = await client.post(f"{API}/webhooks", json=bad, headers=ws.admin.headers)
        assert resp.status_code == 400, (bad, resp.text)
    async with runtime.db.read() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(WebhookEndpoint))).scalar() == 0
    hook = await subscribe(client, ws, "https://example.com/hook", ["conversation.*"])
    rotated = await client.post(f"{API}/webhooks/{hook['id']}/rotate-secret", headers=ws.admin.headers)
    assert rotated.status_code == 200 and rotated.json()["secret"] != hook["secret"]
    listed = (await client.get(f"{API}/webhooks", headers=ws.admin.headers)).json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    upd = await client.patch(
        f"{API}/webhooks/{hook['id']}",
        json={"event_types": ["*"], "description": "all"},
        headers=ws.admin.headers,
    )
    assert upd.json()["event_types"] == ["*"]
    assert (await client.delete(f"{API}/webhooks/{hook['id']}", headers=ws.admin.headers)).status_code == 204
