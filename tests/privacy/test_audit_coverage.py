"""Every state-changing admin route that touches security state leaves an audit row.

The routes come from the app's own route table (API) and the admin form dispatcher's table (web), so a
route added later without an entry in `EXERCISES` fails `test_every_security_route_is_exercised`, and
one whose action records nothing fails `test_security_route_records_an_audit_row`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa

from relaydesk.models import AuditEvent
from relaydesk.privacy import audit
from relaydesk.server.app import create_app
from relaydesk.web.admin_pages import OPS
from tests.web.helpers import cheap_argon2, csrf_of, login

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# API surfaces that change security state: tokens, inboxes, members, invitations, webhooks, workspace
# settings, AI settings and intents.
SECURITY_PREFIXES = (
    "/api/v1/api-tokens",
    "/api/v1/inboxes",
    "/api/v1/members",
    "/api/v1/invitations",
    "/api/v1/webhooks",
    "/api/v1/workspace",
    "/api/v1/ai/settings",
    "/api/v1/ai/inboxes",
    "/api/v1/ai/intents",
)
SECURITY_ADMIN_SECTIONS = {"inboxes", "people", "settings", "tokens", "webhooks"}
# Write routes under those surfaces that change no state, each with the reason.
NOT_STATE_CHANGING = {
    ("POST", "/api/v1/ai/settings/probe"): "tries the AI provider connection; no setting changes",
    ("POST", "/api/v1/ai/intents/test"): "classifies a trial phrase; nothing is stored",
}


def security_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", ()):
                if method in WRITE_METHODS and route.path.startswith(SECURITY_PREFIXES):
                    found.add((method, route.path))
                elif method == "POST" and route.path == "/admin/{section:str}/{op:str}":
                    found |= {("POST", f"/admin/{s}/{o}") for s, o in OPS if s in SECURITY_ADMIN_SECTIONS}
    return found - set(NOT_STATE_CHANGING)


@dataclass
class Env:
    client: httpx.AsyncClient
    ws: object
    runtime: object

    @property
    def h(self) -> dict[str, str]:
        return self.ws.owner.headers  # type: ignore[attr-defined]

    async def api(self, method: str, path: str, json: object | None = None) -> httpx.Response:
        return await self.client.request(method, path, json=json, headers=self.h)

    async def inbox(self) -> str:
        resp = await self.api("POST", "/api/v1/inboxes", {"name": "Side", "channel_type": "api"})
        return resp.json()["id"]

    async def member(self) -> str:
        resp = await self.api("GET", "/api/v1/members")
        agent = str(self.ws.agent.user_id)  # type: ignore[attr-defined]
        return next(m["id"] for m in resp.json()["items"] if m["user_id"] == agent)

    async def invitation(self) -> dict:  # type: ignore[type-arg]
        resp = await self.api("POST", "/api/v1/invitations", {"email": f"{uuid.uuid4().hex}@example.com"})
        return resp.json()

    async def webhook(self) -> str:
        resp = await self.api("POST", "/api/v1/webhooks", {"url": "https://hooks.example.com/x"})
        return resp.json()["id"]

    async def token(self) -> str:
        return (await self.api("POST", "/api/v1/api-tokens", {"name": "spare"})).json()["id"]

    async def intent(self) -> str:
        body = {"name": "warranty_claim", "examples": ["my warranty claim", "claim under warranty please"]}
        return (await self.api("POST", "/api/v1/ai/intents", body)).json()["id"]

    async def web(self, path: str, **form: str) -> httpx.Response:
        if "rd_session" not in self.client.cookies:
            await login(self.client, self.ws.owner.email, self.ws.owner.password)  # type: ignore[attr-defined]
        return await self.client.post(path, data={"csrf_token": await csrf_of(self.client), **form})


Act = Callable[[], Awaitable[httpx.Response]]


async def _no_setup(env: Env) -> None:
    return None


def _a(method: str, path: str, body: object | None = None, setup=_no_setup):  # type: ignore[no-untyped-def]
    """An API exercise: `setup` returns the id to put in `{id}` (or None)."""

    async def prepare(env: Env) -> Act:
        ident = await setup(env)
        target = path.replace("{id}", str(ident)) if ident is not None else path
        return lambda: env.api(method, target, body)

    return prepare


def _w(path: str, setup=_no_setup, **form: str):  # type: ignore[no-untyped-def]
    """A web admin form exercise (signed in as the owner, with the page's CSRF token)."""

    async def prepare(env: Env) -> Act:
        ident = await setup(env)
        fields = {**form, **({"id": str(ident)} if ident is not None else {})}
        if "rd_session" not in env.client.cookies:
            await login(env.client, env.ws.owner.email, env.ws.owner.password)  # type: ignore[attr-defined]
        return lambda: env.web(path, **fields)

    return prepare


async def _invitation_token(env: Env) -> str:
    return (await env.invitation())["token"]


async def _invitation_id(env: Env) -> str:
    return (await env.invitation())["id"]


async def _deactivated_member(env: Env) -> str:
    mid = await env.member()
    await env.api("POST", f"/api/v1/members/{mid}/deactivate")
    return mid


async def _colleague_email(env: Env) -> None:
    return None


EXERCISES = {
    ("POST", "/api/v1/api-tokens"): _a("POST", "/api/v1/api-tokens", {"name": "ci", "scopes": ["*:read"]}),
    ("DELETE", "/api/v1/api-tokens/{token_id:uuid}"): _a(
        "DELETE", "/api/v1/api-tokens/{id}", setup=lambda e: e.token()
    ),
    ("POST", "/api/v1/inboxes"): _a("POST", "/api/v1/inboxes", {"name": "Mail", "channel_type": "api"}),
    ("PATCH", "/api/v1/inboxes/{inbox_id:uuid}"): _a(
        "PATCH", "/api/v1/inboxes/{id}", {"is_active": False}, setup=lambda e: e.inbox()
    ),
    ("DELETE", "/api/v1/inboxes/{inbox_id:uuid}"): _a(
        "DELETE", "/api/v1/inboxes/{id}", setup=lambda e: e.inbox()
    ),
    ("POST", "/api/v1/inboxes/{inbox_id:uuid}/rotate-secret"): _a(
        "POST", "/api/v1/inboxes/{id}/rotate-secret", {"which": "inbound_secret"}, setup=lambda e: e.inbox()
    ),
    ("POST", "/api/v1/members"): None,  # filled below: needs a colleague from another workspace
    ("PATCH", "/api/v1/members/{membership_id:uuid}"): _a(
        "PATCH", "/api/v1/members/{id}", {"role": "admin"}, setup=lambda e: e.member()
    ),
    ("POST", "/api/v1/members/{membership_id:uuid}/deactivate"): _a(
        "POST", "/api/v1/members/{id}/deactivate", setup=lambda e: e.member()
    ),
    ("POST", "/api/v1/members/{membership_id:uuid}/reactivate"): _a(
        "POST", "/api/v1/members/{id}/reactivate", setup=_deactivated_member
    ),
    ("POST", "/api/v1/invitations"): _a("POST", "/api/v1/invitations", {"email": "nia@example.com"}),
    ("DELETE", "/api/v1/invitations/{invitation_id:uuid}"): _a(
        "DELETE", "/api/v1/invitations/{id}", setup=_invitation_id
    ),
    ("POST", "/api/v1/invitations/accept"): None,  # filled below: the body carries the token
    ("POST", "/api/v1/webhooks"): _a("POST", "/api/v1/webhooks", {"url": "https://hooks.example.com/y"}),
    ("PATCH", "/api/v1/webhooks/{webhook_id:uuid}"): _a(
        "PATCH", "/api/v1/webhooks/{id}", {"description": "CRM"}, setup=lambda e: e.webhook()
    ),
    ("DELETE", "/api/v1/webhooks/{webhook_id:uuid}"): _a(
        "DELETE", "/api/v1/webhooks/{id}", setup=lambda e: e.webhook()
    ),
    ("POST", "/api/v1/webhooks/{webhook_id:uuid}/rotate-secret"): _a(
        "POST", "/api/v1/webhooks/{id}/rotate-secret", setup=lambda e: e.webhook()
    ),
    ("PATCH", "/api/v1/workspace"): _a("PATCH", "/api/v1/workspace", {"settings": {"require_2fa_roles": []}}),
    ("PUT", "/api/v1/ai/settings"): _a("PUT", "/api/v1/ai/settings", {"settings": {"auto_reply": False}}),
    ("PUT", "/api/v1/ai/inboxes/{inbox_id:uuid}/settings"): _a(
        "PUT",
        "/api/v1/ai/inboxes/{id}/settings",
        {"settings": {"auto_reply": False}},
        setup=lambda e: e.inbox(),
    ),
    ("POST", "/api/v1/ai/intents"): _a(
        "POST", "/api/v1/ai/intents", {"name": "gift_card", "examples": ["gift card balance", "my gift card"]}
    ),
    ("PATCH", "/api/v1/ai/intents/{intent_id:uuid}"): _a(
        "PATCH",
        "/api/v1/ai/intents/{id}",
        {"examples": ["warranty", "a warranty question"]},
        setup=lambda e: e.intent(),
    ),
    ("DELETE", "/api/v1/ai/intents/{intent_id:uuid}"): _a(
        "DELETE", "/api/v1/ai/intents/{id}", setup=lambda e: e.intent()
    ),
    ("POST", "/admin/inboxes/create"): _w("/admin/inboxes/create", name="Chat", channel_type="api"),
    ("POST", "/admin/inboxes/update"): _w("/admin/inboxes/update", setup=lambda e: e.inbox(), name="Renamed"),
    ("POST", "/admin/inboxes/rotate"): _w(
        "/admin/inboxes/rotate", setup=lambda e: e.inbox(), which="outbound_secret"
    ),
    ("POST", "/admin/inboxes/reveal"): _w("/admin/inboxes/reveal", setup=lambda e: e.inbox()),
    ("POST", "/admin/inboxes/hours"): _w(
        "/admin/inboxes/hours", setup=lambda e: e.inbox(), hours_enabled="on", hours_timezone="Europe/Paris"
    ),
    ("POST", "/admin/people/invite"): _w("/admin/people/invite", email="kai@example.com", role="agent"),
    ("POST", "/admin/people/revoke"): _w("/admin/people/revoke", setup=_invitation_id),
    ("POST", "/admin/people/role"): _w("/admin/people/role", setup=lambda e: e.member(), role="admin"),
    ("POST", "/admin/people/deactivate"): _w("/admin/people/deactivate", setup=lambda e: e.member()),
    ("POST", "/admin/people/reactivate"): _w("/admin/people/reactivate", setup=_deactivated_member),
    ("POST", "/admin/settings/save"): _w("/admin/settings/save", name="Acme Two"),
    ("POST", "/admin/tokens/create"): _w("/admin/tokens/create", name="ci", preset="*:read"),
    ("POST", "/admin/tokens/revoke"): _w("/admin/tokens/revoke", setup=lambda e: e.token()),
    ("POST", "/admin/webhooks/create"): _w("/admin/webhooks/create", url="https://hooks.example.com/z"),
    ("POST", "/admin/webhooks/delete"): _w("/admin/webhooks/delete", setup=lambda e: e.webhook()),
}


async def _accept(env: Env) -> Act:
    token = await _invitation_token(env)
    body = {"token": token, "name": "Nia", "password": "plum tide lantern 42"}
    return lambda: env.client.post("/api/v1/invitations/accept", json=body)


async def _add_colleague(env: Env) -> Act:
    from relaydesk.actions.workspaces import add_member, create_workspace

    async with env.runtime.db.write() as session:  # type: ignore[attr-defined]
        other = await create_workspace(session, "Elsewhere", f"elsewhere-{uuid.uuid4().hex[:6]}")
        await add_member(session, other.id, env.ws.owner.user_id, "owner")  # type: ignore[attr-defined]
        from relaydesk.actions.workspaces import create_user

        colleague = await create_user(session, f"col-{uuid.uuid4().hex[:6]}@example.com", "Col", None)
        await add_member(session, other.id, colleague.id, "agent")
    return lambda: env.api("POST", "/api/v1/members", {"email": colleague.email, "role": "agent"})


EXERCISES[("POST", "/api/v1/invitations/accept")] = _accept
EXERCISES[("POST", "/api/v1/members")] = _add_colleague


@pytest.fixture(autouse=True)
def _cheap_passwords(monkeypatch):  # type: ignore[no-untyped-def]
    cheap_argon2(monkeypatch)


def test_every_security_route_is_exercised(runtime) -> None:  # type: ignore[no-untyped-def]
    routes = security_routes(create_app(runtime=runtime, manage_runtime=False))
    missing = sorted(routes - set(EXERCISES))
    assert not missing, f"security routes without an audit exercise (add one to EXERCISES): {missing}"
    assert not sorted(set(EXERCISES) - routes), "exercises for routes that no longer exist"
    assert len(routes) >= 30


def test_route_walk_notices_a_new_unaudited_route(runtime) -> None:  # type: ignore[no-untyped-def]
    """The walk really reads the route table: a route added under a security surface shows up as missing."""
    from litestar import post

    @post("/api/v1/webhooks/{webhook_id:uuid}/pause", sync_to_thread=False)
    def pause(webhook_id: uuid.UUID) -> None:
        return None

    app = create_app(runtime=runtime, manage_runtime=False)
    app.register(pause)
    assert ("POST", "/api/v1/webhooks/{webhook_id:uuid}/pause") in security_routes(app) - set(EXERCISES)


async def _rows_after(runtime, workspace_id, seq: int) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        stmt = sa.select(AuditEvent).where(AuditEvent.workspace_id == workspace_id, AuditEvent.seq > seq)
        return list((await session.execute(stmt.order_by(AuditEvent.seq))).scalars())


@pytest.mark.parametrize("route", sorted(EXERCISES), ids=lambda r: f"{r[0]} {r[1]}")
async def test_security_route_records_an_audit_row(route, client, runtime, make_workspace) -> None:  # type: ignore[no-untyped-def]
    ws = await make_workspace()
    env = Env(client, ws, runtime)
    act = await EXERCISES[route](env)
    async with runtime.db.read() as session:
        head = await audit.chain_head(session, ws.id)
    resp = await act()
    assert resp.status_code < 400, resp.text
    rows = await _rows_after(runtime, ws.id, head.seq if head else 0)
    assert rows, f"{route} changed security state and recorded nothing"
    assert all(r.action in audit.ACTIONS for r in rows)
    async with runtime.db.read() as session:
        assert await audit.verify(session, ws.id) == []


def test_catalogue_is_documented() -> None:
    """docs/privacy.md lists every audited action, so an operator can read what the trail holds."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "privacy.md").read_text()
    undocumented = [a for a in audit.ACTIONS if f"`{a}`" not in doc]
    assert not undocumented, f"audit actions missing from docs/privacy.md: {undocumented}"


async def test_two_factor_and_password_changes_are_audited(client, runtime, make_workspace) -> None:  # type: ignore[no-untyped-def]
    from tests.web.test_two_factor import enrol

    ws = await make_workspace()
    await login(client, ws.agent.email, ws.agent.password)
    await enrol(client, ws.agent.password)
    token = await csrf_of(client)
    await client.post("/account/security/reauth", data={"csrf_token": token, "password": ws.agent.password})
    assert (await client.post("/account/security/disable-2fa", data={"csrf_token": token})).status_code == 200
    new = "quiet harbour lantern 77"
    changed = await client.post(
        "/account/security/password", data={"csrf_token": token, "password": new, "password_again": new}
    )
    assert changed.status_code == 303, changed.text
    rows = await _rows_after(runtime, ws.id, 0)
    mine = [r.action for r in rows if r.actor_id == str(ws.agent.user_id)]
    for action in ("auth.2fa_enabled", "auth.2fa_disabled", "auth.password_changed"):
        assert action in mine


async def test_master_key_rotation_is_audited_in_the_platform_chain(runtime, make_workspace) -> None:  # type: ignore[no-untyped-def]
    from relaydesk.actions.keys import rotate_master_key
    from relaydesk.privacy import vault

    await make_workspace()
    async with runtime.db.write() as session:
        counts = await rotate_master_key(session)
    rows = await _rows_after(runtime, audit.PLATFORM, 0)
    assert [r.action for r in rows] == ["keys.master_rotated"]
    assert rows[0].target_id == vault.ring().current_master.key_id
    assert rows[0].details["workspace_keys"] == counts["workspace_keys"]


async def test_record_refuses_an_action_outside_the_catalogue(runtime, make_workspace) -> None:  # type: ignore[no-untyped-def]
    ws = await make_workspace()
    with pytest.raises(audit.UnknownAuditAction):
        async with runtime.db.write() as session:
            await audit.record(session, ws.id, "inbox.teleported")
