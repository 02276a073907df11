"""Composer and actions in Chromium: canned responses on `/`, retry after a failed send, labels, snooze,
bulk resolve, the shortcuts list, and the search box."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from relaydesk.actions.library import create_canned_response, create_label
from tests.browser.conftest import sign_in
from tests.browser.test_inbox_live import customer_writes

pytestmark = pytest.mark.browser


async def test_composer_and_conversation_actions(live_server, browser, runtime, make_workspace):
    ws = await make_workspace()
    async with runtime.db.write() as session:
        await create_canned_response(session, ws.id, "shipping", "Orders ship within 2 working days.")
        await create_label(session, ws.id, "billing", "#b3261e")
    await customer_writes(live_server, ws, "My invoice is wrong", contact="c-1", name="Eve")
    await customer_writes(live_server, ws, "Hello there", contact="c-2", name="Finn")
    page = await sign_in(browser, live_server, ws.agent.email, ws.agent.password)
    items = page.locator("#conv-list li.conv")
    await expect(items).to_have_count(2, timeout=10_000)

    # Shortcuts: `?` lists them, `j` opens the first conversation.
    await page.keyboard.press("?")
    await expect(page.locator("#shortcuts")).to_be_visible()
    await page.keyboard.press("Escape")
    await page.keyboard.press("j")
    await expect(page.locator("#thread")).to_be_visible()
    await page.locator("#conv-list li.conv", has_text="Eve").locator("a").click()
    await expect(page.locator("#messages")).to_contain_text("My invoice is wrong")

    # `/` opens the canned responses; Enter inserts the chosen one.
    composer = page.locator("#composer-text")
    await composer.fill("")
    await composer.type("/ship")
    await expect(page.locator("#canned-menu")).to_be_visible()
    await composer.press("Enter")
    await expect(composer).to_have_value("Orders ship within 2 working days.")

    # A send that fails stays on the page with Retry; retrying sends it once.
    await page.route(
        "**/messages", lambda route: route.abort() if route.request.method == "POST" else route.continue_()
    )
    await composer.press("Enter")
    failed = page.locator("#messages article.msg.outgoing", has_text="Orders ship")
    await expect(failed.locator(".ticks")).to_contain_text("not sent")
    await page.unroute("**/messages")
    await failed.get_by_role("button", name="Retry").click()
    # This inbox has no delivery URL: the server accepts the message, the delivery fails at the first
    # attempt (no retries: waiting cannot fix it), and the reason arrives live on the tick.
    await expect(page.locator("#messages article.msg.outgoing .ticks")).to_contain_text(
        "failed: this inbox has no delivery URL (webhook_url)", timeout=5_000
    )
    await expect(page.locator("#messages article.msg.outgoing")).to_have_count(1)

    # Labels and snooze.
    await page.locator(".labels-menu summary").click()
    await page.get_by_label("billing").check()
    await expect(page.locator("#conv-list li.conv", has_text="Eve").locator(".label-chip")).to_have_text(
        "billing"
    )
    await page.locator(".labels-menu summary").click()
    await page.locator(".snooze-menu summary").click()
    await page.locator("#snooze-until").fill("2099-01-01T09:00")
    await page.locator("#act-snooze").click()
    await expect(page.locator("#thread-meta")).to_contain_text("snoozed")
    await expect(items).to_have_count(1)  # the open view no longer holds it

    # Bulk: select the remaining conversation, resolve it from the list.
    await items.first.locator("input.pick").check()
    await page.locator('#bulk-bar [data-bulk="resolved"]').click()
    await expect(page.locator("#list-empty")).to_be_visible()

    # Search finds the conversation by a word of its messages, whatever its status.
    await page.locator("#search").fill("invoice")
    await page.locator("#search").press("Enter")
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("Eve")
    assert [e for e in page.js_errors if "Failed to load resource" not in e and "ERR_FAILED" not in e] == []
