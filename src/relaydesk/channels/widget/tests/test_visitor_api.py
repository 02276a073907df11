"""The visitor API and WebSocket against a real server on loopback: anonymous chat into the inbox, agent
replies streamed back, replay after reconnect, typing, identity, origins, and bad input refused with
nothing stored."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from relaydesk.channels.widget import identity
from relaydesk.channels.widget.fake import consent, identify, identify_jwt
from relaydesk.channels.widget.identity import TOKEN_HEADER
from relaydesk.channels.widget.tests.support import make_widget_inbox
from relaydesk.models import Attachment, Contact, Conversation, Message
from relaydesk.privacy import storage

HOST = "http://shop.example"


async def counts(runtime, workspace_id) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        out = {}
        for model in (Contact, Conversation, Message, Attachment):
            out[model.__tablename__] = (
                await session.execute(
                    sa.select(sa.func.count()).select_from(model).where(model.workspace_id == workspace_id)
                )
            ).scalar_one()
        return out


@pytest.fixture
async def setup(relaydesk_server, make_workspace, visitors):  # type: ignore[no-untyped-def]
    ws = await make_workspace()
    inbox = await make_widget_inbox(relaydesk_server.runtime, ws.id, allowed_origins=[HOST])
    return relaydesk_server, ws, inbox, visitors


async def agent_reply(base: str, ws, conversation_id: str, text: str) -> dict:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"content": text},
            headers=ws.agent.headers,
        )
    assert response.status_code == 201, response.text
    return response.json()


async def test_anonymous_visitor_chats_with_an_agent(setup):  # type: ignore[no-untyped-def]
    server, ws, inbox, visitors = setup
    visitor = visitors(server.url, inbox.public_id, HOST)
    started = await visitor.start()
    assert started.status_code == 201, started.text
    assert started.json()["identified"] is False and started.json()["persistent"] is True
    assert started.headers["cache-control"] == "no-store"

    first = await visitor.say(
        "Hello, is my parcel on its way?", prechat=consent(name="Ada", email="ada@example.com")
    )
    assert first.status_code == 201, first.text
    message = first.json()
    assert message["from"] == "visitor" and message["text"] == "Hello, is my parcel on its way?"

    # It is a customer message of a conversation in the widget inbox, with the consent recorded.
    async with server.runtime.db.read() as session:
        conv = (
            await session.execute(sa.select(Conversation).where(Conversation.inbox_id == inbox.id))
        ).scalar_one()
        stored = (
            await session.execute(sa.select(Message).where(Message.conversation_id == conv.id))
        ).scalar_one()
        contact = await session.get(Contact, conv.contact_id)
        assert stored.message_type == "incoming" and stored.sender_kind == "customer"
        assert conv.custom_attributes["widget_consent"]["version"] == "1"
        assert "stored to answer me" in conv.custom_attributes["widget_consent"]["text"]
        assert conv.custom_attributes["widget_adult_confirmed_at"]
        pii = storage.read_contact(contact)
        assert (pii.name, pii.email) == ("Ada", "ada@example.com")

    socket = await visitor.socket(last_seen_seq=(await visitor.history()).json()["seq"])
    hello = await socket.next("hello")
    reply = await agent_reply(server.url, ws, str(conv.id), "Yes, it ships today.")
    frame = await socket.next("message")
    assert frame["message"]["id"] == reply["id"]
    assert frame["message"]["from"] == "agent" and frame["message"]["text"] == "Yes, it ships today."
    assert frame["seq"] > hello["seq"]
    # The visitor has it on screen: it is marked read, which agents see (and the visitor's stream too).
    await socket.send({"type": "read", "message_ids": [reply["id"], "01a2415f-6d8c-716a-8189-4704cf99a98e"]})
    updated = await socket.next("message.updated")
    while updated["message"]["status"] != "read":  # the delivery job's "sent" may come first
        updated = await socket.next("message.updated")
    assert updated["message"]["id"] == reply["id"]
    async with server.runtime.db.read() as session:
        assert (await session.get(Message, uuid.UUID(reply["id"]))).status == "read"  # type: ignore[union-attr]
    await socket.send({"type": "read", "message_ids": "nope"})
    assert (await socket.next("error"))["status"] == 400
    # Private notes never reach the visitor.
    async with httpx.AsyncClient(base_url=server.url) as http:
        note = await http.post(
            f"/api/v1/conversations/{conv.id}/messages",
            json={"content": "internal: VIP", "private": True},
            headers=ws.agent.headers,
        )
        assert note.status_code == 201
    await agent_reply(server.url, ws, str(conv.id), "Anything else?")
    following = await socket.next("message")
    assert following["message"]["text"] == "Anything else?"
    await socket.close()


async def test_do_not_track_and_gpc_make_a_session_token(setup):  # type: ignore[no-untyped-def]
    server, _ws, inbox, visitors = setup
    visitor = visitors(server.url, inbox.public_id, HOST)
    for headers, body in (({"dnt": "1"}, {}), ({"sec-gpc": "1"}, {}), ({}, {"privacy": True})):
        started = await visitor.http.post(
            "/api/session", json={"host": HOST, **body}, headers={"origin": visitor.origin, **headers}
        )
        assert started.status_code == 201 and started.json()["persistent"] is False
        lifetime = started.json()["expires_at"] - time.time()
        assert lifetime <= identity.SESSION_TOKEN_SECONDS
    normal = await visitor.start()
    assert normal.json()["persistent"] is True
    assert normal.json()["expires_at"] - time.time() > identity.SESSION_TOKEN_SECONDS


async def test_socket_posts_dedupe_and_reconnect_replays(setup):  # type: ignore[no-untyped-def]
    server, ws, inbox, visitors = setup
    visitor = visitors(server.url, inbox.public_id, HOST)
    await visitor.start()
    socket = await visitor.socket()
    await socket.next("hello")
    frame = {"type": "message.create", "client_msg_id": "abcdef123456", "text": "first", "prechat": consent()}
    await socket.send(frame)
    ack = await socket.next("ack")
    await socket.send(frame)  # a retry after a lost ack: the same message, not a second one
    again = await socket.next("ack")
    assert again["message"]["id"] == ack["message"]["id"]
    assert (await counts(server.runtime, ws.id))["messages"] == 1
    seen = (await socket.next("message"))["seq"]  # its own message, streamed with a sequence number
    await socket.close()

    # While the visitor is away, the agent answers twice; a reconnect from the last seen number replays both.
    conv = ack["message"]["conversation_id"]
    await agent_reply(server.url, ws, conv, "reply one")
    await agent_reply(server.url, ws, conv, "reply two")
    socket = await visitor.socket(last_seen_seq=seen)
    first, second = await socket.next("message"), await socket.next("message")
    assert [first["message"]["text"], second["message"]["text"]] == ["reply one", "reply two"]
    assert seen < first["seq"] < second["seq"]
    hello = await socket.next("hello")
    assert hello["seq"] >= second["seq"]
    await socket.close()


async def test_typing_both_ways_and_server_expiry(setup, monkeypatch):  # type: ignore[no-untyped-def]
    from relaydesk.channels.widget.routes import stream

    monkeypatch.setattr(stream, "TYPING_EXPIRY", 0.5)
    server, ws, inbox, visitors = setup
    visitor = visitors(server.url, inbox.public_id, HOST)
    await visitor.start()
    conv = (await visitor.say("hi", prechat=consent())).json()["conversation_id"]
    socket = await visitor.socket()
    await socket.next("hello")
    sub = server.runtime.bus.subscribe(ws.id)
    try:
        await socket.send({"type": "typing", "on": True})
        on = await asyncio.wait_for(sub.queue.get(), 5)
        assert (
            on["type"] == "typing"
            and on["payload"]["conversation_id"] == conv
            and on["payload"]["on"] is True
        )
        off = await asyncio.wait_for(sub.queue.get(), 5)  # no refresh: the server switches it off
        assert off["payload"]["on"] is False
    finally:
        sub.close()
    # An agent typing in the conversation reaches the visitor.
    await server.runtime.bus.publish(
        [
            {
                "workspace_id": str(ws.id),
                "seq": None,
                "type": "typing",
                "payload": {
                    "conversation_id": conv,
                    "user_id": str(ws.agent.user_id),
                    "name": "Agent A",
                    "on": True,
                },
            }
        ]
    )
    typing = await socket.next("typing")
    assert typing == {"type": "typing", "on": True, "name": "Agent A"}
    await socket.close()


async def test_identified_visitor_sees_earlier_conversations_anonymous_does_not(setup):  # type: ignore[no-untyped-def]
    server, ws, inbox, visitors = setup
    proof = identify(inbox.identity_secret, "user-42")
    first = visitors(server.url, inbox.public_id, HOST)
    assert (await first.start(proof)).json()["identified"] is True
    conv = (await first.say("old question", prechat=consent())).json()["conversation_id"]
    async with httpx.AsyncClient(base_url=server.url) as http:
        resolved = await http.patch(
            f"/api/v1/conversations/{conv}", json={"status": "resolved"}, headers=ws.agent.headers
        )
        assert resolved.status_code == 200, resolved.text
    # Same user on another device (a JWT this time): the earlier conversation is there.
    second = visitors(server.url, inbox.public_id, HOST)
    assert (await second.start(identify_jwt(inbox.identity_secret, "user-42"))).status_code == 201
    history = (await second.history()).json()
    assert history["identified"] is True
    assert [m["text"] for c in history["conversations"] for m in c["messages"]] == ["old question"]
    # An anonymous visitor whose conversation was resolved sees nothing of it.
    anon = visitors(server.url, inbox.public_id, HOST)
    await anon.start()
    old = (await anon.say("anon question", prechat=consent())).json()["conversation_id"]
    async with httpx.AsyncClient(base_url=server.url) as http:
        await http.patch(
            f"/api/v1/conversations/{old}", json={"status": "resolved"}, headers=ws.agent.headers
        )
    assert (await anon.history()).json()["conversations"] == []


async def test_forged_identities_are_refused_and_enforcement(setup):  # type: ignore[no-untyped-def]
    server, ws, inbox, visitors = setup
    visitor = visitors(server.url, inbox.public_id, HOST)
    wrong = {"user_id": "user-42", "user_hash": identity.user_hash("not-the-secret", "user-42")}
    refused = await visitor.start(wrong)
    assert refused.status_code == 403 and "user_hash does not match" in refused.text
    expired = identify_jwt(inbox.identity_secret, "user-42", lifetime=-60)
    assert (await visitor.start(expired)).status_code == 403
    forged_jwt = identify_jwt("another-secret-of-at-least-32-bytes", "user-42")
    assert (await visitor.start(forged_jwt)).status_code == 403
    # Unsigned: tolerated (stays anonymous) unless the inbox enforces verification.
    unsigned = await visitor.start({"user_id": "user-42"})
    assert unsigned.status_code == 201 and unsigned.json()["identified"] is False
    strict = await make_widget_inbox(
        server.runtime, ws.id, allowed_origins=[HOST], identity_verification="enforced"
    )
    strict_visitor = visitors(server.url, strict.public_id, HOST)
    assert (await strict_visitor.start({"user_id": "user-42"})).status_code == 403
    assert (await strict_visitor.start(identify(strict.identity_secret, "user-42"))).json()[
        "identified"
    ] is True
    assert (await counts(server.runtime, ws.id))["contacts"] == 0


async def test_origins_tokens_and_other_workspaces(setup, make_workspace):  # type: ignore[no-untyped-def]
    server, ws, inbox, visitors = setup
    async with httpx.AsyncClient(base_url=server.url) as http:
        # The frame is framable by an allowed host only; elsewhere it is refused.
        page = await http.get(f"/widget/{inbox.public_id}/frame", params={"host": HOST})
        assert page.status_code == 200
        assert f"frame-ancestors {HOST}" in page.headers["content-security-policy"]
        assert "x-frame-options" not in page.headers
        evil = await http.get(f"/widget/{inbox.public_id}/frame", params={"host": "http://evil.example"})
        assert evil.status_code == 403
        # A session for a host that is not allowed, or a call from another site's page, is refused.
        bad_host = await http.post(
            f"/widget/{inbox.public_id}/api/session", json={"host": "http://evil.example"}
        )
        assert bad_host.status_code == 403
        cross = await http.post(
            f"/widget/{inbox.public_id}/api/session",
            json={"host": HOST},
            headers={"origin": "http://evil.example"},
        )
        assert cross.status_code == 403
        # Invalid tokens: 401 with the reason.
        for token in ("", "garbage", "rdv1.e30.AAAA", "rdv1." + "x" * 3000):
            answer = await http.get(f"/widget/{inbox.public_id}/api/messages", headers={TOKEN_HEADER: token})
            assert answer.status_code == 401, token
        # Another workspace's widget: its token does not open this inbox, and its ids are 404 here.
        other_ws = await make_workspace("Other")
        other = await make_widget_inbox(server.runtime, other_ws.id, allowed_origins=[HOST])
        stranger = visitors(server.url, other.public_id, HOST)
        await stranger.start()
        crossed = await http.get(
            f"/widget/{inbox.public_id}/api/messages", headers={TOKEN_HEADER: stranger.token}
        )
        assert crossed.status_code == 401
        # An API inbox's public id is not a widget; unknown ids neither.
        assert (await http.get(f"/widget/{ws.api_inbox_public_id}/loader.js")).status_code == 404
        assert (await http.get("/widget/nope/loader.js")).status_code == 404
        # A file of another visitor's conversation is a 404.
        other_visitor = visitors(server.url, inbox.public_id, HOST)
        await other_visitor.start()
        await other_visitor.say("hello", prechat=consent())
        upload = await other_visitor.upload(b"hello", "text/plain", "a.txt")
        att = upload.json()["attachments"][0]["id"]
        me = visitors(server.url, inbox.public_id, HOST)
        await me.start()
        peek = await http.get(
            f"/widget/{inbox.public_id}/api/attachments/{att}", headers={TOKEN_HEADER: me.token}
        )
        assert peek.status_code == 404
        mine = await http.get(
            f"/widget/{inbox.public_id}/api/attachments/{att}", headers={TOKEN_HEADER: other_visitor.token}
        )
        assert mine.status_code == 200 and mine.content == b"hello"
        # Another workspace's file id is a 404 here, and this workspace's is a 404 through its widget.
        await stranger.say("hello", prechat=consent())
        foreign = (await stranger.upload(b"theirs", "text/plain", "b.txt")).json()["attachments"][0]["id"]
        crossed_file = await http.get(
            f"/widget/{inbox.public_id}/api/attachments/{foreign}",
            headers={TOKEN_HEADER: other_visitor.token},
        )
        assert crossed_file.status_code == 404
        reverse = await http.get(
            f"/widget/{other.public_id}/api/attachments/{att}", headers={TOKEN_HEADER: stranger.token}
        )
        assert reverse.status_code == 404
    # Removing the host from the allowed origins ends its sessions.
    from relaydesk.actions.inboxes import update_inbox

    async with server.runtime.db.write() as session:
        await update_inbox(session, ws.id, inbox.id, settings={"allowed_origins": ["http://other.example"]})
    assert (await other_visitor.history()).status_code == 403


async def test_bad_input_is_refused_and_nothing_stored(setup):  # type: ignore[no-untyped-def]
    server, ws, inbox, visitors = setup
    visitor = visitors(server.url, inbox.public_id, HOST)
    await visitor.start()
    before = await counts(server.runtime, ws.id)
    # The first message needs consent of the current text, and an adult.
    no_consent = await visitor.say("hi", prechat={"adult": True, "consent_version": "1"})
    assert no_consent.status_code == 400 and "consent" in no_consent.text
    minor = await visitor.say("hi", prechat={"consent": True, "consent_version": "1", "adult": False})
    assert minor.status_code == 403 and "adults" in minor.text
    stale = await visitor.say("hi", prechat=consent(version="0"))
    assert stale.status_code == 409
    unknown_field = await visitor.say("hi", prechat=consent(favourite_colour="blue"))
    assert unknown_field.status_code == 400
    assert (await visitor.say("x" * 5001, prechat=consent())).status_code == 413
    assert (await visitor.say("", prechat=consent())).status_code == 400
    bad_id = await visitor.say("hi", prechat=consent(), client_msg_id="../../etc")
    assert bad_id.status_code == 400
    not_json = await visitor.http.post("/api/messages", content=b"{nope", headers=visitor.headers())
    assert not_json.status_code == 400
    # A file before any conversation is refused too.
    assert (await visitor.upload(b"%PDF-1.4 x", "application/pdf")).status_code == 409
    assert await counts(server.runtime, ws.id) == before

    assert (await visitor.say("hello", prechat=consent())).status_code == 201
    before = await counts(server.runtime, ws.id)
    assert (await visitor.upload(b"MZ\x90\x00binary", "application/x-msdownload", "a.exe")).status_code == 415
    assert (await visitor.upload(b"<script>alert(1)</script>", "image/png", "a.png")).status_code == 415
    assert (await visitor.upload(b"\x00\x01bin", "text/plain", "a.txt")).status_code == 415
    big = b"%PDF-" + b"0" * (5 * 1024 * 1024)
    assert (await visitor.upload(big, "application/pdf", "big.pdf")).status_code == 413
    assert await counts(server.runtime, ws.id) == before
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    stored = await visitor.upload(png, "image/png", "photo.png")
    assert stored.status_code == 201, stored.text
    assert stored.json()["attachments"][0]["filename"] == "photo.png"
    # Sealed by the storage layer like every attachment.
    async with server.runtime.db.read() as session:
        att = (
            await session.execute(
                sa.select(Attachment)
                .options(sa.orm.undefer(Attachment.data))
                .where(Attachment.workspace_id == ws.id)
            )
        ).scalar_one()
        assert att.filename_sealed is not None and att.legacy_filename is None
        assert storage.read_attachment(att) == png


async def test_attributes_fill_the_contact_and_bad_ones_are_refused(setup):  # type: ignore[no-untyped-def]
    server, ws, inbox, visitors = setup
    visitor = visitors(server.url, inbox.public_id, HOST)
    await visitor.start()
    first = await visitor.say(
        "hi", prechat=consent(name="Ada"), attributes={"name": "Someone else", "email": "ada@example.com"}
    )
    assert first.status_code == 201, first.text
    later = await visitor.say("my plan", attributes={"plan": "pro", "customer_since": "2021"})
    assert later.status_code == 201
    async with server.runtime.db.read() as session:
        contact = (
            await session.execute(sa.select(Contact).where(Contact.workspace_id == ws.id))
        ).scalar_one()
        pii = storage.read_contact(contact)
    # The form's name wins; the attribute's e-mail fills the empty field; other keys become attributes.
    assert (pii.name, pii.email) == ("Ada", "ada@example.com")
    assert pii.custom_attributes == {"plan": "pro", "customer_since": "2021"}
    before = await counts(server.runtime, ws.id)
    for bad in ({"Plan": "x"}, {"plan": 3}, {"plan": "x" * 501}, {"email": "not-an-address"}, ["plan"]):
        refused = await visitor.say("again", attributes=bad)  # type: ignore[arg-type]
        assert refused.status_code == 400, bad
    assert await counts(server.runtime, ws.id) == before


async def test_the_widget_takes_no_webhook_and_shows_its_embed_code(setup):  # type: ignore[no-untyped-def]
    server, ws, inbox, _ = setup
    async with httpx.AsyncClient(base_url=server.url) as http:
        door = await http.post(
            f"/inbound/widget/{inbox.public_id}", content=b"{}", headers={"content-type": "application/json"}
        )
        assert 400 <= door.status_code < 500
        shown = await http.get(f"/api/v1/inboxes/{inbox.id}", headers=ws.agent.headers)
        assert shown.json()["embed_code"] == (
            f'<script src="{server.runtime.settings.base_url}/widget/{inbox.public_id}/loader.js" async></script>'
        )
        loader = await http.get(f"/widget/{inbox.public_id}/loader.js")
        assert loader.status_code == 200 and loader.headers["content-type"].startswith("text/javascript")
        assert f'"id": "{inbox.public_id}"' in loader.text and "localStorage" not in loader.text
        assert "document.cookie" not in loader.text and "fetch(" not in loader.text


async def test_outside_business_hours_the_visitor_gets_the_away_message_live(
    relaydesk_server, make_workspace, visitors
):  # type: ignore[no-untyped-def]
    """Business hours are every channel's (actions/business_hours.py): in the widget the away message is a
    reply like any other, so it reaches the visitor's open chat."""
    ws = await make_workspace()
    closed = {"enabled": True, "timezone": "UTC", "weekly": {}, "away_message": "We are closed; back Monday."}
    inbox = await make_widget_inbox(
        relaydesk_server.runtime, ws.id, allowed_origins=[HOST], business_hours=closed
    )
    visitor = visitors(relaydesk_server.url, inbox.public_id, HOST)
    await visitor.start()
    socket = await visitor.socket()
    await socket.next("hello")
    await socket.send(
        {"type": "message.create", "client_msg_id": "away-test-1", "text": "anyone?", "prechat": consent()}
    )
    await socket.next("ack")
    while True:
        frame = await socket.next("message", timeout=15)
        if frame["message"]["from"] != "visitor":
            break
    assert frame["message"]["text"] == "We are closed; back Monday."
    await socket.close()


async def test_an_open_socket_closes_when_its_site_is_no_longer_allowed(setup, monkeypatch):  # type: ignore[no-untyped-def]
    from relaydesk.actions.inboxes import update_inbox
    from relaydesk.channels.widget.routes import stream

    monkeypatch.setattr(stream, "REVALIDATE_SECONDS", 0.2)
    server, ws, inbox, visitors = setup
    visitor = visitors(server.url, inbox.public_id, HOST)
    await visitor.start()
    socket = await visitor.socket()
    await socket.next("hello")
    async with server.runtime.db.write() as session:
        await update_inbox(
            session, ws.id, inbox.id, settings={"allowed_origins": ["https://elsewhere.example"]}
        )
    error = await socket.next("error")
    assert error["status"] == 403
    await socket.close()


async def test_one_visitor_or_address_is_rate_limited(setup, monkeypatch):  # type: ignore[no-untyped-def]
    import dataclasses

    server, ws, inbox, visitors = setup
    monkeypatch.setattr(
        server.runtime, "settings", dataclasses.replace(server.runtime.settings, widget_messages_per_minute=3)
    )
    visitor = visitors(server.url, inbox.public_id, HOST)
    await visitor.start()
    assert (await visitor.say("one", prechat=consent())).status_code == 201
    assert (await visitor.say("two")).status_code == 201
    assert (await visitor.say("three")).status_code == 201
    before = await counts(server.runtime, ws.id)
    throttled = await visitor.say("four")
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    assert await counts(server.runtime, ws.id) == before
    for _ in range(2):  # sessions: 1 above, 2 more allowed, then refused
        assert (await visitors(server.url, inbox.public_id, HOST).start()).status_code == 201
    assert (await visitors(server.url, inbox.public_id, HOST).start()).status_code == 429


async def test_a_file_from_the_agent_reaches_the_visitor(setup):  # type: ignore[no-untyped-def]
    import base64

    server, ws, inbox, visitors = setup
    visitor = visitors(server.url, inbox.public_id, HOST)
    await visitor.start()
    conv = (await visitor.say("send me the invoice", prechat=consent())).json()["conversation_id"]
    pdf = b"%PDF-1.4 invoice"
    async with httpx.AsyncClient(base_url=server.url) as http:
        sent = await http.post(
            f"/api/v1/conversations/{conv}/messages",
            json={
                "content": "Here it is",
                "attachments": [
                    {
                        "filename": "invoice.pdf",
                        "content_type": "application/pdf",
                        "data_base64": base64.b64encode(pdf).decode(),
                    }
                ],
            },
            headers=ws.agent.headers,
        )
        assert sent.status_code == 201, sent.text
    thread = (await visitor.history()).json()["conversations"][0]["messages"]
    reply = thread[-1]
    assert reply["from"] == "agent" and reply["attachments"][0]["filename"] == "invoice.pdf"
    got = await visitor.http.get(
        f"/api/attachments/{reply['attachments'][0]['id']}", headers=visitor.headers()
    )
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["content-type"].startswith("application/pdf")
    assert got.headers["content-disposition"] == "attachment"


async def test_an_inboxs_own_prechat_fields_are_asked_required_and_kept(
    relaydesk_server, make_workspace, visitors
):  # type: ignore[no-untyped-def]
    """The inbox's form (`key:Label[:required]` lines): a required custom field left empty, or a field
    the form does not have, is a 400 that stores nothing; filled in, it lands on the contact."""
    ws = await make_workspace()
    inbox = await make_widget_inbox(
        relaydesk_server.runtime,
        ws.id,
        allowed_origins=[HOST],
        prechat_fields=["name:Your name", "order:Order number:required"],
    )
    visitor = visitors(relaydesk_server.url, inbox.public_id, HOST)
    await visitor.start()
    before = await counts(relaydesk_server.runtime, ws.id)
    missing = await visitor.say("hi", prechat=consent(name="Ada"))
    assert missing.status_code == 400 and "prechat.fields.order" in missing.text
    blank = await visitor.say("hi", prechat=consent(name="Ada", order="   "))
    assert blank.status_code == 400 and "Order number is required" in blank.text
    not_asked = await visitor.say("hi", prechat=consent(order="A-1", email="ada@example.com"))
    assert not_asked.status_code == 400 and "prechat.fields.email" in not_asked.text
    assert await counts(relaydesk_server.runtime, ws.id) == before
    ok = await visitor.say("Where is it?", prechat=consent(name="Ada", order=" A-1042 "))
    assert ok.status_code == 201, ok.text
    async with relaydesk_server.runtime.db.read() as session:
        contact = (
            await session.execute(sa.select(Contact).where(Contact.workspace_id == ws.id))
        ).scalar_one()
        pii = storage.read_contact(contact)
    assert pii.name == "Ada" and pii.custom_attributes == {"order": "A-1042"}


async def test_a_body_that_is_not_utf8_is_refused_and_nothing_stored(setup):  # type: ignore[no-untyped-def]
    server, ws, inbox, visitors = setup
    visitor = visitors(server.url, inbox.public_id, HOST)
    await visitor.start()
    before = await counts(server.runtime, ws.id)
    for body in (b'{"text": "caf\xe9", "client_msg_id": "abc12345"}', b'{"text": "\xed\xa0\x80"}'):
        refused = await visitor.http.post(
            "/api/messages",
            content=body,
            headers=visitor.headers(**{"content-type": "application/json"}),
        )
        assert refused.status_code == 400, refused.text
    assert await counts(server.runtime, ws.id) == before
