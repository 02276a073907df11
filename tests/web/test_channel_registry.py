"""One registry of implemented channels: the API, the admin form and validation all read it, and the inbox
page shows no panel for a feature that does not exist (orders) nor AI switches ticked while the AI is off."""

from __future__ import annotations

import re

from relaydesk.channels.registry import implemented_channels, spec_for
from tests.web.helpers import login

API = "/api/v1"


async def test_channels_endpoint_lists_exactly_the_registered_adapters(client, make_workspace):
    ws = await make_workspace()
    resp = await client.get(f"{API}/channels", headers=ws.agent.headers)
    assert resp.status_code == 200
    items = resp.json()["items"]
    assert [i["name"] for i in items] == [c.name for c in implemented_channels()]
    assert all(i["label"] and spec_for(i["name"]) is not None for i in items)
    api = next(i for i in items if i["name"] == "api")
    assert [f["name"] for f in api["credentials"]] == ["inbound_secret", "outbound_secret"]
    assert all(f["kind"] == "secret" and f["generated"] for f in api["credentials"])
    assert api["settings"] == [
        {
            "name": "webhook_url",
            "label": "Delivery URL",
            "kind": "url",
            "required": False,
            "generated": False,
            "help": "Where replies are delivered as signed webhooks.",
        }
    ]
    assert "whsec_" not in resp.text  # a schema, never an inbox's values
    assert (await client.get(f"{API}/channels")).status_code == 401


async def test_unimplemented_channel_types_are_refused_with_a_clear_error(client, make_workspace):
    ws = await make_workspace()
    for kind in ("whatsapp", "email", "widget", "telegram", "sms", "fax"):
        resp = await client.post(
            f"{API}/inboxes", json={"name": "x", "channel_type": kind}, headers=ws.admin.headers
        )
        assert resp.status_code == 400, (kind, resp.text)
        assert "not an implemented channel" in resp.text and "api" in resp.text
    listed = (await client.get(f"{API}/inboxes", headers=ws.admin.headers)).json()["items"]
    assert {i["channel_type"] for i in listed} == {"api"}


async def test_admin_form_offers_only_implemented_channels(client, make_workspace):
    ws = await make_workspace()
    await login(client, ws.admin.email, ws.admin.password)
    page = await client.get("/admin/inboxes")
    assert page.status_code == 200
    select = re.search(r'<select id="new-type" name="channel_type">(.*?)</select>', page.text, re.S)
    assert select is not None
    offered = re.findall(r'<option value="([^"]+)">', select.group(1))
    assert offered == [c.name for c in implemented_channels()]


async def test_inbox_page_has_no_orders_panel_and_hides_the_ai_switches_until_known(client, make_workspace):
    ws = await make_workspace()
    await login(client, ws.agent.email, ws.agent.password)
    page = await client.get("/inbox")
    assert page.status_code == 200
    assert "Orders" not in page.text and "orders-panel" not in page.text
    # Hidden by default; ai_panel.js shows them only where the inbox's AI replies on its own.
    assert '<fieldset class="ai-switches" id="ai-switches" hidden>' in page.text
