"""Triage: every customer message in an inbox with the AI on gets its intent's label and priority, also
where people answer (auto_reply off) and after a handoff, logged as a `classify` decision; every switch
is respected, a person's choices are never fought, and a retried job changes nothing twice."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from relaydesk.actions import ai as ai_actions
from relaydesk.ai.agent import workspace_intents
from relaydesk.db.base import utcnow
from relaydesk.models import Conversation, ConversationLabel, Event, Inbox, Job, Message
from relaydesk.models.ai import AiDecision
from tests.ai_platform.conftest import decisions, thread
from tests.support.fixtures import count_rows

REFUND = "I want a refund for my order"
HELLO = "Hello there"


async def _map_refund(client, ws, priority: str = "high") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A `refunds` label, and the built-in `refund` intent mapped to it and to `priority`."""
    label = (await client.post("/api/v1/labels", json={"name": "refunds"}, headers=ws.admin.headers)).json()
    items = {
        i["name"]: i
        for i in (await client.get("/api/v1/ai/intents", headers=ws.agent.headers)).json()["items"]
    }
    resp = await client.patch(
        f"/api/v1/ai/intents/{items['refund']['id']}",
        json={"label_id": label["id"], "priority": priority},
        headers=ws.admin.headers,
    )
    assert resp.status_code == 200, resp.text
    detected = (
        await client.post("/api/v1/ai/intents/test", json={"text": REFUND}, headers=ws.agent.headers)
    ).json()
    assert detected["intent"] == "refund" and not detected["out_of_scope"], detected
    return label


async def _conv(client, ws, cid: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return (await client.get(f"/api/v1/conversations/{cid}", headers=ws.agent.headers)).json()


async def _labels(runtime, cid: str) -> list[str]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        rows = await session.execute(
            sa.select(ConversationLabel.label_id).where(ConversationLabel.conversation_id == uuid.UUID(cid))
        )
        return sorted(str(x) for x in rows.scalars())


async def _ai_messages(runtime, ws) -> int:  # type: ignore[no-untyped-def]
    return await count_rows(runtime, Message, workspace_id=ws.id, sender_kind="ai")


async def test_ai_on_without_auto_reply_classifies_and_never_replies(
    client, runtime, make_workspace, seed_kb, enable_ai, customer_says
):
    ws = await make_workspace()
    await seed_kb(ws)
    label = await _map_refund(client, ws)
    settings = await enable_ai(ws, auto_reply=False)
    assert settings["effective"]["auto_classify"] is True and settings["defaults"]["auto_classify"] is True
    await customer_says(ws, REFUND)
    cid, messages = await thread(client, ws)
    assert [m["sender_kind"] for m in messages] == ["customer"]
    assert await _ai_messages(runtime, ws) == 0
    assert await _labels(runtime, cid) == [label["id"]]
    assert (await _conv(client, ws, cid))["priority"] == "high"

    log = await decisions(client, ws, cid)
    assert len(log) == 1
    decision = log[0]
    assert decision["action"] == "classify" and decision["reply_message_id"] is None
    assert decision["message_id"] == messages[0]["id"]
    inputs = decision["inputs"]
    assert inputs["intent"] == "refund" and 0.5 <= inputs["confidence"] <= 1
    assert inputs["model_version"] is None  # the built-in model decided
    assert inputs["label_id"] == label["id"] and inputs["priority"] == "high"
    assert sorted(inputs["applied"]) == ["label", "priority"]

    # The changes went through the normal actions: the inbox sees them live, by an automated actor.
    async with runtime.db.read() as session:
        events = (
            await session.execute(
                sa.select(Event.type, Event.payload).where(Event.workspace_id == ws.id).order_by(Event.seq)
            )
        ).all()
    changed = [p["changed"] for t, p in events if t == "conversation.updated" and p.get("actor_id") is None]
    assert ["labels"] in changed and ["priority"] in changed
    assert any(t == "ai.decision" and p["action"] == "classify" for t, p in events)

    # The inbox panel knows the AI classifies here.
    state = (await client.get(f"/api/v1/conversations/{cid}/ai", headers=ws.agent.headers)).json()
    assert state["auto_reply"] is False and state["auto_classify"] is True

    # The same intent again changes nothing, so nothing new is decided or logged.
    await customer_says(ws, "Please refund my order, I want my money back")
    assert len(await decisions(client, ws, cid)) == 1
    # A person removes the label: automation does not put it back.
    resp = await client.put(
        f"/api/v1/conversations/{cid}/labels", json={"label_ids": []}, headers=ws.agent.headers
    )
    assert resp.status_code == 200
    await customer_says(ws, REFUND)
    assert await _labels(runtime, cid) == []
    assert len(await decisions(client, ws, cid)) == 1
    assert await _ai_messages(runtime, ws) == 0


async def test_auto_classify_off_classifies_nothing(
    client, runtime, make_workspace, enable_ai, customer_says
):
    ws = await make_workspace()
    await _map_refund(client, ws)
    await enable_ai(ws, auto_reply=False, auto_classify=False)
    await customer_says(ws, REFUND)
    # Neither replies nor classification: the inbox does not even queue the AI's job.
    assert await count_rows(runtime, Job, kind="ai.on_message") == 0
    cid, _ = await thread(client, ws)
    assert await decisions(client, ws, cid) == []
    assert await _labels(runtime, cid) == [] and (await _conv(client, ws, cid))["priority"] == "none"

    # With auto_reply on the agent answers, but applies no classification either.
    await enable_ai(ws, auto_reply=True)
    await customer_says(ws, REFUND)
    log = await decisions(client, ws, cid)
    assert len(log) == 1 and log[0]["action"] != "classify" and "classification" not in log[0]["inputs"]
    assert await _labels(runtime, cid) == [] and (await _conv(client, ws, cid))["priority"] == "none"

    # Validated like the other settings; an inbox can switch it on alone.
    for bad in ("yes", 1):
        resp = await client.put(
            "/api/v1/ai/settings", json={"settings": {"auto_classify": bad}}, headers=ws.admin.headers
        )
        assert resp.status_code == 400 and "auto_classify" in resp.json()["error"]["details"], resp.text
    resp = await client.put(
        f"/api/v1/ai/inboxes/{ws.api_inbox_id}/settings",
        json={"settings": {"auto_classify": True, "auto_reply": False}},
        headers=ws.admin.headers,
    )
    assert resp.status_code == 200 and resp.json()["effective"]["auto_classify"] is True
    await customer_says(ws, REFUND)
    assert [d["action"] for d in await decisions(client, ws, cid)][-1] == "classify"


async def test_an_objecting_contact_and_a_switched_off_conversation_are_not_classified(
    client, runtime, make_workspace, enable_ai, customer_says
):
    ws = await make_workspace()
    await _map_refund(client, ws)
    await enable_ai(ws, auto_reply=False)
    await customer_says(ws, HELLO, contact_id="c-objects")
    cid, _ = await thread(client, ws)
    contact_id = (await _conv(client, ws, cid))["contact"]["id"]
    resp = await client.put(
        f"/api/v1/contacts/{contact_id}/ai", json={"enabled": False}, headers=ws.agent.headers
    )
    assert resp.status_code == 200
    await customer_says(ws, REFUND, contact_id="c-objects")
    assert await decisions(client, ws, cid) == []
    assert await _labels(runtime, cid) == [] and (await _conv(client, ws, cid))["priority"] == "none"

    # The contact agrees again, but a person switched the AI off in this conversation.
    await client.put(f"/api/v1/contacts/{contact_id}/ai", json={"enabled": True}, headers=ws.agent.headers)
    resp = await client.put(
        f"/api/v1/conversations/{cid}/ai", json={"enabled": False}, headers=ws.agent.headers
    )
    assert resp.status_code == 200
    await customer_says(ws, REFUND, contact_id="c-objects")
    assert await decisions(client, ws, cid) == []
    assert await _labels(runtime, cid) == [] and (await _conv(client, ws, cid))["priority"] == "none"

    # Switched back on: the next message is classified.
    await client.put(f"/api/v1/conversations/{cid}/ai", json={"enabled": True}, headers=ws.agent.headers)
    await customer_says(ws, REFUND, contact_id="c-objects")
    assert [d["action"] for d in await decisions(client, ws, cid)] == ["classify"]


async def test_a_retried_job_neither_applies_nor_logs_twice(
    client, runtime, make_workspace, enable_ai, customer_says, run_jobs
):
    ws = await make_workspace()
    await _map_refund(client, ws)
    await enable_ai(ws, auto_reply=False)
    await customer_says(ws, REFUND)
    cid, messages = await thread(client, ws)
    assert len(await decisions(client, ws, cid)) == 1

    async def _events() -> int:
        return await count_rows(runtime, Event, workspace_id=ws.id)

    before = await _events()
    # The job runs again (a retry after a lost lease): it finds the message's decision and stops.
    async with runtime.db.write() as session:
        await session.execute(
            sa.update(Job).where(Job.kind == "ai.on_message").values(state="pending", run_at=utcnow())
        )
    await run_jobs()
    # Two writers that both got past the read (a race): the second finds the first one's decision.
    async with runtime.db.read() as session:
        intent = await workspace_intents.detect(session, ws.id, REFUND)
        settings, _ = await ai_actions.effective_settings(session, ws.id, ws.api_inbox_id)
    async with runtime.db.write() as session:
        conv = await session.get(Conversation, uuid.UUID(cid))
        again = await ai_actions.apply_triage(session, conv, uuid.UUID(messages[0]["id"]), intent, settings)
    assert again is not None and again.action == "classify"
    assert len(await decisions(client, ws, cid)) == 1
    assert await _events() == before
    assert await count_rows(runtime, AiDecision, workspace_id=ws.id) == 1


async def test_a_priority_a_person_chose_stays(client, runtime, make_workspace, enable_ai, customer_says):
    ws = await make_workspace()
    label = await _map_refund(client, ws, priority="urgent")
    await enable_ai(ws, auto_reply=False)
    await customer_says(ws, HELLO)
    cid, _ = await thread(client, ws)
    assert await decisions(client, ws, cid) == []  # a greeting maps to nothing
    resp = await client.patch(
        f"/api/v1/conversations/{cid}", json={"priority": "low"}, headers=ws.agent.headers
    )
    assert resp.status_code == 200
    await customer_says(ws, REFUND)
    assert (await _conv(client, ws, cid))["priority"] == "low"
    assert await _labels(runtime, cid) == [label["id"]]
    (decision,) = await decisions(client, ws, cid)
    assert decision["inputs"]["applied"] == ["label"] and decision["inputs"]["priority"] == "urgent"


async def test_automation_raises_its_own_priority_but_not_a_persons(
    client, runtime, make_workspace, enable_ai, customer_says
):
    ws = await make_workspace()
    await _map_refund(client, ws, priority="medium")
    items = {
        i["name"]: i
        for i in (await client.get("/api/v1/ai/intents", headers=ws.agent.headers)).json()["items"]
    }
    await client.patch(
        f"/api/v1/ai/intents/{items['complaint']['id']}",
        json={"priority": "urgent"},
        headers=ws.admin.headers,
    )
    complaint = "I want to file a formal complaint about your terrible service"
    detected = (
        await client.post("/api/v1/ai/intents/test", json={"text": complaint}, headers=ws.agent.headers)
    ).json()
    assert detected["intent"] == "complaint" and not detected["out_of_scope"], detected
    await enable_ai(ws, auto_reply=False)
    await customer_says(ws, REFUND)
    cid, _ = await thread(client, ws)
    assert (await _conv(client, ws, cid))["priority"] == "medium"
    await customer_says(ws, complaint)
    assert (await _conv(client, ws, cid))["priority"] == "urgent"  # automation set medium: it may raise it
    assert [d["inputs"]["applied"] for d in await decisions(client, ws, cid)] == [
        ["label", "priority"],
        ["priority"],
    ]

    # In another conversation a person changes the priority automation set: from then on it is theirs.
    await customer_says(ws, REFUND, contact_id="c-2")
    convs = (await client.get("/api/v1/conversations?status=all", headers=ws.agent.headers)).json()["items"]
    other = next(c["id"] for c in convs if c["id"] != cid)
    await client.patch(f"/api/v1/conversations/{other}", json={"priority": "low"}, headers=ws.agent.headers)
    await customer_says(ws, complaint, contact_id="c-2")
    assert (await _conv(client, ws, other))["priority"] == "low"


async def test_auto_reply_on_classifies_once_on_the_agents_turn_and_handed_off_still_triaged(
    client, runtime, make_workspace, seed_kb, enable_ai, customer_says
):
    ws = await make_workspace()
    await seed_kb(ws)
    label = await _map_refund(client, ws, priority="medium")
    await enable_ai(ws)
    await customer_says(ws, REFUND)
    cid, _ = await thread(client, ws)
    log = await decisions(client, ws, cid)
    # One decision, the agent's, carrying the classification; no separate classify decision.
    assert len(log) == 1 and log[0]["action"] != "classify"
    assert sorted(log[0]["inputs"]["classification"]["applied"]) == ["label", "priority"]
    assert await _labels(runtime, cid) == [label["id"]]

    # The customer asks for a person: handed off. People answer from now on, but triage goes on.
    await customer_says(ws, "I want to talk to a human please")
    replies = await _ai_messages(runtime, ws)
    state = (await client.get(f"/api/v1/conversations/{cid}/ai", headers=ws.agent.headers)).json()
    assert state["handed_off_at"] and state["ai_enabled"] is False
    await client.put(f"/api/v1/conversations/{cid}/labels", json={"label_ids": []}, headers=ws.agent.headers)
    await client.patch(f"/api/v1/conversations/{cid}", json={"priority": "none"}, headers=ws.agent.headers)
    await customer_says(ws, REFUND)
    log = await decisions(client, ws, cid)
    assert log[-1]["action"] == "classify" and log[-1]["inputs"]["applied"] == ["priority"]
    assert await _labels(runtime, cid) == []  # removed by a person: not added again
    assert (await _conv(client, ws, cid))["priority"] == "medium"
    assert await _ai_messages(runtime, ws) == replies  # and never a reply


async def test_contesting_a_classification_hands_to_people_and_stops_triage(
    client, runtime, make_workspace, enable_ai, customer_says
):
    ws = await make_workspace()
    other = await make_workspace("Other")
    await _map_refund(client, ws)
    await enable_ai(ws, auto_reply=False)
    await customer_says(ws, REFUND)
    cid, _ = await thread(client, ws)
    (decision,) = await decisions(client, ws, cid)
    url = f"/api/v1/ai/decisions/{decision['id']}/contest"
    # Another workspace's people cannot see or contest it.
    assert (await client.post(url, json={}, headers=other.agent.headers)).status_code == 404
    assert (
        await client.get(f"/api/v1/conversations/{cid}/ai-decisions", headers=other.agent.headers)
    ).status_code == 404
    resp = await client.post(url, json={"note": "not a refund"}, headers=ws.agent.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["contested"] is True and resp.json()["contest_note"] == "not a refund"
    state = (await client.get(f"/api/v1/conversations/{cid}/ai", headers=ws.agent.headers)).json()
    assert state["ai_enabled"] is False and state["reason"] == "classification_contested"
    assert state["handed_off_at"]
    _, messages = await thread(client, ws)
    notes = [m for m in messages if m["private"] and m["sender_kind"] == "ai"]
    assert len(notes) == 1 and "contested" in notes[0]["content"]
    assert [m for m in messages if not m["private"] and m["sender_kind"] == "ai"] == []
    await client.patch(f"/api/v1/conversations/{cid}", json={"priority": "none"}, headers=ws.agent.headers)
    await customer_says(ws, REFUND)
    assert len(await decisions(client, ws, cid)) == 1
    assert (await _conv(client, ws, cid))["priority"] == "none"


async def test_flags_written_before_triage_are_repaired(client, runtime, make_workspace, enable_ai, run_jobs):
    ws = await make_workspace()
    await enable_ai(ws, auto_reply=False)
    async with runtime.db.write() as session:
        inbox = await session.get(Inbox, ws.api_inbox_id)
        assert inbox.settings[ai_actions.INBOX_FLAG] is True
        inbox.settings = {**inbox.settings, ai_actions.INBOX_FLAG: False}  # the rule before triage
    assert runtime.dispatcher is not None
    await runtime.dispatcher.enqueue_periodic()
    await run_jobs()
    async with runtime.db.read() as session:
        assert (await session.get(Inbox, ws.api_inbox_id)).settings[ai_actions.INBOX_FLAG] is True
