"""Agent assist: knowledge and past-reply suggestions, summary, sentiment, suggested labels."""

from __future__ import annotations

from tests.ai_platform.conftest import thread


async def test_assist_suggests_from_knowledge_and_past_agent_replies(
    client, runtime, make_workspace, seed_kb, customer_says
):
    ws = await make_workspace()
    await seed_kb(ws)
    for name, desc in [
        ("shipping", "Delivery times, parcels and couriers"),
        ("billing", "Invoices and payments"),
    ]:
        resp = await client.post(
            "/api/v1/labels", json={"name": name, "description": desc}, headers=ws.admin.headers
        )
        assert resp.status_code == 201, resp.text
    # A past conversation in which an agent answered a similar question.
    await customer_says(
        ws, "My parcel has not arrived yet, where is it?", contact_id="old-1", name="Old Customer"
    )
    cid_old, _ = await thread(client, ws)
    past = "Sorry about that! Couriers are slow this week; I've opened a trace with DHL for you."
    await client.post(
        f"/api/v1/conversations/{cid_old}/messages", json={"content": past}, headers=ws.agent.headers
    )
    await client.patch(
        f"/api/v1/conversations/{cid_old}", json={"status": "resolved"}, headers=ws.agent.headers
    )

    await customer_says(
        ws,
        "Hello. My parcel still has not arrived and I'm getting annoyed. Where is my delivery?",
        contact_id="new-1",
        name="New Customer",
    )
    convs = (await client.get("/api/v1/conversations?status=open", headers=ws.agent.headers)).json()["items"]
    cid = convs[0]["id"]
    resp = await client.get(f"/api/v1/conversations/{cid}/assist", headers=ws.agent.headers)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    sources = {s["source"] for s in out["suggested_replies"]}
    assert sources == {"knowledge", "past_reply"}, out["suggested_replies"]
    assert any(s["text"] == past for s in out["suggested_replies"])
    kb = next(s for s in out["suggested_replies"] if s["source"] == "knowledge")
    assert kb["title"] == "How long does delivery take?"
    assert out["summary"] and all(
        s in "Hello. My parcel still has not arrived and I'm getting annoyed. Where is my delivery?"
        for s in out["summary"]
    )
    assert out["sentiment"]["label"] == "negative"
    assert out["suggested_labels"][0]["name"] == "shipping"
    assert "intent" in out

    other = await make_workspace("Other")
    assert (
        await client.get(f"/api/v1/conversations/{cid}/assist", headers=other.agent.headers)
    ).status_code == 404
