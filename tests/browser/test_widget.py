"""The chat widget in real Chromium: a host site on its own origin (another port on 127.0.0.1) embeds the
widget; a visitor chats with an agent who works in the agent inbox in a second browser context; a dropped
socket catches up by replay; nothing is stored and nothing requested before the visitor opens the chat;
Do Not Track keeps the token out of storage; an identity with a wrong HMAC is refused."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from relaydesk.channels.widget import identity
from relaydesk.channels.widget.tests.support import make_widget_inbox
from relaydesk.models import Contact, ContactIdentity
from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.support.fixtures import count_rows

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1100, "height": 760}


async def visitor_page(browser, url: str, *, privacy: bool = False):  # type: ignore[no-untyped-def]
    context = await browser.new_context(viewport=VIEWPORT)
    if privacy:  # Global Privacy Control, as Firefox and Brave expose it
        await context.add_init_script(
            "Object.defineProperty(navigator, 'globalPrivacyControl', {value: true})"
        )
    page = await context.new_page()
    page.requests = []  # type: ignore[attr-defined]
    page.errors = []  # type: ignore[attr-defined]
    page.on("request", lambda request: page.requests.append(request.url))  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))  # type: ignore[attr-defined]
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)  # type: ignore[attr-defined]
    await page.goto(url)
    await page.wait_for_function("window.Relaydesk && window.Relaydesk.version === 1")
    return page


async def open_chat(page):  # type: ignore[no-untyped-def]
    """Click the launcher (in a closed shadow root: by its place on the screen, as a person does)."""
    await page.mouse.click(VIEWPORT["width"] - 48, VIEWPORT["height"] - 48)
    for _ in range(100):
        frame = next((f for f in page.frames if "/frame?host=" in f.url), None)
        if frame is not None:
            await frame.wait_for_load_state()
            return frame
        await page.wait_for_timeout(50)
    raise AssertionError("the chat frame did not open")


async def first_message(frame, text: str, *, name: str = "Ada") -> None:  # type: ignore[no-untyped-def]
    await frame.get_by_label("Your name").fill(name)
    await frame.locator("#consent").check()
    await frame.locator("#adult").check()
    await frame.locator("#text").fill(text)
    await frame.locator("#text").press("Enter")


async def test_visitor_and_agent_chat_live_and_reconnect_replays(
    relaydesk_server, host_site, browser, make_workspace
):  # type: ignore[no-untyped-def]
    server = relaydesk_server
    ws = await make_workspace()
    inbox = await make_widget_inbox(server.runtime, ws.id)
    _site, host = await host_site(server.url, inbox.public_id)
    from relaydesk.actions.inboxes import update_inbox

    async with server.runtime.db.write() as session:
        await update_inbox(session, ws.id, inbox.id, settings={"allowed_origins": [host]})

    page = await visitor_page(browser, host + "/")
    frame = await open_chat(page)
    # The host page's CSS (red 40px buttons, !important) does not reach the chat.
    send_font = await frame.locator("#send").evaluate("b => getComputedStyle(b).fontSize")
    assert send_font != "40px"
    await first_message(frame, "Hello! Where is my order?")
    await expect(frame.locator("#messages li.visitor:not(.sending)")).to_have_text(
        "Hello! Where is my order?"
    )
    await expect(frame.locator("#prechat")).to_be_hidden()  # asked once, when the conversation starts

    agent = await sign_in(browser, server.url, ws.agent.email, ws.agent.password)
    item = agent.locator("#conv-list li.conv")
    await expect(item).to_have_count(1, timeout=10_000)
    await expect(item).to_contain_text("Ada")
    await item.locator("a").click()
    await expect(agent.locator("#messages")).to_contain_text("Where is my order?")

    # Typing reaches the visitor, then the reply arrives live.
    await agent.locator("#composer-text").fill("Let me check")
    await expect(frame.locator("#typing")).to_contain_text("is typing", timeout=10_000)
    await agent.locator("#composer-text").fill("It ships today.")
    await agent.locator("#composer-text").press("Enter")
    await expect(frame.locator("#messages li.agent")).to_contain_text("It ships today.", timeout=10_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "widget.png"))

    # The visitor's socket drops; two replies are written meanwhile; reconnecting replays both.
    await frame.evaluate("{ const s = state.socket; state.socket = null; s.onclose = null; s.close(); }")
    conv = (await agent.locator("#conv-list li.conv").first.get_attribute("data-id")) or ""
    async with httpx.AsyncClient(base_url=server.url) as http:
        for text in ("First while away", "Second while away"):
            answer = await http.post(
                f"/api/v1/conversations/{conv}/messages", json={"content": text}, headers=ws.agent.headers
            )
            assert answer.status_code == 201, answer.text
    await page.wait_for_timeout(300)
    await expect(frame.locator("#messages li.agent")).to_have_count(1)
    await frame.evaluate("connect()")
    await expect(frame.locator("#messages li.agent")).to_have_count(3, timeout=10_000)
    await expect(frame.locator("#messages li.agent").last).to_contain_text("Second while away")

    # And the visitor's typing, then their answer, reach the agent live.
    await frame.locator("#text").press_sequentially("Than")
    await expect(agent.locator("#typing")).to_contain_text("is typing", timeout=10_000)
    await frame.locator("#text").fill("Thanks!")
    await frame.locator("#text").press("Enter")
    await expect(agent.locator("#messages")).to_contain_text("Thanks!", timeout=10_000)
    assert page.errors == [] and agent.js_errors == []


async def test_nothing_stored_or_requested_before_opening(
    relaydesk_server, host_site, browser, make_workspace
):  # type: ignore[no-untyped-def]
    server = relaydesk_server
    ws = await make_workspace()
    inbox = await make_widget_inbox(server.runtime, ws.id)
    _site, host = await host_site(server.url, inbox.public_id)
    from relaydesk.actions.inboxes import update_inbox

    async with server.runtime.db.write() as session:
        await update_inbox(session, ws.id, inbox.id, settings={"allowed_origins": [host]})

    for privacy in (False, True):
        page = await visitor_page(browser, host + "/", privacy=privacy)
        await page.wait_for_timeout(500)
        # Only the page and the loader script were requested; nothing was stored anywhere.
        assert page.requests == [host + "/", f"{server.url}/widget/{inbox.public_id}/loader.js"]
        assert await page.context.cookies() == []
        assert await page.evaluate("localStorage.length + sessionStorage.length") == 0
        assert await page.evaluate("indexedDB.databases().then(d => d.length)") == 0

        frame = await open_chat(page)
        await first_message(frame, "Hi there")
        await expect(frame.locator("#messages li.visitor:not(.sending)")).to_have_text("Hi there")
        # After opening: the frame keeps the token only without DNT/GPC; never a cookie.
        stored = await frame.evaluate("localStorage.length")
        assert stored == (0 if privacy else 1)
        assert await frame.evaluate("sessionStorage.length") == 0
        assert await page.context.cookies() == []
        assert await page.evaluate("localStorage.length + sessionStorage.length") == 0
        # No request left loopback, and none went to a third party.
        assert all(re.match(r"^(http|ws)://127\.0\.0\.1:\d+/", url) for url in page.requests), page.requests
        # A reload keeps the conversation only where the token was kept (no DNT/GPC).
        await page.reload()
        await page.wait_for_function("window.Relaydesk && window.Relaydesk.version === 1")
        frame = await open_chat(page)
        if privacy:
            await expect(frame.locator("#prechat")).to_be_visible()
            await expect(frame.locator("#messages li.visitor")).to_have_count(0)
        else:
            await expect(frame.locator("#messages li.visitor")).to_have_text("Hi there")
        await page.context.close()


async def test_identity_with_a_wrong_hmac_is_refused(relaydesk_server, host_site, browser, make_workspace):  # type: ignore[no-untyped-def]
    server = relaydesk_server
    ws = await make_workspace()
    inbox = await make_widget_inbox(server.runtime, ws.id)
    site, host = await host_site(server.url, inbox.public_id)
    from relaydesk.actions.inboxes import update_inbox

    async with server.runtime.db.write() as session:
        await update_inbox(
            session,
            ws.id,
            inbox.id,
            settings={"allowed_origins": [host], "identity_verification": "enforced"},
        )
    site.identity = {"user_id": "user-7", "user_hash": identity.user_hash("a guessed secret", "user-7")}
    page = await visitor_page(browser, host + "/")
    await page.evaluate("window.__errors = []; Relaydesk.on('error', e => window.__errors.push(e.code))")
    frame = await open_chat(page)
    await expect(frame.locator("#notice")).to_contain_text("could not confirm who you are")
    assert await page.evaluate("window.__errors") == ["identity_refused"]
    await first_message(frame, "Am I logged in?")
    await expect(frame.locator("#messages li.visitor:not(.sending)")).to_have_text("Am I logged in?")
    # The message was taken as an anonymous visitor's: no contact carries the claimed user id.
    assert await count_rows(server.runtime, ContactIdentity, external_id="user:user-7") == 0
    assert await count_rows(server.runtime, Contact, workspace_id=ws.id) == 1

    # With the right HMAC (computed by the site's server) the visitor is identified.
    site.identity = {"user_id": "user-7", "user_hash": identity.user_hash(inbox.identity_secret, "user-7")}
    page = await visitor_page(browser, host + "/")
    frame = await open_chat(page)
    await first_message(frame, "Now?")
    await expect(frame.locator("#messages li.visitor:not(.sending)")).to_have_text("Now?")
    assert await count_rows(server.runtime, ContactIdentity, external_id="user:user-7") == 1
    # reset() on logout: a new anonymous visitor, nothing of the old one visible.
    await page.evaluate("Relaydesk.reset()")
    await expect(frame.locator("#messages li")).to_have_count(0)
    await expect(frame.locator("#prechat")).to_be_visible()


async def test_the_js_api_opens_closes_reports_events_and_ignores_forged_messages(
    relaydesk_server, host_site, browser, make_workspace
):  # type: ignore[no-untyped-def]
    """`Relaydesk.open/close/toggle` and the ready/open/close/message events, as a site uses them; a
    message posted by anyone but the chat frame (here the host page itself) is ignored by the loader."""
    import sqlalchemy as sa

    from relaydesk.actions.inboxes import update_inbox
    from relaydesk.models import Conversation

    server = relaydesk_server
    ws = await make_workspace()
    inbox = await make_widget_inbox(server.runtime, ws.id)
    _site, host = await host_site(server.url, inbox.public_id)
    async with server.runtime.db.write() as session:
        await update_inbox(session, ws.id, inbox.id, settings={"allowed_origins": [host]})

    page = await visitor_page(browser, host + "/")
    await page.evaluate(
        "window.__ev = []; ['ready', 'open', 'close', 'message']"
        ".forEach(n => Relaydesk.on(n, () => window.__ev.push(n)))"
    )
    await page.evaluate("Relaydesk.open()")
    await page.wait_for_function("window.__ev.includes('ready')")
    assert await page.evaluate("window.__ev") == ["open", "ready"]
    frame = next(f for f in page.frames if "/frame?host=" in f.url)
    element = await frame.frame_element()
    assert await element.is_visible()

    # Forged: the host page (not the frame) posts what the frame would; nothing happens.
    await page.evaluate(
        "window.postMessage({rd: 'close'}, '*');"
        "window.postMessage({rd: 'event', name: 'message', data: {}}, '*')"
    )
    await page.wait_for_timeout(300)
    assert await page.evaluate("window.__ev") == ["open", "ready"]
    assert await element.is_visible()

    await first_message(frame, "Is the shop open on Sunday?")
    await expect(frame.locator("#messages li.visitor:not(.sending)")).to_have_text(
        "Is the shop open on Sunday?"
    )
    await page.evaluate("Relaydesk.close()")
    assert await page.evaluate("window.__ev.slice(-1)[0]") == "close"
    assert not await element.is_visible()

    # An agent's reply while the chat is closed: a `message` event for the site.
    async with server.runtime.db.read() as session:
        conversation_id = (
            await session.execute(sa.select(Conversation.id).where(Conversation.inbox_id == inbox.id))
        ).scalar_one()
    async with httpx.AsyncClient(base_url=server.url) as http:
        reply = await http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"content": "Yes, 10 to 4."},
            headers=ws.agent.headers,
        )
        assert reply.status_code == 201, reply.text
    await page.wait_for_function("window.__ev.includes('message')", timeout=10_000)
    await page.evaluate("Relaydesk.toggle()")
    assert await page.evaluate("window.__ev.slice(-1)[0]") == "open"
    assert await element.is_visible()
    await expect(frame.locator("#messages")).to_contain_text("Yes, 10 to 4.")
    assert page.errors == []
    await page.context.close()
