"""The business-hours section of the admin inbox page: CSRF-protected, saved through the one validator,
wrong input refused with the field named and nothing stored."""

from __future__ import annotations

from relaydesk.models.inboxes import Inbox
from tests.web.helpers import csrf_of, login

FORM = {
    "hours_enabled": "on",
    "hours_timezone": "Europe/Lisbon",
    "hours_mon": "09:00-12:30, 13:30-18:00",
    "hours_tue": "09:00-18:00",
    "hours_wed": "",
    "hours_thu": "",
    "hours_fri": "09:00-15:00",
    "hours_sat": "",
    "hours_sun": "",
    "hours_closed": "2026-12-25\n2026-12-26",
    "hours_away": "We are out; back on the next working day.",
}


async def _stored(runtime, inbox_id):  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return (await session.get(Inbox, inbox_id)).settings.get("business_hours")


async def test_admin_sets_business_hours_from_the_inbox_page(client, runtime, make_workspace):
    ws = await make_workspace()
    await login(client, ws.admin.email, ws.admin.password)
    page = await client.get("/admin/inboxes")
    assert page.status_code == 200 and "Business hours and away message" in page.text
    assert '<option value="Europe/Lisbon">' in page.text

    no_csrf = await client.post("/admin/inboxes/hours", data={"id": str(ws.api_inbox_id), **FORM})
    assert no_csrf.status_code in (400, 403) and await _stored(runtime, ws.api_inbox_id) is None

    token = await csrf_of(client, "/admin/inboxes")
    saved = await client.post(
        "/admin/inboxes/hours", data={"csrf_token": token, "id": str(ws.api_inbox_id), **FORM}
    )
    assert saved.status_code == 303, saved.text
    assert await _stored(runtime, ws.api_inbox_id) == {
        "enabled": True,
        "timezone": "Europe/Lisbon",
        "weekly": {"mon": ["09:00-12:30", "13:30-18:00"], "tue": ["09:00-18:00"], "fri": ["09:00-15:00"]},
        "closed_dates": ["2026-12-25", "2026-12-26"],
        "away_message": "We are out; back on the next working day.",
    }
    shown = await client.get("/admin/inboxes")
    assert 'value="09:00-12:30, 13:30-18:00"' in shown.text

    for field, value, words in (
        ("hours_tue", "18:00-09:00", "settings.business_hours.weekly.tue"),
        ("hours_timezone", "Atlantis/Capital", "is not an IANA time zone"),
        ("hours_closed", "Christmas", "is not a date"),
    ):
        bad = await client.post(
            "/admin/inboxes/hours",
            data={"csrf_token": token, "id": str(ws.api_inbox_id), **FORM, field: value},
        )
        assert bad.status_code == 400 and words in bad.text, (field, bad.status_code)
        assert (await _stored(runtime, ws.api_inbox_id))["timezone"] == "Europe/Lisbon"

    # Switched off with the time zone cleared: the hours are removed (always open).
    off = {k: v for k, v in FORM.items() if k != "hours_enabled"} | {"hours_timezone": ""}
    cleared = await client.post(
        "/admin/inboxes/hours", data={"csrf_token": token, "id": str(ws.api_inbox_id), **off}
    )
    assert cleared.status_code == 303 and await _stored(runtime, ws.api_inbox_id) is None


async def test_agents_and_other_workspaces_cannot_set_hours(client, runtime, make_workspace):
    ws, other = await make_workspace(), await make_workspace("Other")
    await login(client, other.admin.email, other.admin.password)
    token = await csrf_of(client, "/admin/inboxes")
    resp = await client.post(
        "/admin/inboxes/hours", data={"csrf_token": token, "id": str(ws.api_inbox_id), **FORM}
    )
    assert resp.status_code == 404 and await _stored(runtime, ws.api_inbox_id) is None
    await client.post("/logout", data={"csrf_token": token})
    await login(client, ws.agent.email, ws.agent.password)
    token = await csrf_of(client, "/account/security")
    resp = await client.post(
        "/admin/inboxes/hours", data={"csrf_token": token, "id": str(ws.api_inbox_id), **FORM}
    )
    assert resp.status_code in (403, 404) and await _stored(runtime, ws.api_inbox_id) is None
