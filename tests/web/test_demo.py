"""The demo shows the product: one inbox of an implemented channel with the AI on (offline), a small
knowledge base and intents, and an AI suggestion for a seeded customer question."""

from __future__ import annotations

import sqlalchemy as sa

from relaydesk.actions.ai import effective_settings
from relaydesk.channels.registry import spec_for
from relaydesk.demo import DEMO_SLUG, seed_demo
from relaydesk.models.ai import AiIntent
from relaydesk.models.inboxes import Inbox
from relaydesk.models.knowledge import KnowledgeArticle
from relaydesk.models.workspaces import Workspace
from tests.web.helpers import login


async def test_demo_seeds_ai_on_one_inbox_with_articles_intents_and_a_suggestion(
    client, runtime, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)  # the demo keeps its login file in ./.relaydesk/
    demo = await seed_demo(runtime)
    async with runtime.db.read() as session:
        ws_id = (
            await session.execute(sa.select(Workspace.id).where(Workspace.slug == DEMO_SLUG))
        ).scalar_one()
        inboxes = list((await session.execute(sa.select(Inbox).where(Inbox.workspace_id == ws_id))).scalars())
        ai_on = [i for i in inboxes if (await effective_settings(session, ws_id, i.id))[0]["enabled"]]
        articles = (
            await session.execute(sa.select(sa.func.count()).where(KnowledgeArticle.workspace_id == ws_id))
        ).scalar_one()
        own_intents = list(
            (await session.execute(sa.select(AiIntent.name).where(AiIntent.workspace_id == ws_id))).scalars()
        )
    assert all(spec_for(i.channel_type) is not None for i in inboxes)  # nothing unimplemented is seeded
    assert len(ai_on) == 1
    assert articles >= 3
    assert {"gift_wrapping", "refund", "account"} <= set(own_intents)  # its own; two mapped to labels

    await login(client, demo.email, demo.password)
    convs = (await client.get("/api/v1/conversations", params={"status": "all"})).json()["items"]
    for name, answer in (("Sofia Rossi", "Switzerland"), ("Aiko Tanaka", "within 30 days")):
        conv = next(c for c in convs if c["contact"]["name"] == name)
        assist = await client.get(f"/api/v1/conversations/{conv['id']}/assist")
        assert assist.status_code == 200, assist.text
        assert answer in " ".join(str(r) for r in assist.json()["suggested_replies"]), name


async def test_demo_website_embeds_the_demo_widget_inbox(client, runtime, monkeypatch, tmp_path):
    """`relaydesk demo` serves a website on another port with the demo widget inbox's chat: the inbox
    allows that origin (and follows it when the port changes), and the page carries the one script tag."""
    from relaydesk.channels.widget.config import widget_config
    from relaydesk.demo import demo_site, seed_demo_widget

    monkeypatch.chdir(tmp_path)
    await seed_demo(runtime)
    public_id = await seed_demo_widget(runtime, "http://127.0.0.1:8101")
    assert await seed_demo_widget(runtime, "http://127.0.0.1:8201") == public_id  # one inbox, origins moved
    async with runtime.db.read() as session:
        inbox = (await session.execute(sa.select(Inbox).where(Inbox.public_id == public_id))).scalar_one()
    assert inbox.channel_type == "widget"
    assert "http://127.0.0.1:8201" in widget_config(inbox.settings).allowed_origins
    page = demo_site("http://127.0.0.1:8200", public_id).page()
    assert f'<script src="http://127.0.0.1:8200/widget/{public_id}/loader.js" async></script>' in page
    assert (
        await client.get(f"/widget/{public_id}/frame", params={"host": "http://127.0.0.1:8201"})
    ).status_code == 200
