"""The inbox in real Chromium: live arrival, reply delivered to the integrator, live assignment seen by
a second agent, and catch-up after a dropped WebSocket."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from playwright.async_api import expect

from relaydesk.channels.api.client import signed_request_headers
from relaydesk.channels.api.fake import WebhookReceiver
from tests.browser.conftest import SCREENSHOTS, sign_in

pytestmark = pytest.mark.browser


async def customer_writes(base_url: str, ws, text: str, contact: str = "cust-1", name: str = "Ada") -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"id": f"m-{uuid.uuid4().hex}", "contact": {"id": contact, "name": name}, "text": text})
    await signed_post(base_url, ws, body)


async def signed_post(base_url: str, ws, body: str) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            f"{base_url}/inbound/api/{ws.api_inbox_public_id}",
            content=body.encode(),
            headers=signed_request_headers(ws.inbound_secret, body.encode()),
        )
    assert resp.status_code == 202, resp.text


async def test_agent_sees_a_new_conversation_live_and_replies(live_server, browser, make_workspace):
    receiver = await WebhookReceiver().start()
    try:
        ws = await make_workspace(webhook_url=receiver.url)
        receiver.secret = ws.outbound_secret
        page = await sign_in(browser, live_server, ws.agent.email, ws.agent.password)
        await expect(page.locator("#list-empty")).to_be_visible()

        await customer_writes(live_server, ws, "Hello, where is my order #1042?")
        item = page.locator("#conv-list li.conv")
        await expect(item).to_have_count(1, timeout=10_000)
        await expect(item).to_contain_text("Ada")
        await expect(item.locator(".badge")).to_have_text("1")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "inbox.png"))

        await item.locator("a").click()
        await expect(page.locator("#messages")).to_contain_text("where is my order #1042?")
        await page.locator("#composer-text").fill("It ships today, tracking follows.")
        await page.locator("#composer-text").press("Enter")
        outgoing = page.locator("#messages article.msg.outgoing")
        await expect(outgoing).to_contain_text("It ships today")
        await asyncio.wait_for(receiver.got_one.wait(), timeout=15)
        assert receiver.received[-1].json["text"] == "It ships today, tracking follows."
        # Delivery states come back over the socket: the ticks change without reload.
        ticks = outgoing.locator(".ticks")
        await expect(ticks).to_contain_text("sent", timeout=10_000)
        sent_id = receiver.received[-1].json.get("id") or receiver.received[-1].headers["webhook-id"]
        await signed_post(
            live_server, ws, json.dumps({"type": "status", "message_id": sent_id, "status": "read"})
        )
        await expect(ticks).to_contain_text("read", timeout=10_000)

        await page.locator('input[name="mode"][value="note"]').check()
        await page.locator("#composer-text").fill("Customer is a VIP, be nice")
        await page.locator("#composer-text").press("Enter")
        await expect(page.locator("#messages article.msg.private")).to_contain_text("VIP")
        await page.screenshot(path=str(SCREENSHOTS / "conversation.png"))
        assert page.js_errors == []
    finally:
        await receiver.stop()


async def test_second_agent_sees_the_assignment_live(live_server, browser, make_workspace):
    ws = await make_workspace()
    await customer_writes(live_server, ws, "Can someone help me?", contact="cust-2", name="Bo")
    agent = await sign_in(browser, live_server, ws.agent.email, ws.agent.password)
    admin = await sign_in(browser, live_server, ws.admin.email, ws.admin.password)
    await expect(agent.locator("#conv-list li.conv")).to_have_count(1, timeout=10_000)
    await agent.get_by_role("link", name="Mine").click()
    await expect(agent.locator("#list-empty")).to_be_visible()

    await admin.locator("#conv-list li.conv a").first.click()
    await expect(admin.locator("#messages")).to_contain_text("Can someone help me?")
    await admin.locator("#act-assignee").select_option(str(ws.agent.user_id))

    mine = agent.locator("#conv-list li.conv")
    await expect(mine).to_have_count(1, timeout=10_000)
    await expect(mine.locator(".assignee")).to_have_text("Agent of Acme")
    await mine.locator("a").click()
    await expect(agent.locator("#act-assignee")).to_have_value(str(ws.agent.user_id))
    # Typing indicators: the admin types in the same conversation, the agent sees it.
    await admin.locator("#composer-text").type("Let me check")
    await expect(agent.locator("#typing")).to_have_text("Admin of Acme is typing…", timeout=10_000)
    # And back: the agent resolves, the admin's open view updates without reload.
    await agent.locator("#act-resolve").click()
    await expect(admin.locator("#thread-meta")).to_contain_text("resolved", timeout=10_000)
    assert agent.js_errors == [] and admin.js_errors == []


async def test_the_page_catches_up_after_a_dropped_connection(live_server, browser, make_workspace):
    ws = await make_workspace()
    await customer_writes(live_server, ws, "First message", contact="cust-3", name="Cy")
    page = await sign_in(browser, live_server, ws.agent.email, ws.agent.password)
    await page.locator("#conv-list li.conv a").first.click()
    await expect(page.locator("#messages")).to_contain_text("First message")

    # Drop the socket and hold the reconnect until the messages below were processed.
    await page.evaluate(
        """() => {
        const live = window.relaydeskLive;
        const connect = live.connect.bind(live);
        live.connect = () => { window.reconnectNow = () => { live.connect = connect; connect(); }; };
        live.drop();
    }"""
    )
    await expect(page.locator("#live-status")).to_contain_text("Offline")
    await customer_writes(live_server, ws, "Second message while you were away", contact="cust-3")
    await customer_writes(live_server, ws, "Third message", contact="cust-3")
    await customer_writes(live_server, ws, "A new customer meanwhile", contact="cust-4", name="Di")
    await asyncio.sleep(1.0)
    await expect(page.locator("#messages")).not_to_contain_text("Second message")

    await page.evaluate("() => window.reconnectNow()")
    await expect(page.locator("#live-status")).to_have_text("● Live", timeout=10_000)
    await expect(page.locator("#messages")).to_contain_text("Second message while you were away")
    await expect(page.locator("#messages")).to_contain_text("Third message")
    await expect(page.locator("#conv-list li.conv")).to_have_count(2)
    assert page.js_errors == []


async def test_admin_inbox_page_shows_webhook_and_live_health(live_server, browser, make_workspace):
    ws = await make_workspace()
    page = await sign_in(browser, live_server, ws.admin.email, ws.admin.password)
    await page.goto(live_server + "/admin/inboxes")
    row = page.locator(f'tr[data-inbox="{ws.api_inbox_id}"]')
    await expect(row.locator(f"#url-{ws.api_inbox_id}")).to_have_value(
        f"http://127.0.0.1:8000/inbound/api/{ws.api_inbox_public_id}"
    )
    # Signing secrets are not on the page for an admin; only an owner reveals them (tests/web).
    await expect(row).to_contain_text("only an owner can reveal or rotate them")
    assert ws.inbound_secret not in await page.content()
    await expect(row.locator(".last-event")).to_have_text("No event received yet")
    await page.wait_for_timeout(300)  # the page's socket is connected
    await customer_writes(live_server, ws, "ping", contact="cust-9")
    await expect(row.locator(".last-event")).to_contain_text("Last event received", timeout=10_000)
    await page.screenshot(path=str(SCREENSHOTS / "admin-inboxes.png"))

    login_page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    await login_page.goto(live_server + "/login")
    await login_page.screenshot(path=str(SCREENSHOTS / "login.png"))
    # A narrow window still shows the list and the thread, one above the other.
    narrow = await sign_in(browser, live_server, ws.agent.email, ws.agent.password, width=420, height=860)
    await expect(narrow.locator("#conv-list li.conv")).to_have_count(1)
    owner = await sign_in(browser, live_server, ws.owner.email, ws.owner.password)
    await owner.goto(live_server + "/admin/inboxes")
    await owner.get_by_role("button", name="Reveal signing secrets").click()
    await expect(owner.locator(f"#outbound_secret-{ws.api_inbox_id}")).to_have_value(ws.outbound_secret)
    await expect(owner.locator(f"#inbound_secret-{ws.api_inbox_id}")).to_have_value(ws.inbound_secret)
    assert page.js_errors == [] and narrow.js_errors == [] and owner.js_errors == []
