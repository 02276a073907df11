"""Invitations under the password policy, workspace switching, and the password change."""

from __future__ import annotations

import re

from relaydesk.actions.workspaces import add_member, create_workspace
from tests.web.helpers import FORM_CSRF, csrf_of, login, session_cookie


async def test_invitation_link_creates_an_agent_with_a_policy_checked_password(client, make_workspace):
    ws = await make_workspace()
    await login(client, ws.admin.email, ws.admin.password)
    token = await csrf_of(client)
    resp = await client.post(
        "/admin/people/invite", data={"csrf_token": token, "email": "new.agent@example.com", "role": "agent"}
    )
    assert resp.status_code == 201
    link = re.search(r'id="invite-link" readonly value="([^"]+)"', resp.text).group(1)
    path = "/invite/" + link.rsplit("/invite/", 1)[1]
    client.cookies.clear()
    form = await client.get(path)
    assert form.status_code == 200 and "new.agent@example.com" in form.text
    csrf = FORM_CSRF.search(form.text).group(1)
    weak = await client.post(path, data={"csrf_token": csrf, "name": "Nia", "password": "password"})
    assert weak.status_code == 400 and "commonly used" in weak.text
    ok = await client.post(path, data={"csrf_token": csrf, "name": "Nia", "password": "plum tide lantern 42"})
    assert ok.status_code == 303 and ok.headers["location"] == "/inbox"
    me = (await client.get("/api/v1/me")).json()
    assert me["email"] == "new.agent@example.com" and me["role"] == "agent"
    assert (await client.get(path)).status_code == 404  # spent


async def test_switching_workspace_rotates_the_session(client, runtime, make_workspace):
    ws = await make_workspace()
    async with runtime.db.write() as session:
        other = await create_workspace(session, "Beta Corp", f"beta-{ws.slug}")
        await add_member(session, other.id, ws.agent.user_id, "admin")
    await login(client, ws.agent.email, ws.agent.password)
    before = session_cookie(client)
    inbox = await client.get("/inbox")
    assert "Beta Corp" in inbox.text  # the switcher lists both workspaces
    resp = await client.post(
        "/workspace/switch", data={"csrf_token": await csrf_of(client), "workspace_id": str(other.id)}
    )
    assert resp.status_code == 303
    assert session_cookie(client) != before
    me = (await client.get("/api/v1/me")).json()
    assert me["workspace_id"] == str(other.id) and me["role"] == "admin"


async def test_password_change_needs_reauth_and_ends_other_sessions(client, make_workspace):
    ws = await make_workspace()
    await login(client, ws.agent.email, ws.agent.password)
    token = await csrf_of(client)
    data = {
        "csrf_token": token,
        "password": "new mellow harbour 77",
        "password_again": "new mellow harbour 77",
    }
    assert (await client.post("/account/security/password", data=data)).status_code == 403
    await client.post("/account/security/reauth", data={"csrf_token": token, "password": ws.agent.password})
    resp = await client.post("/account/security/password", data=data)
    assert resp.status_code == 303
    assert (await client.get("/api/v1/me")).status_code == 200
    client.cookies.clear()
    assert (await login(client, ws.agent.email, ws.agent.password)).status_code == 401
    assert (await login(client, ws.agent.email, "new mellow harbour 77")).status_code == 303
