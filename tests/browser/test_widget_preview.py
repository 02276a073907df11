"""The admin's live preview of the chat widget in real Chromium: changing the colour in the inbox form
changes the real chat frame rendered beside it, before saving; a hard-to-read combination is warned about;
everything comes from Relaydesk's own origin. And the visitor's chat follows the saved look: launcher on
the left, greeting, texts in the browser's language, and the away notice outside business hours."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from relaydesk.actions.inboxes import update_inbox
from relaydesk.channels.widget.tests.support import make_widget_inbox
from relaydesk.models.inboxes import Inbox
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


async def test_changing_the_colour_in_the_form_changes_the_preview(
    live_server, runtime, browser, make_workspace
):  # type: ignore[no-untyped-def]
    ws = await make_workspace()
    inbox = await make_widget_inbox(runtime, ws.id, allowed_origins=["http://shop.example"])
    page = await sign_in(browser, live_server, ws.admin.email, ws.admin.password)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    await page.goto(live_server + "/admin/inboxes")
    row = page.locator(f'tr[data-inbox="{inbox.id}"]')
    await row.locator("summary", has_text="Configure").click()
    preview = page.frame_locator(f'[data-preview-for="{inbox.id}"] iframe')
    header = preview.locator("header")
    await expect(header).to_have_css("background-color", "rgb(37, 99, 235)")  # the saved #2563eb

    await row.get_by_label("Accent colour").fill("#b91c1c")
    await expect(header).to_have_css("background-color", "rgb(185, 28, 28)", timeout=5_000)
    await row.get_by_label("Greeting").fill("Hello from the preview")
    await expect(preview.locator("#greeting")).to_have_text("Hello from the preview")
    await expect(preview.locator("#messages li.agent")).to_contain_text("It ships today.")  # sample only
    problems = row.locator(".preview-problems")
    await expect(problems).to_be_empty()

    await row.get_by_label("Accent colour").fill("#fde047")  # white text on yellow
    await expect(problems).to_contain_text("contrast", timeout=5_000)
    await expect(header).to_have_css("background-color", "rgb(253, 224, 71)")
    await row.get_by_label("Accent colour").fill("#fde04")  # not a colour: the error, the old preview stays
    await expect(problems).to_contain_text("is not a colour", timeout=5_000)
    await expect(header).to_have_css("background-color", "rgb(253, 224, 71)")

    async with runtime.db.read() as session:
        assert (await session.get(Inbox, inbox.id)).settings["accent_color"] == "#2563eb"  # nothing saved
    assert all(url.startswith(live_server) or url.startswith("data:") for url in requests), requests
    assert page.js_errors == []  # type: ignore[attr-defined]


async def test_the_visitor_sees_the_saved_look_language_and_the_away_notice(
    live_server, runtime, browser, host_site, make_workspace
):  # type: ignore[no-untyped-def]
    ws = await make_workspace()
    inbox = await make_widget_inbox(runtime, ws.id)
    _site, host = await host_site(live_server, inbox.public_id)
    async with runtime.db.write() as session:
        await update_inbox(
            session,
            ws.id,
            inbox.id,
            settings={
                "allowed_origins": [host],
                "position": "left",
                "accent_color": "#0f766e",
                "strings": ["de:greeting=Willkommen im Laden!"],
                "business_hours": {"timezone": "Europe/Berlin", "weekly": {}, "away_message": "Zu."},
            },
        )
    context = await browser.new_context(viewport={"width": 1100, "height": 760}, locale="de-DE")
    page = await context.new_page()
    await page.goto(host + "/")
    await page.wait_for_function("window.Relaydesk && window.Relaydesk.version === 1")
    await page.mouse.click(48, 760 - 48)  # the launcher is on the left
    frame = None
    for _ in range(100):
        frame = next((f for f in page.frames if "/frame?host=" in f.url), None)
        if frame is not None:
            break
        await page.wait_for_timeout(50)
    assert frame is not None, "the launcher on the left did not open the chat"
    await expect(frame.locator("#greeting")).to_have_text("Willkommen im Laden!")
    await expect(frame.locator("#send")).to_have_text("Senden")
    await expect(frame.locator("#away")).to_be_visible()
    await expect(frame.locator("#away")).to_contain_text("Wir sind gerade nicht da")
    await expect(frame.locator("header")).to_have_css("background-color", "rgb(15, 118, 110)")
    await context.close()
