"""One registry of implemented channels: the API, the admin form and validation all read it, and the inbox
page shows no panel for a feature that does not exist (orders) nor AI switches ticked while the AI is off."""

from __future__ import annotations

import re
import uuid

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
    for kind in ("whatsapp", "telegram", "sms", "fax"):
        resp = await client.post(
            f"{API}/inboxes", json={"name": "x", "channel_type": kind}, headers=ws.admin.headers
        )
        assert resp.status_code == 400, (kind, resp.text)
        assert "not an implemented channel" in resp.text and "api" in resp.text
    listed = (await client.get(f"{API}/inboxes", headers=ws.admin.headers)).json()["items"]
    assert {i["channel_type"] for i in listed} == {"api"}


async def test_widget_inbox_is_created_from_its_spec(client, runtime, make_workspace):
    """The widget is a channel like any other: its settings are checked by its spec (400 naming the
    field), its secrets generated."""
    ws = await make_workspace()
    bad = await client.post(
        f"{API}/inboxes",
        json={"name": "Site", "channel_type": "widget", "settings": {"allowed_origins": ["not an origin"]}},
        headers=ws.admin.headers,
    )
    assert bad.status_code == 400 and "settings.allowed_origins" in bad.text
    made = await client.post(
        f"{API}/inboxes",
        json={
            "name": "Site",
            "channel_type": "widget",
            "settings": {"allowed_origins": ["https://Shop.example"]},
        },
        headers=ws.admin.headers,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["settings"]["allowed_origins"] == ["https://shop.example"]
    assert body["settings"]["age_confirmation"] is True
    from relaydesk.models.inboxes import Inbox
    from relaydesk.privacy import storage

    async with runtime.db.read() as session:
        inbox = await session.get(Inbox, uuid.UUID(body["id"]))
        secrets = storage.read_inbox_credentials(inbox)
    assert set(secrets) == {"identity_secret", "visitor_token_secret"}
    # Generated secrets: shown to the admin who made the inbox (to set up their site), like the API's.
    assert all(len(v) == 64 for v in secrets.values()) and body["secrets"] == secrets


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


async def test_email_inbox_is_created_from_its_spec_and_its_passwords_stay_sealed(client, make_workspace):
    ws = await make_workspace()
    missing = await client.post(
        f"{API}/inboxes", json={"name": "Mail", "channel_type": "email"}, headers=ws.admin.headers
    )
    assert missing.status_code == 400 and "settings.from_address" in missing.text
    bad = await client.post(
        f"{API}/inboxes",
        json={
            "name": "Mail",
            "channel_type": "email",
            "settings": {
                "from_address": "support@example.com",
                "smtp_host": "smtp.example.com",
                "smtp_security": "ssl3",
            },
        },
        headers=ws.admin.headers,
    )
    assert bad.status_code == 400 and "settings.smtp_security" in bad.text
    created = await client.post(
        f"{API}/inboxes",
        json={
            "name": "Mail",
            "channel_type": "email",
            "settings": {"from_address": "support@example.com", "smtp_host": "smtp.example.com"},
            "credentials": {
                "smtp_password": "pw-never-shown-9f3",
                "mailgun_signing_key": "key-never-shown-7a1",
            },
        },
        headers=ws.admin.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["settings"]["smtp_port"] == 587 and body["settings"]["smtp_security"] == "starttls"
    assert body["settings"]["imap_mailbox"] == "INBOX"
    assert "pw-never-shown-9f3" not in created.text and "key-never-shown-7a1" not in created.text
    listed = await client.get(f"{API}/inboxes", headers=ws.admin.headers)
    assert "pw-never-shown-9f3" not in listed.text
