"""Login, logout, sessions, throttling and CSRF through the real web forms (no browser needed)."""

from __future__ import annotations

import dataclasses
import re

import httpx
import sqlalchemy as sa

from relaydesk.models import Event, UserSession
from relaydesk.server.app import create_app
from tests.web.helpers import FORM_CSRF, csrf_of, login, session_cookie

ERROR = re.compile(r'<p class="error" role="alert" id="login-error">([^<]*)</p>')


async def test_login_sets_a_safe_cookie_and_opens_the_inbox(client, make_workspace):
    ws = await make_workspace()
    resp = await login(client, ws.agent.email, ws.agent.password)
    assert resp.status_code == 303 and resp.headers["location"] == "/inbox"
    cookie = resp.headers["set-cookie"]
    assert "rd_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Path=/" in cookie and "Secure" not in cookie
    inbox = await client.get("/inbox")
    assert inbox.status_code == 200 and "conv-list" in inbox.text
    me = await client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["email"] == ws.agent.email


async def test_secure_cookie_uses_the_host_prefix(runtime, make_workspace):
    ws = await make_workspace()
    secure = dataclasses.replace(runtime, settings=runtime.settings.replace(secure_cookies=True))
    app = create_app(runtime=secure, manage_runtime=False)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40001))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver.local") as client:
        resp = await login(client, ws.agent.email, ws.agent.password)
        cookie = resp.headers["set-cookie"]
        assert cookie.startswith("__Host-rd_session=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie and "Domain" not in cookie
        assert resp.headers["strict-transport-security"].startswith("max-age=")


async def test_unknown_and_known_users_get_the_same_answer(client, make_workspace):
    ws = await make_workspace()
    wrong_password = await login(client, ws.agent.email, "not the password at all")
    unknown_user = await login(client, "nobody-here@example.com", "not the password at all")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert ERROR.search(wrong_password.text).group(1) == ERROR.search(unknown_user.text).group(1)
    assert session_cookie(client) is None


async def test_throttle_locks_out_after_repeated_failures_for_known_and_unknown(client, make_workspace):
    ws = await make_workspace()
    for email in (ws.agent.email, "ghost@example.com"):
        statuses = [(await login(client, email, "wrong password here")).status_code for _ in range(3)]
        assert statuses == [401] * 3
        # Now locked: even the right password is refused, and the answer says to wait.
        blocked = await login(client, email, ws.agent.password)
        assert blocked.status_code == 429
        assert "Too many attempts" in blocked.text
    assert session_cookie(client) is None


async def test_login_rotates_the_session_id(client, make_workspace):
    ws = await make_workspace()
    await login(client, ws.agent.email, ws.agent.password)
    first = session_cookie(client)
    await login(client, ws.agent.email, ws.agent.password)
    second = session_cookie(client)
    assert first and second and first != second
    stale = httpx.Cookies({"rd_session": first})
    client.cookies = stale
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_logout_kills_the_session(client, runtime, make_workspace):
    ws = await make_workspace()
    await login(client, ws.agent.email, ws.agent.password)
    raw = session_cookie(client)
    token = await csrf_of(client)
    resp = await client.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    async with runtime.db.read() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(UserSession))).scalar_one() == 0
    client.cookies = httpx.Cookies({"rd_session": raw})
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await client.get("/inbox")).status_code == 302


async def test_cross_site_posts_are_refused(client, make_workspace):
    ws = await make_workspace()
    await login(client, ws.admin.email, ws.admin.password)
    token = await csrf_of(client)
    # A form posted from another site: Origin is foreign (the token would not be known there either).
    evil = await client.post(
        "/admin/labels/create",
        data={"csrf_token": token, "name": "evil"},
        headers={"origin": "https://evil.example"},
    )
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "forbidden"
    no_token = await client.post("/admin/labels/create", data={"name": "evil"})
    assert no_token.status_code == 403
    # The JSON API with the cookie but without X-CSRF-Token.
    api = await client.post("/api/v1/conversations/00000000-0000-0000-0000-000000000000/seen")
    assert api.status_code == 403
    # Login CSRF: a login form without the pre-login cookie's token.
    client.cookies.delete("rd_prelogin")
    forged = await client.post("/login", data={"csrf_token": "x", "email": ws.agent.email, "password": "p"})
    assert forged.status_code == 403
    labels = await client.get("/admin/labels")
    assert "evil" not in labels.text
    good = await client.post("/admin/labels/create", data={"csrf_token": token, "name": "vip"})
    assert good.status_code == 303


async def test_get_requests_never_change_state(client, runtime, make_workspace):
    ws = await make_workspace()
    await login(client, ws.owner.email, ws.owner.password)

    async def snapshot():
        async with runtime.db.read() as session:
            events = (await session.execute(sa.select(sa.func.count()).select_from(Event))).scalar_one()
            sessions = (await session.execute(sa.select(UserSession.id_hash, UserSession.csrf_token))).all()
        return events, sorted(sessions)

    before = await snapshot()
    pages = ["/", "/inbox", "/account/security", "/login", "/admin", "/logout"]
    pages += [f"/admin/{s}" for s in ("inboxes", "people", "teams", "labels", "canned", "attributes")]
    pages += [f"/admin/{s}" for s in ("settings", "tokens", "webhooks", "inboxes/health")]
    pages += ["/inbox/search?q=hello", "/admin/labels/create", "/admin/people/deactivate"]
    for path in pages:
        resp = await client.get(path)
        assert resp.status_code < 500, path
    assert await snapshot() == before


async def test_deactivated_member_is_logged_out_at_once(client, runtime, make_workspace):
    ws = await make_workspace()
    app = create_app(runtime=runtime, manage_runtime=False)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40002))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as agent:
        await login(agent, ws.agent.email, ws.agent.password)
        assert (await agent.get("/api/v1/me")).status_code == 200
        await login(client, ws.owner.email, ws.owner.password)
        people = await client.get("/admin/people")
        token = FORM_CSRF.search(people.text).group(1)
        membership_id = re.search(
            r'name="id" value="([^"]+)"><button type="submit" class="danger">Deactivate', people.text
        )
        # Pick the agent's row: the form after the agent's e-mail address.
        row = people.text.split(ws.agent.email, 1)[1]
        membership_id = re.search(r'name="id" value="([^"]+)"', row).group(1)
        resp = await client.post("/admin/people/deactivate", data={"csrf_token": token, "id": membership_id})
        assert resp.status_code == 303
        assert (await agent.get("/api/v1/me")).status_code == 401
        assert (await agent.get("/inbox")).status_code == 302


async def test_agents_cannot_open_admin_pages(client, make_workspace):
    ws = await make_workspace()
    await login(client, ws.agent.email, ws.agent.password)
    assert (await client.get("/admin/people")).status_code == 403
    token = await csrf_of(client)
    resp = await client.post("/admin/labels/create", data={"csrf_token": token, "name": "x"})
    assert resp.status_code == 403


async def test_pages_carry_a_nonce_csp_and_no_inline_handlers(client, make_workspace):
    ws = await make_workspace()
    await login(client, ws.agent.email, ws.agent.password)
    resp = await client.get("/inbox")
    csp = resp.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'nonce="{nonce}"' in resp.text
    assert " onclick=" not in resp.text and " style=" not in resp.text
    assert "<script>" not in resp.text


async def test_login_upgrades_an_outdated_password_hash(client, runtime, make_workspace):
    from argon2 import PasswordHasher

    from relaydesk.models import User

    ws = await make_workspace()
    old = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(ws.agent.password)
    async with runtime.db.write() as session:
        await session.execute(sa.update(User).where(User.id == ws.agent.user_id).values(password_hash=old))
    assert (await login(client, ws.agent.email, ws.agent.password)).status_code == 303
    async with runtime.db.read() as session:
        stored = (
            await session.execute(sa.select(User.password_hash).where(User.id == ws.agent.user_id))
        ).scalar()
    assert stored != old and stored.startswith("$argon2id$") and "m=1024" in stored


async def test_logins_and_failures_land_in_the_audit_chain(client, runtime, make_workspace):
    from relaydesk.models.audit import AuditEvent
    from relaydesk.privacy import audit

    ws = await make_workspace()
    await login(client, ws.agent.email, "wrong password here")
    await login(client, "nobody@example.com", "wrong password here")
    await login(client, ws.agent.email, ws.agent.password)
    await client.post("/logout", data={"csrf_token": await csrf_of(client)})
    async with runtime.db.read() as session:
        rows = (
            await session.execute(
                sa.select(AuditEvent.workspace_id, AuditEvent.action, AuditEvent.outcome, AuditEvent.actor_id)
                .where(AuditEvent.action.like("auth.%"))
                .order_by(AuditEvent.occurred_at)
            )
        ).all()
        assert await audit.verify(session, ws.id) == []
    mine = [(r.action, r.outcome) for r in rows if r.workspace_id == ws.id]
    assert mine == [("auth.login_failed", "failure"), ("auth.login", "success"), ("auth.logout", "success")]
    assert all(r.actor_id == str(ws.agent.user_id) for r in rows if r.workspace_id == ws.id)
    platform = [(r.action, r.actor_id) for r in rows if r.workspace_id == audit.PLATFORM]
    assert platform == [("auth.login_failed", None)]
