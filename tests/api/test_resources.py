"""CRUD, validation and role checks of the workspace resources of /api/v1."""

from __future__ import annotations

from relaydesk.actions.workspaces import add_member
from relaydesk.models import CannedResponse, Label, Team
from tests.support.fixtures import count_rows

API = "/api/v1"


async def test_labels_crud_roles_and_validation(client, runtime, make_workspace):
    ws = await make_workspace()
    denied = await client.post(f"{API}/labels", json={"name": "vip"}, headers=ws.agent.headers)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"
    bad = await client.post(f"{API}/labels", json={"name": "vip", "color": "red"}, headers=ws.admin.headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    assert await count_rows(runtime, Label, workspace_id=ws.id) == 0

    created = await client.post(
        f"{API}/labels", json={"name": "vip", "color": "#112233"}, headers=ws.admin.headers
    )
    assert created.status_code == 201, created.text
    label_id = created.json()["id"]
    dup = await client.post(f"{API}/labels", json={"name": "vip"}, headers=ws.admin.headers)
    assert dup.status_code == 409
    for name in ("billing", "alpha"):
        await client.post(f"{API}/labels", json={"name": name}, headers=ws.admin.headers)

    page1 = (await client.get(f"{API}/labels?limit=2", headers=ws.agent.headers)).json()
    assert [x["name"] for x in page1["items"]] == ["alpha", "billing"]
    page2 = (
        await client.get(f"{API}/labels?limit=2&cursor={page1['next_cursor']}", headers=ws.agent.headers)
    ).json()
    assert [x["name"] for x in page2["items"]] == ["vip"] and page2["next_cursor"] is None

    changed = await client.patch(
        f"{API}/labels/{label_id}", json={"description": "big customers"}, headers=ws.admin.headers
    )
    assert changed.status_code == 200 and changed.json()["description"] == "big customers"
    empty = await client.patch(f"{API}/labels/{label_id}", json={}, headers=ws.admin.headers)
    assert empty.status_code == 400
    assert (await client.delete(f"{API}/labels/{label_id}", headers=ws.agent.headers)).status_code == 403
    assert (await client.delete(f"{API}/labels/{label_id}", headers=ws.admin.headers)).status_code == 204
    assert (await client.get(f"{API}/labels/{label_id}", headers=ws.agent.headers)).status_code == 404


async def test_teams_and_members(client, runtime, make_workspace):
    ws = await make_workspace()
    team = await client.post(f"{API}/teams", json={"name": "Support"}, headers=ws.admin.headers)
    assert team.status_code == 201, team.text
    team_id = team.json()["id"]
    assert (
        await client.post(f"{API}/teams", json={"name": "x"}, headers=ws.agent.headers)
    ).status_code == 403
    put = await client.put(
        f"{API}/teams/{team_id}/members",
        json={"user_ids": [str(ws.agent.user_id), str(ws.admin.user_id)]},
        headers=ws.admin.headers,
    )
    assert put.status_code == 200, put.text
    assert sorted(put.json()["member_ids"]) == sorted([str(ws.agent.user_id), str(ws.admin.user_id)])
    other = await make_workspace("Other")
    stranger = await client.put(
        f"{API}/teams/{team_id}/members",
        json={"user_ids": [str(other.agent.user_id)]},
        headers=ws.admin.headers,
    )
    assert stranger.status_code == 400
    shown = (await client.get(f"{API}/teams/{team_id}", headers=ws.agent.headers)).json()
    assert len(shown["member_ids"]) == 2  # the refused change wrote nothing
    renamed = await client.patch(f"{API}/teams/{team_id}", json={"name": "Tier 1"}, headers=ws.admin.headers)
    assert renamed.json()["name"] == "Tier 1"
    assert (await client.delete(f"{API}/teams/{team_id}", headers=ws.admin.headers)).status_code == 204
    assert await count_rows(runtime, Team, workspace_id=ws.id) == 0


async def test_canned_responses_prefix_filter(client, runtime, make_workspace):
    ws = await make_workspace()
    for code in ("refund", "refund_late", "Shipping", "ref%"):
        resp = await client.post(
            f"{API}/canned-responses",
            json={"short_code": code, "content": f"text {code}"},
            headers=ws.admin.headers,
        )
        assert resp.status_code == (400 if "%" in code else 201), resp.text
    found = (await client.get(f"{API}/canned-responses?q=REF", headers=ws.agent.headers)).json()
    assert [c["short_code"] for c in found["items"]] == ["refund", "refund_late"]
    # LIKE wildcards in the query are literal characters, not patterns.
    assert (await client.get(f"{API}/canned-responses?q=%25", headers=ws.agent.headers)).json()["items"] == []
    assert (await client.get(f"{API}/canned-responses?q=re_", headers=ws.agent.headers)).json()["items"] == []
    denied = await client.post(
        f"{API}/canned-responses", json={"short_code": "a", "content": "b"}, headers=ws.agent.headers
    )
    assert denied.status_code == 403
    cid = found["items"][0]["id"]
    upd = await client.patch(
        f"{API}/canned-responses/{cid}", json={"content": "new"}, headers=ws.admin.headers
    )
    assert upd.json()["content"] == "new"
    assert (await client.delete(f"{API}/canned-responses/{cid}", headers=ws.admin.headers)).status_code == 204
    assert await count_rows(runtime, CannedResponse, workspace_id=ws.id) == 2


async def test_attribute_definitions(client, make_workspace):
    ws = await make_workspace()
    body = {
        "applies_to": "contact",
        "key": "plan",
        "label": "Plan",
        "value_type": "list",
        "options": ["a", "b"],
    }
    created = await client.post(f"{API}/attribute-definitions", json=body, headers=ws.admin.headers)
    assert created.status_code == 201, created.text
    assert (
        await client.post(f"{API}/attribute-definitions", json=body, headers=ws.admin.headers)
    ).status_code == 409
    for bad in (
        {**body, "key": "Bad Key"},
        {**body, "applies_to": "message"},
        {**body, "value_type": "list", "options": [], "key": "x"},
        {**body, "value_type": "text", "key": "y"},  # options only for lists
    ):
        resp = await client.post(f"{API}/attribute-definitions", json=bad, headers=ws.admin.headers)
        assert resp.status_code == 400, bad
    listed = (
        await client.get(f"{API}/attribute-definitions?applies_to=contact", headers=ws.agent.headers)
    ).json()
    assert [d["key"] for d in listed["items"]] == ["plan"]
    did = created.json()["id"]
    upd = await client.patch(
        f"{API}/attribute-definitions/{did}", json={"label": "Pricing plan"}, headers=ws.admin.headers
    )
    assert upd.json()["label"] == "Pricing plan"
    fixed = await client.patch(
        f"{API}/attribute-definitions/{did}", json={"key": "other"}, headers=ws.admin.headers
    )
    assert fixed.status_code == 400  # key is fixed once created: an unknown field for updates


async def test_workspace_settings(client, make_workspace):
    ws = await make_workspace()
    shown = (await client.get(f"{API}/workspace", headers=ws.agent.headers)).json()
    assert shown["slug"] == ws.slug and shown["settings"]["reply_window_hours"] == 24
    assert (
        await client.patch(f"{API}/workspace", json={"name": "X"}, headers=ws.agent.headers)
    ).status_code == 403
    resp = await client.patch(
        f"{API}/workspace",
        json={
            "name": "Acme Ltd",
            "settings": {"reply_window_hours": 48},
        },
        headers=ws.admin.headers,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "Acme Ltd"
    assert "allow_private_webhook_targets" not in resp.json()["settings"]  # the operator decides (ssrf)
    assert resp.json()["settings"]["reply_window_hours"] == 48
    for bad in (
        {"settings": {"unknown": 1}},
        {"settings": {"allow_private_webhook_targets": True}},  # retired: not a workspace's choice
        {"settings": {"reply_window_hours": 0}},
        {"settings": {"require_2fa_roles": ["root"]}},
        {},
    ):
        assert (await client.patch(f"{API}/workspace", json=bad, headers=ws.admin.headers)).status_code == 400
    reset = await client.patch(
        f"{API}/workspace", json={"settings": {"reply_window_hours": None}}, headers=ws.admin.headers
    )
    assert reset.json()["settings"]["reply_window_hours"] == 24


async def test_members_roles_and_deactivation(client, runtime, make_workspace):
    ws = await make_workspace()
    members = (await client.get(f"{API}/members", headers=ws.agent.headers)).json()["items"]
    by_role = {m["role"]: m for m in members}
    assert set(by_role) == {"owner", "admin", "agent"}
    agent_m, owner_m = by_role["agent"]["id"], by_role["owner"]["id"]

    assert (
        await client.patch(f"{API}/members/{agent_m}", json={"role": "admin"}, headers=ws.agent.headers)
    ).status_code == 403
    promoted = await client.patch(
        f"{API}/members/{agent_m}", json={"role": "admin"}, headers=ws.admin.headers
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    # Admins cannot touch owners; the last owner cannot be demoted.
    assert (
        await client.patch(f"{API}/members/{owner_m}", json={"role": "agent"}, headers=ws.admin.headers)
    ).status_code == 403
    assert (
        await client.post(f"{API}/members/{owner_m}/deactivate", headers=ws.admin.headers)
    ).status_code == 403
    assert (
        await client.patch(f"{API}/members/{owner_m}", json={"role": "agent"}, headers=ws.owner.headers)
    ).status_code == 409

    off = await client.post(f"{API}/members/{agent_m}/deactivate", headers=ws.admin.headers)
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert (await client.get(f"{API}/me", headers=ws.agent.headers)).status_code == 401  # token revoked
    on = await client.post(f"{API}/members/{agent_m}/reactivate", headers=ws.admin.headers)
    assert on.json()["is_active"] is True

    other = await make_workspace("Other")
    stranger = await client.post(
        f"{API}/members", json={"email": other.agent.email}, headers=ws.admin.headers
    )
    assert stranger.status_code == 404  # not a colleague of the caller: invite instead
    # The admin of `ws` also works in `other`: its people can be added directly.
    async with runtime.db.write() as session:
        await add_member(session, other.id, ws.admin.user_id, "agent")
    added = await client.post(
        f"{API}/members", json={"email": other.agent.email, "role": "agent"}, headers=ws.admin.headers
    )
    assert added.status_code == 201, added.text
    again = await client.post(f"{API}/members", json={"email": other.agent.email}, headers=ws.admin.headers)
    assert again.status_code == 409
    nobody = await client.post(
        f"{API}/members", json={"email": "nobody@example.com"}, headers=ws.admin.headers
    )
    assert nobody.status_code == 404
    owner_by_admin = await client.post(
        f"{API}/members", json={"email": other.admin.email, "role": "owner"}, headers=ws.admin.headers
    )
    assert owner_by_admin.status_code == 403


async def test_invitation_flow(client, make_workspace):
    ws = await make_workspace()
    created = await client.post(
        f"{API}/invitations", json={"email": "new.agent@example.com"}, headers=ws.admin.headers
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert created.json()["url"].endswith(f"/invite/{token}")
    listed = (await client.get(f"{API}/invitations", headers=ws.admin.headers)).json()["items"]
    assert [i["email"] for i in listed] == ["new.agent@example.com"] and "token" not in listed[0]
    assert (await client.get(f"{API}/invitations", headers=ws.agent.headers)).status_code == 403

    weak = await client.post(
        f"{API}/invitations/accept", json={"token": token, "name": "New", "password": "password"}
    )
    assert weak.status_code == 400
    accepted = await client.post(
        f"{API}/invitations/accept",
        json={"token": token, "name": "New Agent", "password": "a long and unusual passphrase"},
    )
    assert accepted.status_code == 201, accepted.text
    spent = await client.post(
        f"{API}/invitations/accept", json={"token": token, "name": "x", "password": "another long passphrase"}
    )
    assert spent.status_code == 404
    emails = [
        m["email"] for m in (await client.get(f"{API}/members", headers=ws.admin.headers)).json()["items"]
    ]
    assert "new.agent@example.com" in emails

    second = await client.post(
        f"{API}/invitations", json={"email": "x@example.com"}, headers=ws.admin.headers
    )
    inv_id = second.json()["id"]
    assert (await client.delete(f"{API}/invitations/{inv_id}", headers=ws.admin.headers)).status_code == 204
    assert (await client.get(f"{API}/invitations", headers=ws.admin.headers)).json()["items"] == []


async def test_inboxes_secrets_only_for_admins(client, runtime, make_workspace):
    ws = await make_workspace()
    created = await client.post(
        f"{API}/inboxes", json={"name": "Integrator", "channel_type": "api"}, headers=ws.admin.headers
    )
    assert created.status_code == 201, created.text
    inbox = created.json()
    assert inbox["webhook_url"] == f"{runtime.settings.base_url}/inbound/api/{inbox['public_id']}"
    assert inbox["secrets"]["inbound_secret"].startswith("whsec_")
    assert set(inbox["health"]) == {
        "last_event_at",
        "last_error",
        "last_error_at",
        "failed_events",
        "needs_reauthorisation",
        "reauthorisation_reason",
        "receiver",
    }
    assert inbox["health"]["receiver"] is None  # the API channel has no background receiver
    as_agent = (await client.get(f"{API}/inboxes/{inbox['id']}", headers=ws.agent.headers)).json()
    assert "secrets" not in as_agent and as_agent["webhook_url"] == inbox["webhook_url"]
    assert all(
        "secrets" not in i
        for i in (await client.get(f"{API}/inboxes", headers=ws.agent.headers)).json()["items"]
    )
    assert (
        await client.post(
            f"{API}/inboxes", json={"name": "x", "channel_type": "api"}, headers=ws.agent.headers
        )
    ).status_code == 403
    assert (
        await client.post(
            f"{API}/inboxes", json={"name": "x", "channel_type": "fax"}, headers=ws.admin.headers
        )
    ).status_code == 400

    # Shown once, to the admin who made them: a later read by an admin shows names, never values.
    as_admin = (await client.get(f"{API}/inboxes/{inbox['id']}", headers=ws.admin.headers)).json()
    assert "secrets" not in as_admin and as_admin["credentials_set"] == ["inbound_secret", "outbound_secret"]
    assert (
        inbox["secrets"]["outbound_secret"]
        not in (await client.get(f"{API}/inboxes", headers=ws.admin.headers)).text
    )

    rotated = await client.post(
        f"{API}/inboxes/{inbox['id']}/rotate-secret", json={}, headers=ws.admin.headers
    )
    assert rotated.status_code == 200
    assert set(rotated.json()["secrets"]) == {"inbound_secret"}  # only the new one
    assert rotated.json()["secrets"]["inbound_secret"] != inbox["secrets"]["inbound_secret"]
    unknown = await client.post(
        f"{API}/inboxes/{inbox['id']}/rotate-secret", json={"which": "nope"}, headers=ws.admin.headers
    )
    assert unknown.status_code == 400

    patched = await client.patch(
        f"{API}/inboxes/{inbox['id']}",
        json={"is_active": False, "settings": {"webhook_url": "http://127.0.0.1:9/x"}},
        headers=ws.admin.headers,
    )
    assert patched.json()["is_active"] is False and patched.json()["settings"]["webhook_url"].endswith("/x")
    assert (await client.delete(f"{API}/inboxes/{inbox['id']}", headers=ws.admin.headers)).status_code == 204
    assert (await client.get(f"{API}/inboxes/{inbox['id']}", headers=ws.admin.headers)).status_code == 404


async def test_contacts_search_correction_identities(client, make_workspace):
    ws = await make_workspace()
    made = await client.post(
        f"{API}/contacts",
        json={
            "name": "Ada Lovelace",
            "email": "Ada@Example.com",
            "phone": "+44 20 7946 0000",
            "notes": "VIP",
        },
        headers=ws.agent.headers,
    )
    assert made.status_code == 201, made.text
    contact = made.json()
    assert contact["email"] == "ada@example.com" and contact["notes"] == "VIP"
    await client.post(f"{API}/contacts", json={"name": "Grace Hopper"}, headers=ws.agent.headers)

    found = (await client.get(f"{API}/contacts?q=lovelace", headers=ws.agent.headers)).json()["items"]
    assert [c["id"] for c in found] == [contact["id"]]
    listed = (await client.get(f"{API}/contacts?limit=1", headers=ws.agent.headers)).json()
    assert listed["items"][0]["name"] == "Grace Hopper" and listed["next_cursor"]

    corrected = await client.patch(
        f"{API}/contacts/{contact['id']}", json={"name": "Ada King", "email": None}, headers=ws.agent.headers
    )
    assert corrected.status_code == 200 and corrected.json()["email"] is None
    assert (await client.get(f"{API}/contacts?q=lovelace", headers=ws.agent.headers)).json()["items"] == []
    assert len((await client.get(f"{API}/contacts?q=king", headers=ws.agent.headers)).json()["items"]) == 1
    bad = await client.patch(
        f"{API}/contacts/{contact['id']}", json={"email": "not-an-email"}, headers=ws.agent.headers
    )
    assert bad.status_code == 400

    ident = await client.post(
        f"{API}/contacts/{contact['id']}/identities",
        json={"inbox_id": str(ws.api_inbox_id), "external_id": "crm-42"},
        headers=ws.agent.headers,
    )
    assert ident.status_code == 201, ident.text
    dup = await client.post(
        f"{API}/contacts/{contact['id']}/identities",
        json={"inbox_id": str(ws.api_inbox_id), "external_id": "crm-42"},
        headers=ws.agent.headers,
    )
    assert dup.status_code == 409
    idents = (await client.get(f"{API}/contacts/{contact['id']}/identities", headers=ws.agent.headers)).json()
    assert [i["external_id"] for i in idents["items"]] == ["crm-42"]

    conv = await client.post(
        f"{API}/conversations",
        json={"inbox_id": str(ws.api_inbox_id), "contact_id": contact["id"]},
        headers=ws.agent.headers,
    )
    assert conv.status_code == 201
    convs = (
        await client.get(f"{API}/contacts/{contact['id']}/conversations", headers=ws.agent.headers)
    ).json()
    assert [c["id"] for c in convs["items"]] == [conv.json()["id"]]


async def test_api_tokens(client, make_workspace):
    ws = await make_workspace()
    made = await client.post(f"{API}/api-tokens", json={"name": "ci"}, headers=ws.agent.headers)
    assert made.status_code == 201, made.text
    raw = made.json()["token"]
    assert raw.startswith("rd_") and raw.startswith(made.json()["prefix"])
    mine = (await client.get(f"{API}/api-tokens", headers=ws.agent.headers)).json()["items"]
    assert {t["name"] for t in mine} == {"tests", "ci"} and all("token" not in t for t in mine)
    assert (await client.get(f"{API}/api-tokens?all=true", headers=ws.agent.headers)).status_code == 403
    everyone = (await client.get(f"{API}/api-tokens?all=true", headers=ws.admin.headers)).json()["items"]
    assert len(everyone) == 4

    owner_token = next(t for t in everyone if t["user_id"] == str(ws.owner.user_id))
    assert (
        await client.delete(f"{API}/api-tokens/{owner_token['id']}", headers=ws.admin.headers)
    ).status_code == 403
    admin_token = next(t for t in everyone if t["user_id"] == str(ws.admin.user_id))
    assert (
        await client.delete(f"{API}/api-tokens/{admin_token['id']}", headers=ws.agent.headers)
    ).status_code == 404
    new_id = made.json()["id"]
    assert (await client.delete(f"{API}/api-tokens/{new_id}", headers=ws.admin.headers)).status_code == 204
    assert (await client.get(f"{API}/me", headers={"Authorization": f"Bearer {raw}"})).status_code == 401
    past = await client.post(
        f"{API}/api-tokens",
        json={"name": "old", "expires_at": "2000-01-01T00:00:00Z"},
        headers=ws.agent.headers,
    )
    assert past.status_code == 400
