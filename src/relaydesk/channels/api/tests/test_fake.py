"""The API channel's loopback fake plays both halves of an integrator against the real door and the real
delivery job: a message signed and posted in, the agent's reply delivered signed to the fake's endpoint."""

from __future__ import annotations

from relaydesk.channels.api.fake import ApiIntegrator
from relaydesk.channels.api.tests.support import agent_reply, fixture_json


async def test_the_fake_integrator_round_trip(client, run_jobs, make_workspace):
    integrator = await ApiIntegrator().start()
    try:
        ws = await make_workspace(webhook_url=integrator.endpoint.url)
        integrator.bind(ws.inbound_secret, ws.outbound_secret)
        resp = await integrator.send(client, ws.api_inbox_public_id, fixture_json("message_text.json"))
        assert resp.status_code == 202, resp.text
        forged = (
            await ApiIntegrator()
            .bind("whsec_" + "A" * 44, ws.outbound_secret)
            .send(client, ws.api_inbox_public_id, fixture_json("message_text.json"))
        )
        assert forged.status_code == 401
        await run_jobs()
        convs = (await client.get("/api/v1/conversations", headers=ws.agent.headers)).json()["items"]
        message_id = await agent_reply(client, ws, str(convs[0]["id"]), "Shipped today")
        await run_jobs()
        [received] = integrator.endpoint.received
        assert received.json["id"] == message_id and received.json["text"] == "Shipped today"
        assert integrator.endpoint.accepted_ids == [message_id] and integrator.endpoint.rejected == 0
    finally:
        await integrator.stop()
