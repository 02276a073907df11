"""The knowledge base and AI admin pages: admins only, tenant-scoped, and their writes (sent by the page to
the JSON API with the session cookie) refused without the session's CSRF token."""

from __future__ import annotations

import html

from relaydesk.models.knowledge import KnowledgeArticle
from tests.support.fixtures import count_rows
from tests.web.helpers import csrf_of, login

ARTICLE = {
    "title": "How long does delivery take?",
    "body": "Standard delivery takes 3 to 5 working days within the EU.",
    "kind": "faq",
    "url": "https://help.example.com/delivery",
    "tags": ["shipping"],
}


async def _article(client, ws, **fields) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(
        "/api/v1/knowledge/articles", json={**ARTICLE, **fields}, headers=ws.admin.headers
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_agents_cannot_reach_the_ai_admin_pages(client, make_workspace):
    ws = await make_workspace()
    article = await _article(client, ws)
    pages = ["/admin/knowledge", "/admin/knowledge/new", f"/admin/knowledge/{article['id']}", "/admin/ai"]
    await login(client, ws.agent.email, ws.agent.password)
    for path in pages:
        resp = await client.get(path)
        assert resp.status_code == 403, path
        assert ARTICLE["body"] not in resp.text
    await login(client, ws.admin.email, ws.admin.password)
    for path in pages:
        resp = await client.get(path)
        assert resp.status_code == 200, path
        # Same layout and nav as the other admin sections.
        assert 'aria-label="Admin sections"' in resp.text and 'href="/admin/knowledge"' in resp.text
    await client.post("/logout", data={"csrf_token": await csrf_of(client, "/admin/ai")})
    resp = await client.get("/admin/knowledge")
    assert resp.status_code in (302, 303) and resp.headers["location"].startswith("/login")


async def test_knowledge_list_search_edit_and_another_workspaces_article(client, make_workspace):
    ws = await make_workspace()
    other = await make_workspace("Other")
    faq = await _article(client, ws)
    guide = await _article(
        client,
        ws,
        title="Resetting your password",
        body="Choose 'Forgot password'.",
        kind="article",
        url=None,
    )
    foreign = await _article(client, other, title="Canary of the other workspace")
    await login(client, ws.admin.email, ws.admin.password)

    page = (await client.get("/admin/knowledge")).text
    assert "How long does delivery take?" in page and "Resetting your password" in page
    assert "Canary" not in page
    assert "(1 article, 1 FAQ entry)" in page
    only_faq = (await client.get("/admin/knowledge", params={"kind": "faq"})).text
    assert "How long does delivery take?" in only_faq and "Resetting your password" not in only_faq
    found = (await client.get("/admin/knowledge", params={"q": "forgot"})).text  # words of the text
    assert "Resetting your password" in found and "How long does delivery" not in found
    nothing = (await client.get("/admin/knowledge", params={"q": "100%_"})).text  # LIKE wildcards escaped
    assert "Nothing matches." in nothing
    assert (await client.get("/admin/knowledge", params={"kind": "bogus"})).status_code == 400
    assert (await client.get("/admin/knowledge", params={"after": "nope"})).status_code == 400

    edit = await client.get(f"/admin/knowledge/{faq['id']}")
    assert edit.status_code == 200
    text = html.unescape(edit.text)
    assert 'value="How long does delivery take?"' in text and ARTICLE["body"] in text
    assert f"PATCH /api/v1/knowledge/articles/{faq['id']}" in text
    assert f"DELETE /api/v1/knowledge/articles/{faq['id']}" in text
    assert 'value="https://help.example.com/delivery"' in text and 'value="shipping"' in text
    assert (await client.get(f"/admin/knowledge/{guide['id']}")).status_code == 200
    # A title is data, also inside the Delete form's confirmation attribute.
    hostile = await _article(client, ws, title='Refunds"><script>alert(1)</script>')
    raw = (await client.get(f"/admin/knowledge/{hostile['id']}")).text
    assert "<script>alert(1)" not in raw
    assert 'data-confirm="Delete “Refunds&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;”?' in raw
    # Another workspace's article id: 404, and nothing of it on the page.
    resp = await client.get(f"/admin/knowledge/{foreign['id']}")
    assert resp.status_code == 404 and "Canary" not in resp.text


async def test_page_writes_need_the_csrf_token_and_show_the_apis_errors(client, runtime, make_workspace):
    ws = await make_workspace()
    await login(client, ws.admin.email, ws.admin.password)
    token = await csrf_of(client, "/admin/knowledge")

    # The session cookie alone writes nothing.
    resp = await client.post("/api/v1/knowledge/articles", json=ARTICLE)
    assert resp.status_code == 403
    resp = await client.post("/api/v1/knowledge/articles", json=ARTICLE, headers={"X-CSRF-Token": "x" * 20})
    assert resp.status_code == 403
    assert await count_rows(runtime, KnowledgeArticle, workspace_id=ws.id) == 0
    resp = await client.put("/api/v1/ai/settings", json={"settings": {"enabled": True}})
    assert resp.status_code == 403
    assert "AI is <strong>off</strong>" in (await client.get("/admin/ai")).text

    # With the page's token, as static/admin_ai.js sends it.
    csrf = {"X-CSRF-Token": token}
    created = await client.post("/api/v1/knowledge/articles", json=ARTICLE, headers=csrf)
    assert created.status_code == 201, created.text
    assert "How long does delivery take?" in (await client.get("/admin/knowledge?done=created")).text

    # An import the API refuses changes nothing; its message is what the page shows.
    bad = await client.post(
        "/api/v1/knowledge/import",
        json={"filename": "faq.csv", "content": "question,answer\nWhere is my parcel?,\n"},
        headers=csrf,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "faq.csv: row 2 needs both a question and an answer"
    assert await count_rows(runtime, KnowledgeArticle, workspace_id=ws.id) == 1
    good = await client.post(
        "/api/v1/knowledge/import",
        json={"filename": "faq.csv", "content": "question,answer\nDo you ship to Norway?,Yes, in 5 days.\n"},
        headers=csrf,
    )
    assert good.status_code == 201, good.text
    page = (await client.get("/admin/knowledge?done=imported&created=1&updated=0")).text
    assert "Imported: 1 created, 0 updated." in page and "imported from faq.csv" in page


async def test_ai_settings_page_shows_levels_overrides_key_state_and_probe(client, make_workspace):
    ws = await make_workspace()
    await login(client, ws.admin.email, ws.admin.password)
    csrf = {"X-CSRF-Token": await csrf_of(client, "/admin/ai")}
    team = await client.post("/api/v1/teams", json={"name": "Tier 2"}, headers=ws.admin.headers)
    assert team.status_code == 201, team.text
    team_id = team.json()["id"]

    page = (await client.get("/admin/ai")).text
    # Every documented key has a field at the workspace level and at each inbox.
    for key in (
        "enabled",
        "auto_reply",
        "auto_classify",
        "answer_min_similarity",
        "handoff_keywords",
        "openai_model",
    ):
        assert f'id="ws-{key}"' in page and f'id="inbox-{ws.api_inbox_id}-{key}"' in page
    assert "Not checked yet." in page

    # Invalid values: the API's per-key details, nothing saved.
    bad = await client.put(
        "/api/v1/ai/settings", json={"settings": {"answer_min_similarity": 3}}, headers=csrf
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["details"] == {"answer_min_similarity": "must be between 0 and 1"}

    saved = await client.put(
        "/api/v1/ai/settings",
        json={
            "settings": {"enabled": True, "handoff_team_id": team_id, "handoff_keywords": ["lawyer"]},
            "api_key": "sk-secret-never-shown",
        },
        headers=csrf,
    )
    assert saved.status_code == 200, saved.text
    override = await client.put(
        f"/api/v1/ai/inboxes/{ws.api_inbox_id}/settings",
        json={"settings": {"auto_reply": False, "context_messages": 3}},
        headers=csrf,
    )
    assert override.status_code == 200, override.text
    probed = await client.post("/api/v1/ai/settings/probe", headers=csrf)
    assert probed.status_code == 200, probed.text

    page = html.unescape((await client.get("/admin/ai?done=saved")).text)
    assert "sk-secret-never-shown" not in page
    assert "A key is stored (it is never shown again)." in page
    assert "For the workspace the AI is <strong>on</strong>" in page
    assert f'<option value="{team_id}" selected>Tier 2</option>' in page
    assert ">lawyer</textarea>" in page
    # The inbox: its own values set, the rest inheriting (placeholder = the workspace's value).
    assert "AI on · local · replies off · classification on · 2 overrides" in page
    assert (
        f'id="inbox-{ws.api_inbox_id}-context_messages" name="context_messages" data-type="int" value="3"'
        in page
    )
    assert "Inherit (Tier 2)" in page
    # The stored probe result of the workspace level.
    assert "reachable" in page and "all-MiniLM-L6-v2-int8" in page


async def test_intents_pages_list_builtins_and_own_and_scope_ids(client, make_workspace):
    ws = await make_workspace()
    other = await make_workspace("Other")
    own = await client.post(
        "/api/v1/ai/intents",
        json={
            "name": "warranty_claim",
            "examples": ["my blender broke after a month", "is this under warranty"],
        },
        headers=ws.admin.headers,
    )
    assert own.status_code == 201, own.text
    foreign = await client.post(
        "/api/v1/ai/intents",
        json={"name": "canary_intent", "examples": ["canary phrase one", "canary phrase two"]},
        headers=other.admin.headers,
    )
    assert foreign.status_code == 201, foreign.text
    builtins = (await client.get("/api/v1/ai/intents", headers=other.admin.headers)).json()["items"]
    foreign_builtin = next(i for i in builtins if i["builtin"])

    await login(client, ws.agent.email, ws.agent.password)
    for path in ("/admin/intents", "/admin/intents/new", f"/admin/intents/{own.json()['id']}"):
        assert (await client.get(path)).status_code == 403, path

    await login(client, ws.admin.email, ws.admin.password)
    page = html.unescape((await client.get("/admin/intents")).text)
    assert "warranty_claim" in page and "talk_to_human" in page and "built-in" in page
    assert "canary_intent" not in page
    assert "Version 1 is queued…" in page or "Up to date." in page
    assert "Estimated accuracy" not in page  # nothing trained yet: no check to show
    edit = html.unescape((await client.get(f"/admin/intents/{own.json()['id']}")).text)
    assert f"PATCH /api/v1/ai/intents/{own.json()['id']}" in edit
    assert "my blender broke after a month\nis this under warranty</textarea>" in edit
    assert f"DELETE /api/v1/ai/intents/{own.json()['id']}" in edit
    mine = next(
        i
        for i in (await client.get("/api/v1/ai/intents", headers=ws.admin.headers)).json()["items"]
        if i["name"] == "talk_to_human"
    )
    builtin_page = html.unescape((await client.get(f"/admin/intents/{mine['id']}")).text)
    assert 'name="name" required' in builtin_page and "disabled" in builtin_page  # keeps its name
    assert "DELETE /api/v1/ai/intents" not in builtin_page  # built-ins are switched off, not deleted
    for foreign_id in (foreign.json()["id"], foreign_builtin["id"]):
        resp = await client.get(f"/admin/intents/{foreign_id}")
        assert resp.status_code == 404 and "canary" not in resp.text
