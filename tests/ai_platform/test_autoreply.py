"""The automated agent end to end: signed inbound message -> ai.on_message job -> answer with citation,
clarify, offer, handoff; switch-offs; contest; the decision log; redaction before an external LLM."""

from __future__ import annotations

from relaydesk.channels.api.fake import WebhookReceiver
from relaydesk.models import Conversation, Job, Message
from tests.ai_platform.conftest import decisions, thread
from tests.ai_platform.fake_openai import text_reply
from tests.support.fixtures import count_rows


async def _team(runtime, ws, name="Support"):  # type: ignore[no-untyped-def]
    from relaydesk.models import Team

    async with runtime.db.write() as session:
        team = Team(workspace_id=ws.id, name=name)
        session.add(team)
    return team.id


async def test_answers_from_the_knowledge_base_with_its_source_and_delivers(
    client, runtime, make_workspace, seed_kb, enable_ai, customer_says
):
    receiver = await WebhookReceiver().start()
    try:
        ws = await make_workspace(webhook_url=receiver.url)
        receiver.secret = ws.outbound_secret
        await seed_kb(ws)
        await enable_ai(ws)
        await customer_says(ws, "How long does delivery take to Germany?")
        cid, msgs = await thread(client, ws)
        reply = msgs[-1]
        assert reply["sender_kind"] == "ai" and reply["message_type"] == "outgoing"
        assert "3 to 5 working days" in reply["content"]
        assert "Source: How long does delivery take? — https://help.example.com/delivery" in reply["content"]
        assert reply["status"] == "sent"  # through the normal outbound job
        assert receiver.received[-1].json["text"] == reply["content"]
        log = await decisions(client, ws, cid)
        assert [d["action"] for d in log] == ["answer"]
        d = log[0]
        assert d["message_id"] == msgs[0]["id"] and d["reply_message_id"] == reply["id"]
        assert d["sources"][0]["title"] == "How long does delivery take?" and d["provider"] == "local"
        assert d["inputs"]["top_similarity"] >= 0.5 and d["inputs"]["retrieval"][0]["chunk_id"]
        # No message text in the log.
        assert "Germany" not in str(d)
    finally:
        await receiver.stop()


async def test_unsupported_question_gets_one_clarification_then_a_handoff(
    client, runtime, make_workspace, seed_kb, enable_ai, customer_says
):
    ws = await make_workspace()
    team_id = await _team(runtime, ws)
    await seed_kb(ws)
    await enable_ai(ws, handoff_team_id=str(team_id))
    await customer_says(ws, "Do you sell bicycles?", name="Grace Hopper")
    await customer_says(ws, "Mountain bikes with electric motors, for adults.", name="Grace Hopper")
    cid, msgs = await thread(client, ws)
    log = await decisions(client, ws, cid)
    assert [d["action"] for d in log] == ["clarify", "handoff"]
    assert log[1]["reason_category"] == "missing_knowledge"
    note = next(m for m in msgs if m["private"])
    assert note["sender_kind"] == "ai" and "missing_knowledge" in note["content"]
    assert "bicycles" in note["content"]  # the extractive summary quotes the customer
    conv = (await client.get(f"/api/v1/conversations/{cid}", headers=ws.agent.headers)).json()
    assert (
        conv["status"] == "open" and conv["team"]["id"] == str(team_id)
        if "team" in conv
        else conv["team_id"] == str(team_id)
    )
    # Once handed off the AI stays silent in this conversation.
    await customer_says(ws, "Hello? How long does delivery take?", name="Grace Hopper")
    assert len(await decisions(client, ws, cid)) == 2
    state = (await client.get(f"/api/v1/conversations/{cid}/ai", headers=ws.agent.headers)).json()
    assert state["ai_enabled"] is False and state["handed_off_at"]


async def test_asking_for_a_person_hands_off_at_once(
    client, runtime, make_workspace, seed_kb, enable_ai, customer_says
):
    ws = await make_workspace()
    await seed_kb(ws)
    await enable_ai(ws)
    await customer_says(ws, "How long does delivery take?")
    await customer_says(ws, "I want to talk to a human please")
    cid, msgs = await thread(client, ws)
    log = await decisions(client, ws, cid)
    assert [d["action"] for d in log] == ["answer", "handoff"]
    assert log[1]["reason_category"] == "customer_request"
    assert msgs[-2]["content"].startswith("I'm passing this conversation") or msgs[-1]["private"]
    assert (await client.get(f"/api/v1/conversations/{cid}/ai", headers=ws.agent.headers)).json()[
        "ai_enabled"
    ] is False


async def test_objection_switches_ai_off_for_the_contact_everywhere(
    client, runtime, make_workspace, seed_kb, enable_ai, customer_says
):
    ws = await make_workspace()
    await seed_kb(ws)
    await enable_ai(ws)
    await customer_says(ws, "I don't want to talk to a bot.")
    cid, _ = await thread(client, ws)
    log = await decisions(client, ws, cid)
    assert log[0]["action"] == "handoff" and "objected" not in str(log[0]["inputs"])
    conv = (await client.get(f"/api/v1/conversations/{cid}", headers=ws.agent.headers)).json()
    contact_id = conv["contact"]["id"] if "contact" in conv else conv["contact_id"]
    assert (await client.get(f"/api/v1/contacts/{contact_id}/ai", headers=ws.agent.headers)).json()[
        "ai_enabled"
    ] is False
    # A new conversation of the same contact: no AI.
    await client.patch(f"/api/v1/conversations/{cid}", json={"status": "resolved"}, headers=ws.agent.headers)
    await customer_says(ws, "How long does delivery take?")
    assert await count_rows(runtime, Conversation, workspace_id=ws.id) == 2
    from relaydesk.models import AiDecision

    assert await count_rows(runtime, AiDecision, workspace_id=ws.id) == 1
    # The agent can switch it back on (the customer changed their mind).
    resp = await client.put(
        f"/api/v1/contacts/{contact_id}/ai", json={"enabled": True}, headers=ws.agent.headers
    )
    assert resp.status_code == 200


async def test_contesting_an_answer_hands_off_and_marks_the_decision(
    client, runtime, make_workspace, seed_kb, enable_ai, customer_says
):
    ws = await make_workspace()
    await seed_kb(ws)
    await enable_ai(ws)
    await customer_says(ws, "How long does delivery take?")
    await customer_says(ws, "That's wrong, it took two weeks last time.")
    cid, _ = await thread(client, ws)
    log = await decisions(client, ws, cid)
    assert [d["action"] for d in log] == ["answer", "handoff"]
    assert log[0]["contested"] is True and log[1]["reason_category"] == "contested"


async def test_contest_api_and_bad_input(client, runtime, make_workspace, seed_kb, enable_ai, customer_says):
    ws = await make_workspace()
    other = await make_workspace("Other")
    await seed_kb(ws)
    await enable_ai(ws)
    await customer_says(ws, "How long does delivery take?")
    cid, _ = await thread(client, ws)
    decision = (await decisions(client, ws, cid))[0]
    url = f"/api/v1/ai/decisions/{decision['id']}/contest"
    assert (await client.post(url, json={"note": "x" * 501}, headers=ws.agent.headers)).status_code == 400
    assert (await client.post(url, json={}, headers=other.agent.headers)).status_code == 404
    resp = await client.post(url, json={"note": "customer called: wrong country"}, headers=ws.agent.headers)
    assert resp.status_code == 200 and resp.json()["contested"] is True
    assert (await client.post(url, json={}, headers=ws.agent.headers)).status_code == 409
    state = (await client.get(f"/api/v1/conversations/{cid}/ai", headers=ws.agent.headers)).json()
    assert state["ai_enabled"] is False
    assert (
        await client.get(f"/api/v1/conversations/{cid}/ai-decisions", headers=other.agent.headers)
    ).status_code == 404


async def test_frustration_offers_a_person_once_then_hands_off(
    client, runtime, make_workspace, seed_kb, enable_ai, customer_says
):
    ws = await make_workspace()
    await seed_kb(ws)
    await enable_ai(ws)
    await customer_says(ws, "This is ridiculous, my order is late again and nobody helps. Terrible service!")
    await customer_says(ws, "Useless. Absolutely awful, the worst shop ever.")
    await customer_says(ws, "Still awful, I am furious and disgusted.")
    cid, _ = await thread(client, ws)
    actions = [d["action"] for d in await decisions(client, ws, cid)]
    assert "offer_handoff" in actions and actions[-1] == "handoff", actions
    assert actions.count("offer_handoff") == 1


async def test_switch_offs_and_settings(client, runtime, make_workspace, seed_kb, enable_ai, customer_says):
    ws = await make_workspace()
    await seed_kb(ws)
    # Off by default: no job at all.
    await customer_says(ws, "How long does delivery take?")
    assert await count_rows(runtime, Job, kind="ai.on_message") == 0
    await enable_ai(ws)
    # Off for this inbox only.
    resp = await client.put(
        f"/api/v1/ai/inboxes/{ws.api_inbox_id}/settings",
        json={"settings": {"enabled": False}},
        headers=ws.admin.headers,
    )
    assert resp.status_code == 200 and resp.json()["effective"]["enabled"] is False
    await customer_says(ws, "How long does delivery take?")
    assert await count_rows(runtime, Job, kind="ai.on_message") == 0
    # Back to the workspace default (null removes the override).
    resp = await client.put(
        f"/api/v1/ai/inboxes/{ws.api_inbox_id}/settings",
        json={"settings": {"enabled": None}},
        headers=ws.admin.headers,
    )
    assert resp.json()["effective"]["enabled"] is True and resp.json()["settings"] == {}
    cid, _ = await thread(client, ws)
    # Off for this conversation.
    assert (
        await client.put(f"/api/v1/conversations/{cid}/ai", json={"enabled": False}, headers=ws.agent.headers)
    ).status_code == 200
    await customer_says(ws, "How long does delivery take?")
    assert await decisions(client, ws, cid) == []
    assert (
        await client.put(f"/api/v1/conversations/{cid}/ai", json={"enabled": True}, headers=ws.agent.headers)
    ).status_code == 200
    await customer_says(ws, "How long does delivery take to Germany?")
    assert [d["action"] for d in await decisions(client, ws, cid)] == ["answer"]
    # A person replying takes the conversation over.
    await client.post(
        f"/api/v1/conversations/{cid}/messages", json={"content": "Hi, Sam here."}, headers=ws.agent.headers
    )
    await customer_says(ws, "How long does delivery take?")
    assert len(await decisions(client, ws, cid)) == 1

    # Bad settings are refused and change nothing.
    before = (await client.get("/api/v1/ai/settings", headers=ws.admin.headers)).json()
    for bad in [
        {"provider": "gpt"},
        {"answer_min_similarity": 2},
        {"nope": 1},
        {"enabled": "yes"},
        {"provider": "openai"},
        {"handoff_team_id": "not-a-uuid"},
        {"openai_base_url": "ftp://x"},
    ]:
        resp = await client.put("/api/v1/ai/settings", json={"settings": bad}, headers=ws.admin.headers)
        assert resp.status_code == 400, (bad, resp.text)
        assert resp.json()["error"]["code"] == "invalid"
    assert (await client.get("/api/v1/ai/settings", headers=ws.admin.headers)).json() == before
    assert (
        await client.put("/api/v1/ai/settings", json={"settings": {}}, headers=ws.agent.headers)
    ).status_code == 403


async def test_openai_provider_never_receives_personal_data(
    client, runtime, make_workspace, seed_kb, enable_ai, customer_says, fake_openai
):
    ws = await make_workspace()
    await seed_kb(ws)
    fake_openai.reply = text_reply("Standard delivery takes 3 to 5 working days [1].")
    settings = await enable_ai(
        ws,
        api_key=fake_openai.api_key,
        provider="openai",
        openai_base_url=fake_openai.base_url,
        openai_model=fake_openai.model,
    )
    assert settings["api_key_set"] is True and "sk-test-key" not in str(settings)
    assert settings["probe"]["ok"] and settings["probe"]["tool_calling"] is True  # probed on save
    await customer_says(
        ws,
        "Hi, I'm Ada Lovelace, ada@example.org or +44 20 7946 0958. How long does delivery take?",
        email="ada@example.org",
        phone="+442079460958",
    )
    cid, msgs = await thread(client, ws)
    assert msgs[-1]["content"].startswith("Standard delivery takes 3 to 5 working days.")
    assert "Source: How long does delivery take?" in msgs[-1]["content"]
    chats = [
        r for r in fake_openai.requests if r["path"] == "/v1/chat/completions" and not r["body"].get("tools")
    ]
    assert chats, fake_openai.requests
    seen = fake_openai.bodies_text()
    for secret in ("ada@example.org", "7946", "0958", "Lovelace"):
        assert secret not in seen, secret
    assert "[EMAIL]" in seen and "[PHONE]" in seen and "[NAME]" in seen
    log = await decisions(client, ws, cid)
    assert log[-1]["provider"] == "openai" and log[-1]["action"] == "answer"

    # The sentinel: the model says it has no answer -> a clarifying question, not an invented answer.
    fake_openai.reply = text_reply("<NOANS>")
    await customer_says(ws, "How long does delivery take for a piano?")
    log = await decisions(client, ws, cid)
    assert log[-1]["action"] == "clarify" and log[-1]["inputs"]["no_answer_sentinel"] is True

    # The endpoint failing falls back to the offline answer (and says so in the log).
    fake_openai.fail_statuses = [500] * 10
    await client.put(
        "/api/v1/ai/settings", json={"settings": {"openai_max_retries": 0}}, headers=ws.admin.headers
    )
    fake_openai.fail_statuses = [500] * 10
    await customer_says(ws, "How long does delivery take to Germany?")
    log = await decisions(client, ws, cid)
    assert (
        log[-1]["action"] == "answer"
        and log[-1]["provider"] == "local"
        and "provider_error" in log[-1]["inputs"]
    )
    assert await count_rows(runtime, Message, workspace_id=ws.id, sender_kind="ai") >= 3


async def test_an_inbox_created_after_ai_was_switched_on_gets_it(client, runtime, make_workspace, enable_ai):
    from relaydesk.actions.inboxes import create_inbox
    from relaydesk.models import Inbox

    ws = await make_workspace()
    await enable_ai(ws)
    async with runtime.db.write() as session:
        inbox = await create_inbox(session, ws.id, name="Second", channel_type="api")
    async with runtime.db.read() as session:
        fresh = await session.get(Inbox, inbox.id)
        assert fresh.settings["ai_enabled"] is True


async def test_periodic_probe_records_what_the_endpoint_supports(
    client, runtime, make_workspace, enable_ai, fake_openai, run_jobs
):
    ws = await make_workspace()
    await enable_ai(
        ws,
        api_key=fake_openai.api_key,
        provider="openai",
        openai_base_url=fake_openai.base_url,
        openai_model=fake_openai.model,
    )
    fake_openai.supports_tools = False
    assert runtime.dispatcher is not None
    await runtime.dispatcher.enqueue_periodic()
    await run_jobs()
    probe = (await client.get("/api/v1/ai/settings", headers=ws.admin.headers)).json()["probe"]
    assert probe["ok"] is True and probe["tool_calling"] is False and probe["models"] == ["fake-gpt"]
    resp = await client.post("/api/v1/ai/settings/probe", headers=ws.admin.headers)
    assert resp.status_code == 200 and resp.json()["tool_calling"] is False
    assert (await client.post("/api/v1/ai/settings/probe", headers=ws.agent.headers)).status_code == 403
