"""TOTP enrolment, the second login step, replay refusal, recovery codes, and the workspace 2FA rule."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa

from relaydesk.auth import totp
from relaydesk.db.base import utcnow
from relaydesk.models import User, Workspace
from tests.web.helpers import csrf_of, login, session_cookie


def current_code(secret: str) -> str:
    return totp.code_at_step(secret, totp.time_step(utcnow()))


async def enrol(client: httpx.AsyncClient, password: str) -> tuple[str, list[str]]:
    token = await csrf_of(client)
    refused = await client.post("/account/security/start-2fa", data={"csrf_token": token})
    assert refused.status_code == 403  # re-authentication first
    await client.post("/account/security/reauth", data={"csrf_token": token, "password": password})
    started = await client.post("/account/security/start-2fa", data={"csrf_token": token})
    secret = re.search(r'id="totp-secret" class="secret">([A-Z2-7]+)<', started.text).group(1)
    assert "otpauth://totp/" in started.text
    bad = await client.post("/account/security/confirm-2fa", data={"csrf_token": token, "code": "000000"})
    assert bad.status_code == 400
    done = await client.post(
        "/account/security/confirm-2fa", data={"csrf_token": token, "code": current_code(secret)}
    )
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([0-9A-Z-]{19})</code></li>", done.text)
    assert len(codes) == 10
    return secret, codes


async def logout(client: httpx.AsyncClient) -> None:
    await client.post("/logout", data={"csrf_token": await csrf_of(client)})


async def test_two_factor_login_refuses_replay_and_spends_recovery_codes(client, runtime, make_workspace):
    ws = await make_workspace()
    await login(client, ws.agent.email, ws.agent.password)
    secret, codes = await enrol(client, ws.agent.password)
    async with runtime.db.read() as session:
        stored, used_step = (
            await session.execute(
                sa.select(User.totp_secret, User.totp_last_step).where(User.id == ws.agent.user_id)
            )
        ).one()
    assert stored is not None and used_step is not None
    await logout(client)

    # Password step: the session exists but is not a login yet.
    resp = await login(client, ws.agent.email, ws.agent.password)
    assert resp.headers["location"] == "/login/2fa"
    half = session_cookie(client)
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await client.get("/inbox")).headers["location"] == "/login/2fa"
    page = await client.get("/login/2fa")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    # The code used at enrolment was consumed: the same step cannot be used again.
    used_code = totp.code_at_step(secret, used_step)
    replay = await client.post("/login/2fa", data={"csrf_token": token, "code": used_code})
    assert replay.status_code == 401 and "not valid" in replay.text
    # A recovery code works once, and the second factor rotates the session id.
    ok = await client.post("/login/2fa", data={"csrf_token": token, "code": codes[0].lower()})
    assert ok.status_code == 303 and ok.headers["location"] == "/inbox"
    assert session_cookie(client) != half
    assert (await client.get("/api/v1/me")).status_code == 200
    await logout(client)

    await login(client, ws.agent.email, ws.agent.password)
    page = await client.get("/login/2fa")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    again = await client.post("/login/2fa", data={"csrf_token": token, "code": codes[0]})
    assert again.status_code == 401


async def test_workspace_requiring_2fa_sends_members_to_enrol(client, runtime, make_workspace):
    ws = await make_workspace()
    async with runtime.db.write() as session:
        workspace = await session.get(Workspace, ws.id)
        workspace.settings = {**workspace.settings, "require_2fa_roles": ["agent", "owner"]}
    resp = await login(client, ws.agent.email, ws.agent.password)
    assert resp.headers["location"] == "/account/security"
    assert (await client.get("/inbox")).headers["location"] == "/account/security"
    assert (await client.get("/api/v1/me")).status_code == 401
    security = await client.get("/account/security")
    assert "requires two-factor authentication" in security.text
    await enrol(client, ws.agent.password)
    assert (await client.get("/inbox")).status_code == 200
    assert (await client.get("/api/v1/me")).status_code == 200
    # Turning it off is refused while the workspace requires it.
    token = await csrf_of(client)
    await client.post("/account/security/reauth", data={"csrf_token": token, "password": ws.agent.password})
    off = await client.post("/account/security/disable-2fa", data={"csrf_token": token})
    assert off.status_code == 403


async def test_owner_sets_the_2fa_rule_and_admin_cannot(client, runtime, make_workspace):
    ws = await make_workspace()
    await login(client, ws.admin.email, ws.admin.password)
    token = await csrf_of(client)
    resp = await client.post(
        "/admin/settings/save",
        data={"csrf_token": token, "name": "Acme", "require_2fa_roles": ["admin"]},
    )
    assert resp.status_code == 403
    await logout(client)
    await login(client, ws.owner.email, ws.owner.password)
    token = await csrf_of(client)
    resp = await client.post(
        "/admin/settings/save",
        data={"csrf_token": token, "name": "Acme", "require_2fa_roles": ["admin", "owner"]},
    )
    assert resp.status_code == 303
    async with runtime.db.read() as session:
        workspace = await session.get(Workspace, ws.id)
        assert sorted(workspace.settings["require_2fa_roles"]) == ["admin", "owner"]
