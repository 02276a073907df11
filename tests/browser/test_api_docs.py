"""The API documentation page in Chromium: Swagger UI from our own origin lists the operations, under the
app's CSP, and the browser requests nothing from any other host."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.browser


async def test_api_docs_render_offline_under_the_csp(live_server, browser):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)

    response = await page.goto(live_server + "/api/v1/schema/swagger")
    assert response is not None and response.status == 200
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Relaydesk API", timeout=15_000)
    operations = page.locator(".opblock")
    await expect(operations.first).to_be_visible(timeout=15_000)
    assert await operations.count() > 50  # every route of the API, not an empty shell
    await expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/conversations").first
    ).to_be_visible()

    # Opening an operation shows its responses, the shared error shape included.
    await page.locator(".opblock-summary-path[data-path='/api/v1/me']").first.click()
    await expect(page.locator(".responses-wrapper").first).to_be_visible()

    hosts = {urlsplit(url).hostname for url in requested if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, requested
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    await context.close()
