"""The whole path of a message: signed inbound request -> stored message -> event -> agent reply ->
job -> signed outbound webhook delivered to the integrator."""

from __future__ import annotations

import json

from relaydesk.channels.api.client import signed_request_headers
from relaydesk.channels.api.fake import WebhookReceiver
from relaydesk.models import Event, Message
from tests.support.fixtures import count_rows


async def test_message_round_trip(client, runtime, make_workspace, run_jobs):
    receiver = await WebhookReceiver().start()
    try:
        ws = await make_workspace(webhook_url=receiver.url)
        receiver.secret = ws.outbound_secret
        body = json.dumps(
            {"id": "m-1", "contact": {"id": "cust-1", "name": "Ada"}, "text": "Where is my order?"}
        ).encode()
        resp = await client.post(
            f"/inbound/api/{ws.api_inbox_public_id}",
            content=body,
            headers=signed_request_headers(ws.inbound_secret, body),
        )
        assert resp.status_code == 202, resp.text
        assert await count_rows(runtime, Message, workspace_id=ws.id) == 0  # acknowledged before processing
        await run_jobs()
        convs = (await client.get("/api/v1/conversations", headers=ws.agent.headers)).json()["items"]
        assert len(convs) == 1
        assert convs[0]["last_message"]["preview"] == "Where is my order?"
        assert convs[0]["contact"]["name"] == "Ada"
        assert await count_rows(runtime, Event, workspace_id=ws.id, type="message.created") == 1

        reply = await client.post(
            f"/api/v1/conversations/{convs[0]['id']}/messages",
            json={"content": "It ships today."},
            headers=ws.agent.headers,
        )
        assert reply.status_code == 201, reply.text
        assert reply.json()["status"] == "pending"
        await run_jobs()
        assert receiver.accepted_ids == [reply.json()["id"]]
        sent = receiver.received[-1].json
        assert sent["text"] == "It ships today."
        assert sent["contact"]["id"] == "cust-1"
        thread = (
            await client.get(f"/api/v1/conversations/{convs[0]['id']}/messages", headers=ws.agent.headers)
        ).json()
        assert [m["status"] for m in thread["items"]] == ["delivered", "sent"]
    finally:
        await receiver.stop()
