"""An HTML mail in Chromium: the thread shows the new text, "Show formatted" opens the sanitised mail in a
sandboxed frame with the inline image and without any request for the remote image, and only "Show images"
makes that request (answered by a route in the browser: nothing leaves the machine)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from relaydesk.actions.inboxes import create_inbox
from relaydesk.channels.email.fake import MailgunDriver
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).resolve().parents[2] / "src" / "relaydesk" / "channels" / "email" / "fixtures"
KEY = "key-browser-signing"
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


async def test_html_mail_remote_images_load_only_when_asked(live_server, browser, runtime, make_workspace):
    ws = await make_workspace()
    async with runtime.db.write() as session:
        inbox = await create_inbox(
            session,
            ws.id,
            name="Mail",
            channel_type="email",
            settings={
                "from_address": "support@support.example.com",
                "smtp_host": "127.0.0.1",
                "smtp_security": "plain",
            },
            credentials={"mailgun_signing_key": KEY},
        )
    raw = (FIXTURES / "multipart_inline_image.eml").read_bytes()
    fields = MailgunDriver(KEY).mime_form(raw, "support@support.example.com", "chen@example.com")
    async with httpx.AsyncClient() as http:
        assert (
            await http.post(f"{live_server}/inbound/email/{inbox.public_id}", data=fields)
        ).status_code == 202

    page = await sign_in(browser, live_server, ws.agent.email, ws.agent.password)
    tracker: list[str] = []

    async def pixel(route):  # type: ignore[no-untyped-def]
        tracker.append(route.request.url)
        await route.fulfill(status=200, content_type="image/gif", body=PIXEL)

    await page.context.route("https://tracker.example.net/**", pixel)
    await expect(page.locator("#conv-list li.conv")).to_have_count(1, timeout=10_000)
    await page.locator("#conv-list li.conv a").first.click()
    message = page.locator("#messages article.msg").first
    await expect(message.locator("p.body")).to_have_text(
        "Hello, the lid of my kettle arrived broken, see the photo.\nOrder 7734."
    )
    await message.get_by_role("button", name="Show formatted").click()
    frame = page.frame_locator("iframe.mail-html")
    await expect(frame.locator("b")).to_have_text("broken", timeout=10_000)
    await expect(frame.locator('img[alt="photo"]')).to_have_attribute(
        "src",
        re.compile(r"^data:image/png;base64,iVBOR"),
        timeout=10_000,
    )
    await expect(frame.locator("img[data-remote-src]")).to_have_count(1)
    await page.wait_for_timeout(500)
    assert tracker == []  # opened, yet the remote image was not requested
    await message.get_by_role("button", name="Show images (1)").click()
    await expect(frame.locator('img[src^="https://tracker.example.net/"]')).to_have_count(1, timeout=10_000)
    for _ in range(100):
        if tracker:
            break
        await page.wait_for_timeout(100)
    assert tracker[0] == "https://tracker.example.net/open.gif?u=chen"
    assert page.js_errors == []  # type: ignore[attr-defined]
