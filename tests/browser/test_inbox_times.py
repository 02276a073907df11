"""The thread in Chromium: a customer's send time is shown beside the receipt when they differ, and the
thread is in send order (a message queued at the integrator sits before one sent after it)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from playwright.async_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_inbox_live import signed_post

pytestmark = pytest.mark.browser


async def _writes(base_url: str, ws, text: str, sent_at: dt.datetime | None) -> None:  # type: ignore[no-untyped-def]
    body = {"id": f"m-{uuid.uuid4().hex}", "contact": {"id": "c-1", "name": "Ada"}, "text": text}
    if sent_at is not None:
        body["timestamp"] = sent_at.isoformat()
    await signed_post(base_url, ws, json.dumps(body))


async def test_sent_and_received_times_and_send_order(live_server, browser, make_workspace):
    ws = await make_workspace()
    now = dt.datetime.now(dt.UTC)
    await _writes(live_server, ws, "Sent just now", now)
    await _writes(live_server, ws, "Queued for two hours", now - dt.timedelta(hours=2))
    page = await sign_in(browser, live_server, ws.agent.email, ws.agent.password)
    await expect(page.locator("#conv-list li.conv")).to_have_count(1, timeout=10_000)
    await page.locator("#conv-list li.conv a").first.click()
    messages = page.locator("#messages article.msg")
    await expect(messages).to_have_count(2, timeout=10_000)
    await expect(messages.nth(0)).to_contain_text("Queued for two hours")
    await expect(messages.nth(1)).to_contain_text("Sent just now")
    queued = messages.nth(0).locator("header")
    await expect(queued.locator("time.sent-at")).to_contain_text("sent ")
    await expect(queued.locator("time.received-at")).to_contain_text("received ")
    prompt = messages.nth(1).locator("header")
    await expect(prompt.locator("time.sent-at")).to_have_count(1)
    await expect(prompt.locator("time.received-at")).to_have_count(0)  # same minute: one time
    assert page.js_errors == []  # type: ignore[attr-defined]
