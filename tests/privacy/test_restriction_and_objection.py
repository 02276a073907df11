"""Restriction of processing (privacy checklist item 12) and objection to automated decisions (item 13).

Restriction: with the AI answering, an away message due and a webhook subscriber listening, a restricted
contact's message gets no AI decision or reply, no away message, no AI suggestions, and no webhook event
about them goes out, while another contact's does and the restricted contact's data stays readable;
lifting it brings the automations back. Objection: the OpenAI-compatible endpoint (a loopback fake)
receives no call for the objecting contact, whose open conversation goes to a person with the AI decision
log attached. Both are tracked requests, audited, and 404 for another workspace with nothing written.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from relaydesk.actions import business_hours
from relaydesk.channels.api.fake import WebhookReceiver
from relaydesk.models import AiContactPreference, AiDecision, AuditEvent, Message, SubjectRequest
from tests.ai_platform.fake_openai import text_reply
from tests.api.test_webhook_delivery import pump, subscribe
from tests.core.test_cli import cli
from tests.support.fixtures import count_rows
from tests.web.helpers import cheap_argon2, csrf_of, login

API = "/api/v1"


async def _always_closed(client, ws) -> None:  # type: ignore[no-untyped-def]
    today = dt.datetime.now(dt.UTC).date()
    doc = {
        "timezone": "UTC",
        "weekly": {d: ["00:00-24:00"] for d in business_hours.DAYS},
        "closed_dates": [(today + dt.timedelta(days=d)).isoformat() for d in range(-2, 3)],
        "away_message": "We are closed right now.",
    }
    resp = await client.patch(
        f"{API}/inboxes/{ws.api_inbox_id}",
        json={"settings": {"business_hours": doc}},
        headers=ws.admin.headers,
    )
    assert resp.status_code == 200, resp.text


async def _known_contact(client, ws, external_id: str, name: str) -> str:  # type: ignore[no-untyped-def]
    """A contact created by an agent and linked to the API inbox, so its first message finds it."""
    made = await client.post(f"{API}/contacts", json={"name": name}, headers=ws.agent.headers)
    contact_id = made.json()["id"]
    linked = await client.post(
        f"{API}/contacts/{contact_id}/identities",
        json={"inbox_id": str(ws.api_inbox_id), "external_id": external_id},
        headers=ws.agent.headers,
    )
    assert linked.status_code == 201, linked.text
    return contact_id


async def _conversation_of(client, ws, contact_id: str) -> str:  # type: ignore[no-untyped-def]
    items = (await client.get(f"{API}/contacts/{contact_id}/conversations", headers=ws.agent.headers)).json()[
        "items"
    ]
    assert len(items) == 1, items
    return items[0]["id"]


async def _messages(runtime, conversation_id: str) -> list[Message]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return list(
            (
                await session.execute(
                    sa.select(Message)
                    .where(Message.conversation_id == uuid.UUID(conversation_id))
                    .order_by(Message.ordered_at, Message.id)
                )
            ).scalars()
        )


async def _decisions(runtime, conversation_id: str) -> list[AiDecision]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return list(
            (
                await session.execute(
                    sa.select(AiDecision).where(AiDecision.conversation_id == uuid.UUID(conversation_id))
                )
            ).scalars()
        )


async def _actions(runtime, ws) -> list[str]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return list(
            (
                await session.execute(
                    sa.select(AuditEvent.action)
                    .where(AuditEvent.workspace_id == ws.id)
                    .order_by(AuditEvent.seq)
                )
            ).scalars()
        )


def _about(body: dict, ids: set[str]) -> bool:  # type: ignore[type-arg]
    data = body.get("data") or {}
    return any(data.get(key) in ids for key in ("contact_id", "conversation_id", "message_id"))


async def test_a_restricted_contact_is_skipped_by_ai_automations_and_webhooks_and_its_data_kept(
    client, runtime, make_workspace, run_jobs, seed_kb, enable_ai, customer_says
):
    receiver = await WebhookReceiver().start()
    try:
        ws = await make_workspace()
        await seed_kb(ws)
        await enable_ai(ws)
        await _always_closed(client, ws)
        hook = await subscribe(client, ws, receiver.url)
        receiver.secret = hook["secret"]
        restricted_id = await _known_contact(client, ws, "cust-r", "Rhoswen Restricted")
        normal_id = await _known_contact(client, ws, "cust-n", "Norbert Normal")
        await pump(runtime, run_jobs)  # contact.created and friends, before the restriction
        receiver.received.clear()

        assert (
            await client.put(
                f"{API}/contacts/{restricted_id}/restriction",
                json={"restricted": True},
                headers=ws.agent.headers,
            )
        ).status_code == 403
        resp = await client.put(
            f"{API}/contacts/{restricted_id}/restriction", json={"restricted": True}, headers=ws.admin.headers
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["restricted"] is True and body["request"]["kind"] == "restriction"
        assert body["request"]["state"] == "completed"

        await customer_says(
            ws, "How long does delivery take?", contact_id="cust-r", name="Rhoswen Restricted"
        )
        await customer_says(ws, "How long does delivery take?", contact_id="cust-n", name="Norbert Normal")
        await pump(runtime, run_jobs)

        r_conv, n_conv = (
            await _conversation_of(client, ws, restricted_id),
            await _conversation_of(client, ws, normal_id),
        )
        r_msgs, n_msgs = await _messages(runtime, r_conv), await _messages(runtime, n_conv)
        # The other contact gets the AI's answer, its decision and the away message ...
        assert {m.sender_kind for m in n_msgs} >= {"ai", "system"}
        assert len(await _decisions(runtime, n_conv)) == 1
        # ... the restricted one none of them, and no AI suggestions either.
        assert [m.message_type for m in r_msgs] == ["incoming"]
        assert await _decisions(runtime, r_conv) == []
        assisted = (await client.get(f"{API}/conversations/{r_conv}/assist", headers=ws.agent.headers)).json()
        assert assisted.get("restricted") is True and assisted["suggested_replies"] == []
        # Webhooks: events about the other contact went out, none about the restricted one.
        bodies = [r.json for r in receiver.received]
        r_ids = {restricted_id, r_conv, *(str(m.id) for m in r_msgs)}
        n_ids = {normal_id, n_conv, *(str(m.id) for m in n_msgs)}
        assert any(_about(b, n_ids) for b in bodies)
        assert not any(_about(b, r_ids) for b in bodies), [b["type"] for b in bodies if _about(b, r_ids)]
        # The data is kept and agents still work with it.
        shown = (await client.get(f"{API}/contacts/{restricted_id}", headers=ws.agent.headers)).json()
        assert shown["name"] == "Rhoswen Restricted" and shown["restricted_at"] is not None
        thread = (
            await client.get(f"{API}/conversations/{r_conv}/messages", headers=ws.agent.headers)
        ).json()["items"]
        assert [m["content"] for m in thread] == ["How long does delivery take?"]
        reply = await client.post(
            f"{API}/conversations/{r_conv}/messages",
            json={"content": "A person answers"},
            headers=ws.agent.headers,
        )
        assert reply.status_code == 201

        # Lifting it: the AI handles the contact's next message again.
        lifted = await client.put(
            f"{API}/contacts/{restricted_id}/restriction",
            json={"restricted": False},
            headers=ws.admin.headers,
        )
        assert lifted.json()["restricted"] is False and lifted.json()["request"] is None
        await client.patch(
            f"{API}/conversations/{r_conv}", json={"status": "resolved"}, headers=ws.agent.headers
        )
        await customer_says(ws, "How do I return an item?", contact_id="cust-r", name="Rhoswen Restricted")
        async with runtime.db.read() as session:
            after = (
                await session.execute(
                    sa.select(sa.func.count()).select_from(AiDecision).where(AiDecision.workspace_id == ws.id)
                )
            ).scalar_one()
        assert after == 2
        actions = await _actions(runtime, ws)
        assert actions.count("contact.restricted") == 1 and actions.count("contact.restriction_lifted") == 1
        listed = (
            await client.get(f"{API}/subject-requests?contact_id={restricted_id}", headers=ws.admin.headers)
        ).json()
        assert [r["kind"] for r in listed["items"]] == ["restriction"]
    finally:
        await receiver.stop()


async def test_an_objection_stops_every_llm_call_and_hands_the_conversation_to_a_person_with_the_log(
    client, runtime, make_workspace, run_jobs, seed_kb, enable_ai, customer_says, fake_openai
):
    ws = await make_workspace()
    await seed_kb(ws)
    fake_openai.reply = text_reply("Standard delivery takes 3 to 5 working days [1].")
    await enable_ai(
        ws,
        api_key=fake_openai.api_key,
        provider="openai",
        openai_base_url=fake_openai.base_url,
        openai_model=fake_openai.model,
    )
    contact_id = await _known_contact(client, ws, "cust-o", "Olwen Objector")
    await customer_says(ws, "How long does delivery take?", contact_id="cust-o", name="Olwen Objector")
    conv = await _conversation_of(client, ws, contact_id)
    before = await _decisions(runtime, conv)
    assert len(before) == 1 and fake_openai.requests  # the LLM was asked once

    resp = await client.post(f"{API}/contacts/{contact_id}/objection", headers=ws.agent.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["conversations_handed_over"] == [conv] and body["request"]["kind"] == "objection"
    state = (await client.get(f"{API}/conversations/{conv}/ai", headers=ws.agent.headers)).json()
    assert state["ai_enabled"] is False and state["reason"] == "objection" and state["handed_off_at"]
    assert state["contact_ai_enabled"] is False
    shown = (await client.get(f"{API}/conversations/{conv}", headers=ws.agent.headers)).json()
    assert shown["status"] == "open"
    note = (await _messages(runtime, conv))[-1]
    assert note.message_type == "note" and note.content_attributes["objection"] is True
    assert note.content_attributes["ai_decision_ids"] == [str(d.id) for d in before]
    thread = (await client.get(f"{API}/conversations/{conv}/messages", headers=ws.agent.headers)).json()[
        "items"
    ]
    assert "objected to automated decisions" in thread[-1]["content"] and "answer" in thread[-1]["content"]

    fake_openai.reset()
    await customer_says(ws, "And to Norway?", contact_id="cust-o", name="Olwen Objector")
    await customer_says(ws, "Hello again, new question", contact_id="cust-o", name="Olwen Objector")
    assert fake_openai.requests == []  # not one call for this person
    assert len(await _decisions(runtime, conv)) == 1
    assert "contact.objected" in await _actions(runtime, ws)
    async with runtime.db.read() as session:
        pref = (
            await session.execute(
                sa.select(AiContactPreference).where(AiContactPreference.workspace_id == ws.id)
            )
        ).scalar_one()
    assert pref.ai_off and pref.reason == "objection"  # the existing per-contact switch, not a second one


async def test_another_workspace_gets_404_and_nothing_is_written(client, runtime, make_workspace, run_jobs):
    ws_a = await make_workspace("Alpha")
    ws_b = await make_workspace("Beta")
    contact_id = await _known_contact(client, ws_a, "cust-a", "Alma Alpha")
    before = [await count_rows(runtime, m) for m in (SubjectRequest, AiContactPreference, AuditEvent)]
    for method, path, body in (
        ("PUT", f"{API}/contacts/{contact_id}/restriction", {"restricted": True}),
        ("GET", f"{API}/contacts/{contact_id}/restriction", None),
        ("POST", f"{API}/contacts/{contact_id}/objection", None),
        ("PUT", f"{API}/contacts/{uuid.uuid4()}/restriction", {"restricted": True}),
    ):
        resp = await client.request(method, path, json=body, headers=ws_b.owner.headers)
        assert resp.status_code == 404, (method, path, resp.text)
    assert [await count_rows(runtime, m) for m in (SubjectRequest, AiContactPreference, AuditEvent)] == before
    bad = await client.put(
        f"{API}/contacts/{contact_id}/restriction", json={"restricted": "yes"}, headers=ws_a.admin.headers
    )
    assert bad.status_code == 400
    assert (
        await client.get(f"{API}/subject-requests?state=nope", headers=ws_a.admin.headers)
    ).status_code == 400
    assert [await count_rows(runtime, m) for m in (SubjectRequest, AiContactPreference, AuditEvent)] == before


async def test_the_admin_page_and_the_cli_restrict_and_record_objections(
    client, runtime, make_workspace, run_jobs, settings, monkeypatch
):
    cheap_argon2(monkeypatch)
    ws = await make_workspace()
    contact_id = await _known_contact(client, ws, "cust-w", "Wynne Web")
    assert (await login(client, ws.admin.email, ws.admin.password)).status_code in (302, 303)
    page = f"/admin/contacts/{contact_id}"
    csrf = await csrf_of(client, page)
    assert (
        await client.post(f"{page}/restriction", data={"csrf_token": "forged", "restricted": "1"})
    ).status_code == 403
    done = await client.post(f"{page}/restriction", data={"csrf_token": csrf, "restricted": "1"})
    assert done.status_code == 303
    shown = await client.get(page)
    assert "restricted since" in shown.text and "Lift the restriction" in shown.text
    assert "restriction" in shown.text
    done = await client.post(f"{page}/objection", data={"csrf_token": csrf})
    assert done.status_code == 303
    shown = await client.get(page)
    assert "off for this person" in shown.text
    async with runtime.db.read() as session:
        kinds = sorted(
            (
                await session.execute(
                    sa.select(SubjectRequest.kind).where(SubjectRequest.workspace_id == ws.id)
                )
            ).scalars()
        )
    assert kinds == ["objection", "restriction"]

    lifted = await cli(
        settings, "contact", "restrict", "--workspace", ws.slug, "--contact", contact_id, "--lift"
    )
    assert lifted.exit_code == 0 and "lifted" in lifted.output, lifted.output
    again = await cli(settings, "contact", "restrict", "--workspace", ws.slug, "--contact", contact_id)
    assert again.exit_code == 0 and "restricted (request" in again.output, again.output
    objected = await cli(settings, "contact", "object", "--workspace", ws.slug, "--contact", contact_id)
    assert objected.exit_code == 0 and "objection recorded" in objected.output, objected.output
    unknown = await cli(settings, "contact", "object", "--workspace", ws.slug, "--contact", str(uuid.uuid4()))
    assert unknown.exit_code == 1 and "not found" in unknown.output
    listed = await cli(settings, "contact", "requests", "--workspace", ws.slug)
    assert listed.output.count("objection") == 2 and listed.output.count("restriction") == 2
