"""The AI in Chromium: the inbox's assistant panel (a knowledge-backed suggestion clicked into the composer
and sent, a suggested label applied, live refresh, the decision log and contesting, the switches) and the
admin's knowledge base and AI settings pages."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from relaydesk.channels.api.fake import WebhookReceiver
from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.browser.test_inbox_live import customer_writes

pytestmark = pytest.mark.browser

DELIVERY = {
    "title": "How long does delivery take?",
    "body": "Standard delivery takes 3 to 5 working days within the EU. Express delivery arrives the next "
    "working day if you order before 2 pm.",
    "kind": "faq",
    "url": "https://help.example.com/delivery",
}
RETURNS = {
    "title": "How do I return an item?",
    "body": "You can return any item within 30 days of delivery. Print the free return label from your "
    "account page and drop the parcel at any post office.",
    "kind": "faq",
}


async def call(base_url: str, ws: Any, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        resp = await http.request(method, f"/api/v1{path}", json=body, headers=ws.admin.headers)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


async def test_agent_puts_a_knowledge_suggestion_in_the_composer_and_sends_it(
    live_server, browser, make_workspace
):
    receiver = await WebhookReceiver().start()
    try:
        ws = await make_workspace(webhook_url=receiver.url)
        receiver.secret = ws.outbound_secret
        for article in (DELIVERY, RETURNS):
            await call(live_server, ws, "POST", "/knowledge/articles", article)
        await call(
            live_server,
            ws,
            "POST",
            "/labels",
            {"name": "shipping", "description": "Delivery times and parcels"},
        )
        await call(
            live_server, ws, "PUT", "/ai/settings", {"settings": {"enabled": True, "auto_reply": False}}
        )
        await customer_writes(live_server, ws, "Hi, how long does delivery to Germany take?", contact="c-1")

        page = await sign_in(browser, live_server, ws.agent.email, ws.agent.password)
        await page.locator("#conv-list li.conv a").first.click()
        suggestion = page.locator("#ai-replies li.suggestion").filter(has_text="3 to 5 working days")
        await expect(suggestion).to_be_visible(timeout=30_000)
        await expect(suggestion).to_contain_text("From the knowledge base: How long does delivery take?")
        await expect(page.locator("#ai-summary li")).not_to_have_count(0)
        await expect(page.locator("#ai-sentiment svg.trend")).to_have_attribute(
            "aria-label", re.compile(r"^Sentiment per customer message, oldest first: [-+]?\d\.\d\d$")
        )
        await expect(page.locator("#ai-intent")).not_to_be_empty()
        await expect(page.locator("#ai-status")).to_contain_text("suggestions only")
        await expect(page.locator("#ai-switches")).to_be_hidden()  # no reply switch ticked without replies
        await expect(
            page.locator("#ai-labels").get_by_role("button", name="Add label shipping")
        ).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "ai-assist.png"))

        # The click fills the composer; nothing is sent until the agent sends it.
        await suggestion.get_by_role("button", name="Use this reply").click()
        composer = page.locator("#composer-text")
        await expect(composer).to_be_focused()
        filled = await composer.input_value()
        assert "3 to 5 working days" in filled
        await asyncio.sleep(0.5)
        await expect(page.locator("#messages article.msg.outgoing")).to_have_count(0)
        assert receiver.received == []
        await composer.press("Enter")
        await expect(page.locator("#messages article.msg.outgoing")).to_contain_text("3 to 5 working days")
        await asyncio.wait_for(receiver.got_one.wait(), timeout=15)
        assert receiver.received[-1].json["text"] == filled

        # A suggested label is applied through the normal label action.
        await page.locator("#ai-labels").get_by_role("button", name="Add label shipping").click()
        await expect(page.locator("#conv-list li.conv .label-chip")).to_have_text("shipping")
        await expect(page.locator("#ai-labels")).to_have_text("No label to suggest.")

        # A new customer message refreshes the suggestions live (no reload, no polling).
        await customer_writes(live_server, ws, "And how can I return an item I don't like?", contact="c-1")
        await expect(
            page.locator("#ai-replies li.suggestion").filter(has_text="within 30 days").first
        ).to_be_visible(timeout=20_000)
        assert page.js_errors == []
    finally:
        await receiver.stop()


async def test_admin_switches_the_ai_on_and_agents_see_and_contest_its_decisions(
    live_server, browser, make_workspace
):
    ws = await make_workspace()
    await call(live_server, ws, "POST", "/knowledge/articles", DELIVERY)
    await customer_writes(live_server, ws, "Hello, is anyone there?", contact="c-2", name="Bo")
    agent = await sign_in(browser, live_server, ws.agent.email, ws.agent.password)
    await agent.locator("#conv-list li.conv a").first.click()
    await expect(agent.locator("#ai-status")).to_contain_text("AI is off for this inbox")
    await expect(agent.locator("#ai-assist")).to_be_hidden()

    admin = await sign_in(browser, live_server, ws.admin.email, ws.admin.password)
    await admin.goto(live_server + "/admin/ai")
    await admin.locator("#ws-enabled").select_option("on")
    await admin.locator("#ws-answer_min_similarity").fill("7")  # refused by the API, shown on its field
    await (
        admin.get_by_role("form", name="AI settings of the workspace")
        .get_by_role("button", name="Save")
        .click()
    )
    await expect(admin.locator("#err-ws-answer_min_similarity")).to_have_text("must be between 0 and 1")
    await expect(admin.locator("#ws-answer_min_similarity")).to_have_attribute("aria-invalid", "true")
    await admin.locator("#ws-answer_min_similarity").fill("")
    await (
        admin.get_by_role("form", name="AI settings of the workspace")
        .get_by_role("button", name="Save")
        .click()
    )
    await expect(admin.get_by_role("status")).to_have_text("Saved.")
    await expect(admin.locator(".ai-summary")).to_contain_text("the AI is on")
    async with httpx.AsyncClient(base_url=live_server) as http:
        stored = (await http.get("/api/v1/ai/settings", headers=ws.admin.headers)).json()
    assert stored["settings"] == {"enabled": True}  # only the changed field was sent
    await admin.get_by_role("button", name="Probe now").first.click()
    await expect(admin.locator(".probe-result").first).to_contain_text("reachable")

    # The agent's open panel follows the settings event: the AI is on now.
    await expect(agent.locator("#ai-assist")).to_be_visible(timeout=10_000)
    await expect(agent.locator("#ai-status")).to_be_hidden()

    # The AI answers the next question; its decision appears in the log with its source.
    await customer_writes(live_server, ws, "How long does delivery take?", contact="c-2")
    await expect(agent.locator("#ai-log-count")).to_have_text("1", timeout=30_000)
    await agent.locator("#ai-log > summary").click()
    decision = agent.locator("#ai-decisions li.decision").first
    await expect(decision).to_contain_text("Answered")
    await expect(decision.get_by_role("link", name="How long does delivery take?")).to_be_visible()
    await expect(decision.locator("table.scores tbody tr")).not_to_have_count(0)
    await decision.locator("summary", has_text="Contest for the customer").click()
    await decision.get_by_label("Note").fill("Customer says the answer is wrong")
    await decision.get_by_role("button", name="Contest this decision").click()
    await expect(agent.locator("#ai-decisions li.decision.contested")).to_contain_text(
        "Contested", timeout=10_000
    )
    # Contesting hands the conversation to people: the AI is off in it, and an agent can switch it back.
    await expect(agent.locator("#ai-conv-switch")).not_to_be_checked(timeout=10_000)
    await expect(agent.locator("#ai-status")).to_contain_text("does not reply in this conversation")
    await agent.locator("#ai-conv-switch").check()
    await expect(agent.locator("#ai-status")).to_be_hidden()
    await agent.locator("#ai-contact-switch").uncheck()
    await expect(agent.locator("#ai-status")).to_contain_text("switched off automated handling")
    assert agent.js_errors == []
    assert [e for e in admin.js_errors if "status of 400" not in e] == []  # the refused setting above


async def test_admin_writes_imports_edits_and_deletes_knowledge_articles(
    live_server, browser, make_workspace, tmp_path
):
    ws = await make_workspace()
    page = await sign_in(browser, live_server, ws.admin.email, ws.admin.password)
    await page.goto(live_server + "/admin/knowledge")
    await expect(page.get_by_text("No articles yet")).to_be_visible()

    await page.get_by_role("link", name="New article or FAQ entry").click()
    await page.get_by_label("Kind").select_option("faq")
    await page.get_by_label("Title (for a FAQ entry: the question)").fill("Do you ship to Norway?")
    await page.get_by_label("Text (for a FAQ entry: the answer)").fill(
        "Yes: Norway takes 5 to 7 working days."
    )
    await page.get_by_label("Link quoted as the source (optional)").fill("https://help.example.com/norway")
    await page.get_by_label("Tags (comma-separated)").fill("shipping, nordics")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("status")).to_have_text("Article created.")
    row = page.locator("tbody tr", has_text="Do you ship to Norway?")
    await expect(row).to_contain_text("faq")
    await expect(row).to_contain_text("nordics")

    # Edit: a bad URL is refused by the API and shown on its field; a good edit is saved.
    await row.get_by_role("link", name="Do you ship to Norway?").click()
    await page.get_by_label("Link quoted as the source (optional)").fill("ftp://example.com/x")
    await page.evaluate("() => document.getElementById('kb-url').type = 'text'")  # past the browser check
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#err-url")).to_contain_text("http(s) URL")
    await page.get_by_label("Link quoted as the source (optional)").fill("")
    await page.get_by_label("Title (for a FAQ entry: the question)").fill("Do you deliver to Norway?")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Article updated.")
    await expect(page.locator("tbody")).to_contain_text("Do you deliver to Norway?")

    # Import: the API's error for a broken CSV is shown and nothing is imported; a good file is.
    bad = tmp_path / "faq.csv"
    bad.write_text("question,answer\nWhere is my parcel?,\n")
    await page.get_by_label("File", exact=True).set_input_files(str(bad))
    await page.get_by_role("button", name="Import").click()
    await expect(page.locator("#kb-import [data-errors]")).to_have_text(
        "faq.csv: row 2 needs both a question and an answer"
    )
    good = tmp_path / "returns.md"
    good.write_text("---\nurl: https://help.example.com/returns\n---\n# Returns\n\nReturn within 30 days.\n")
    await page.get_by_label("File", exact=True).set_input_files(str(good))
    await page.get_by_role("button", name="Import").click()
    await expect(page.get_by_role("status")).to_have_text("Imported: 1 created, 0 updated.")
    await expect(page.locator("tbody tr")).to_have_count(2)

    # Search the list, and try a question against retrieval.
    await page.get_by_label("Search titles and text").fill("norway")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await page.get_by_label("Question", exact=True).fill("Can I send something back?")
    await page.get_by_role("button", name="Search passages").click()
    await expect(page.locator("#kb-try-results li").first).to_contain_text("cosine")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "admin-knowledge.png"))

    # Delete (after confirming).
    await page.get_by_role("link", name="Do you deliver to Norway?").click()
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("status")).to_have_text("Article deleted.")
    await expect(page.locator("tbody tr")).to_have_count(1)
    assert [e for e in page.js_errors if "status of 400" not in e] == []


async def test_admin_adds_an_intent_and_watches_the_model_train(live_server, browser, make_workspace):
    ws = await make_workspace()
    page = await sign_in(browser, live_server, ws.admin.email, ws.admin.password)
    await page.goto(live_server + "/admin/intents")
    await expect(page.locator("#intent-model")).to_contain_text("Serving the built-in model.")
    await page.get_by_role("link", name="New intent").click()
    await page.get_by_label("Name (lower case, digits and _)").fill("warranty_claim")
    await page.get_by_label("Example phrases (one per line)").fill(
        "my blender broke after a month\nis this covered by the warranty\nthe kettle stopped working, warranty?"
    )
    await page.get_by_label("Hand the conversation to people when detected").check()
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("status")).to_have_text("Intent created.")
    await expect(page.locator('tr[data-intent="warranty_claim"]')).to_contain_text("hands off")
    # Training runs in the background (debounced); the page follows it from the event stream.
    await expect(page.locator("#intent-model")).to_contain_text("Up to date.", timeout=90_000)
    await expect(page.locator("#intent-model")).to_contain_text("Serving the workspace's model, version 1")
    await page.get_by_label("Customer's words").fill("my toaster broke, is it under warranty?")
    await page.get_by_role("button", name="Detect").click()
    await expect(page.locator("#intent-try-result")).to_contain_text("warranty claim")
    assert page.js_errors == []
