"""A real server and a real Chromium for the browser tests.

The server is uvicorn on 127.0.0.1 (random port) serving the app on the test runtime, in this event loop
(the database connections live in it), with a job dispatcher running in the background as in `serve`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relaydesk.auth.login import reset_throttles
from relaydesk.channels.loopback import Loopback

# The widget's fixtures (Relaydesk on its own origin, host sites on others) for tests/browser/test_widget.py.
from relaydesk.channels.widget.tests.support import host_site, relaydesk_server  # noqa: F401
from relaydesk.jobs.dispatcher import Dispatcher
from relaydesk.server.app import create_app
from tests.web.helpers import cheap_argon2

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# The browser tests take screenshots into a temporary folder, so that code path stays tested; the README's
# screenshots in docs/screenshots/ come from the demo, through scripts/screenshots (docs/web.md).
SCREENSHOTS = Path(tempfile.gettempdir()) / "relaydesk-screenshots"

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items):  # type: ignore[no-untyped-def]
    missing = not Path(CHROMIUM).exists() and shutil.which("chromium") is None
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if missing:
                item.add_marker(pytest.mark.skip(reason=f"Chromium not installed at {CHROMIUM}"))


@pytest.fixture(autouse=True)
def _cheap_passwords(monkeypatch):  # type: ignore[no-untyped-def]
    cheap_argon2(monkeypatch)


@pytest.fixture
async def live_server(runtime) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    reset_throttles()
    app = create_app(runtime=runtime, manage_runtime=False)
    server = Loopback(app, ws="websockets-sansio")
    port = await server.start()
    previous = runtime.dispatcher
    dispatcher = Dispatcher(runtime.services, concurrency=4, poll_interval=0.5)
    runtime.dispatcher = dispatcher
    await dispatcher.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await dispatcher.stop()
        runtime.dispatcher = previous
        await server.stop()
        reset_throttles()


@pytest.fixture
async def browser():  # type: ignore[no-untyped-def]
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


async def sign_in(browser, base_url: str, email: str, password: str, *, width: int = 1280, height: int = 800):  # type: ignore[no-untyped-def]
    """A fresh browser context logged in through the real form; returns the page showing the inbox."""
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.js_errors = errors  # type: ignore[attr-defined]
    await page.goto(base_url + "/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(base_url + "/inbox")
    await expect(page.locator("#live-status")).to_have_text("● Live", timeout=10_000)
    return page
