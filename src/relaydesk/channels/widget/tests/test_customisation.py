"""Widget customisation through the inbox API and what the visitor gets: colours (checked hex, contrast
warning in the preview check), greeting, launcher position, per-locale texts chosen by the visitor's
browser, the business-hours status; and the admin's live preview (admins of the workspace only, the real
frame on our own origin, unsaved values, nothing stored)."""

from __future__ import annotations

import json
import re

from relaydesk.channels.widget.tests.support import make_widget_inbox
from relaydesk.models.inboxes import Inbox
from tests.web.helpers import login

HOST = "http://shop.example"
BOOT = re.compile(r'<script type="application/json" id="boot">(.*?)</script>', re.S)


def boot_of(html: str) -> dict:  # type: ignore[type-arg]
    found = BOOT.search(html)
    assert found, html[:300]
    return json.loads(found.group(1))


async def test_appearance_settings_are_checked_and_reach_loader_and_frame(client, runtime, make_workspace):
    ws = await make_workspace()
    inbox = await make_widget_inbox(runtime, ws.id, allowed_origins=[HOST])
    url = f"/api/v1/inboxes/{inbox.id}"
    for settings, field in (
        ({"accent_text_color": "white"}, "settings.accent_text_color"),
        ({"accent_color": "#12345"}, "settings.accent_color"),
        ({"strings": ["de:nokey=x"]}, "settings.strings"),
        ({"strings": ["just words"]}, "settings.strings"),
        ({"position": "middle"}, "settings.position"),
        ({"locale": "not a tag"}, "settings.locale"),
    ):
        resp = await client.patch(url, json={"settings": settings}, headers=ws.admin.headers)
        assert resp.status_code == 400, (settings, resp.text)
        assert resp.json()["error"]["details"]["field"] == field
    async with runtime.db.read() as session:
        assert (await session.get(Inbox, inbox.id)).settings["accent_text_color"] == "#ffffff"  # the default
    good = {
        "accent_color": "#1F2937",
        "accent_text_color": "#FDE047",
        "greeting": "Moin! Fragen zur Bestellung?",
        "position": "left",
        "strings": ["de:send=Abschicken", "send=Go"],
    }
    resp = await client.patch(url, json={"settings": good}, headers=ws.admin.headers)
    assert resp.status_code == 200, resp.text
    stored = resp.json()["settings"]
    assert stored["accent_color"] == "#1f2937" and stored["accent_text_color"] == "#fde047"

    loader = await client.get(
        f"/widget/{inbox.public_id}/loader.js", headers={"accept-language": "de-DE,de;q=0.9"}
    )
    assert loader.status_code == 200 and "accept-language" in loader.headers["vary"].lower()
    assert '"position": "left"' in loader.text and '"open_label": "Chat \\u00f6ffnen"' in loader.text

    frame = await client.get(
        f"/widget/{inbox.public_id}/frame",
        params={"host": HOST},
        headers={"accept-language": "de-CH, de;q=0.9"},
    )
    assert frame.status_code == 200
    boot = boot_of(frame.text)
    assert boot["locale"] == "de" and '<html lang="de">' in frame.text
    assert boot["texts"]["send"] == "Abschicken" and boot["texts"]["placeholder"] == "Nachricht schreiben…"
    assert boot["texts"]["greeting"] == "Moin! Fragen zur Bestellung?"
    assert "--accent: #1f2937; --accent-text: #fde047;" in frame.text
    assert boot["hours"] is None and boot["preview"] is False
    french = boot_of(
        (
            await client.get(
                f"/widget/{inbox.public_id}/frame", params={"host": HOST}, headers={"accept-language": "fr"}
            )
        ).text
    )
    assert french["texts"]["send"] == "Go" and french["texts"]["close"] == "Fermer la discussion"


async def test_the_frame_says_when_the_inbox_is_closed(client, runtime, make_workspace):
    ws = await make_workspace()
    inbox = await make_widget_inbox(runtime, ws.id, allowed_origins=[HOST])
    closed_always = {"timezone": "Europe/Paris", "weekly": {}, "away_message": "Back soon."}
    resp = await client.patch(
        f"/api/v1/inboxes/{inbox.id}",
        json={"settings": {"business_hours": closed_always}},
        headers=ws.admin.headers,
    )
    assert resp.status_code == 200, resp.text
    boot = boot_of((await client.get(f"/widget/{inbox.public_id}/frame", params={"host": HOST})).text)
    assert boot["hours"] == {
        "open": False,
        "next_opening": None,
        "timezone": "Europe/Paris",
        "away_message": "Back soon.",
    }


async def test_live_preview_renders_unsaved_values_for_admins_only(client, runtime, make_workspace):
    ws, other = await make_workspace(), await make_workspace("Other")
    inbox = await make_widget_inbox(runtime, ws.id, allowed_origins=[HOST])
    path = f"/widget-preview/{inbox.id}"
    assert (await client.get(path)).status_code in (302, 303)  # not signed in: to the login page

    await login(client, other.admin.email, other.admin.password)
    assert (await client.get(path)).status_code == 404  # another workspace's inbox
    await login(client, ws.agent.email, ws.agent.password)
    assert (await client.get(path)).status_code == 404  # agents do not configure inboxes
    await login(client, ws.admin.email, ws.admin.password)
    admin_page = await client.get("/admin/inboxes")
    assert f'data-preview="{path}"' in admin_page.text and 'class="preview-frame"' in admin_page.text

    shown = await client.get(
        path, params={"accent_color": "#0f766e", "greeting": "Preview hello", "form": "1"}
    )
    assert shown.status_code == 200
    csp = shown.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "frame-ancestors 'self'" in csp and "connect-src 'self'" in csp
    assert f'<style nonce="{nonce}">' in shown.text
    boot = boot_of(shown.text)
    assert boot["preview"] is True and boot["accent_color"] == "#0f766e"
    assert boot["texts"]["greeting"] == "Preview hello"
    assert boot["age_confirmation"] is False  # the form's unticked checkbox
    async with runtime.db.read() as session:
        assert "greeting" not in (await session.get(Inbox, inbox.id)).settings  # nothing saved

    check = (
        await client.get(f"{path}/check", params={"accent_color": "#fde047", "accent_text_color": "#ffffff"})
    ).json()
    assert check["errors"] == [] and "contrast" in check["warnings"][0]
    check = (await client.get(f"{path}/check", params={"accent_color": "#zzzzzz"})).json()
    assert check["errors"][0]["field"] == "settings.accent_color"
    assert (await client.get(path, params={"accent_color": "#zzzzzz"})).status_code == 400
