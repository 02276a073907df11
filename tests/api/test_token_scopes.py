"""API token scopes: declared on every route, enforced by one guard, chosen in the API, admin and CLI."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from relaydesk.auth import scopes
from relaydesk.auth.guards import route_scope
from relaydesk.models.users import ApiToken
from relaydesk.server.app import create_app


async def _token(client, ws, wanted: list[str] | None, who: str = "admin") -> str:  # type: ignore[no-untyped-def]
    body: dict[str, object] = {"name": "scoped"}
    if wanted is not None:
        body["scopes"] = wanted
    resp = await client.post("/api/v1/api-tokens", json=body, headers=getattr(ws, who).headers)
    assert resp.status_code == 201, resp.text
    return resp.json()["token"]


def _h(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def test_every_api_route_declares_a_scope_family(runtime) -> None:  # type: ignore[no-untyped-def]
    app = create_app(runtime=runtime, manage_runtime=False)
    undeclared = []
    seen = 0
    for route in app.routes:
        if not route.path.startswith("/api/v1") or route.path.startswith("/api/v1/schema"):
            continue
        handlers = getattr(route, "route_handlers", None) or [route.route_handler]  # websocket: one
        for handler in handlers:
            if handler.handler_name == "options_handler":
                continue
            seen += 1
            family, access = route_scope(handler, next(iter(getattr(handler, "http_methods", {"GET"}))))
            if family not in scopes.FAMILIES or access not in (scopes.READ, scopes.WRITE):
                undeclared.append(f"{route.path} {handler.handler_name}")
    assert seen > 60
    assert not undeclared, f"API routes without a scope family: {undeclared}"


def test_scope_grammar() -> None:
    assert scopes.normalise(["*", "contacts:read"]) == ["*"]
    assert scopes.normalise(["contacts:read", "contacts:write", "audit:read"]) == [
        "audit:read",
        "contacts:write",
    ]
    assert scopes.normalise(["*:read", "contacts:read", "inboxes:write"]) == ["*:read", "inboxes:write"]
    for bad in ([], ["contacts"], ["contacts:admin"], ["nope:read"]):
        with pytest.raises(Exception, match="scope"):
            scopes.normalise(bad)
    assert scopes.allows(["*:read"], "contacts", "read") and not scopes.allows(
        ["*:read"], "contacts", "write"
    )
    assert scopes.allows(["contacts:write"], "contacts", "read")
    assert not scopes.allows(["contacts:write"], "conversations", "read")
    assert scopes.covers(["*"], ["*"]) and not scopes.covers(["*:read"], ["contacts:write"])
    assert not scopes.covers(["tokens:write"], ["*"])


async def test_read_only_token_reads_and_gets_403_on_a_write(client, make_workspace) -> None:  # type: ignore[no-untyped-def]
    ws = await make_workspace()
    raw = await _token(client, ws, ["*:read"])
    assert (await client.get("/api/v1/conversations", headers=_h(raw))).status_code == 200
    assert (await client.get("/api/v1/inboxes", headers=_h(raw))).status_code == 200
    assert (
        await client.post("/api/v1/knowledge/search", json={"query": "refund"}, headers=_h(raw))
    ).status_code in (200, 400)  # a read-marked POST passes the scope guard
    refused = await client.post("/api/v1/contacts", json={"name": "Ann"}, headers=_h(raw))
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "forbidden" and "read-only" in error["message"]
    assert error["details"]["needed"] == "contacts:write"
    # The admin's own full token (the role allows it) still writes: the role rules are unchanged.
    assert (
        await client.post("/api/v1/contacts", json={"name": "Ann"}, headers=ws.admin.headers)
    ).status_code == 201


async def test_family_scopes_open_only_their_family(client, make_workspace) -> None:  # type: ignore[no-untyped-def]
    ws = await make_workspace()
    raw = await _token(client, ws, ["contacts:write", "conversations:read"])
    assert (await client.post("/api/v1/contacts", json={"name": "Bo"}, headers=_h(raw))).status_code == 201
    assert (await client.get("/api/v1/conversations", headers=_h(raw))).status_code == 200
    denied = await client.get("/api/v1/inboxes", headers=_h(raw))
    assert denied.status_code == 403 and denied.json()["error"]["details"]["needed"] == "inboxes:read"
    assert (await client.get("/api/v1/audit-events", headers=_h(raw))).status_code == 403
    # A scope never lifts the role: an agent's inboxes:write token still cannot create an inbox.
    agent_raw = await _token(client, ws, ["inboxes:write"], who="agent")
    body = {"name": "X", "channel_type": "api"}
    assert (await client.post("/api/v1/inboxes", json=body, headers=_h(agent_raw))).status_code == 403


async def test_a_token_cannot_mint_a_stronger_token(client, make_workspace) -> None:  # type: ignore[no-untyped-def]
    ws = await make_workspace()
    raw = await _token(client, ws, ["tokens:write", "contacts:read"])
    stronger = await client.post("/api/v1/api-tokens", json={"name": "x", "scopes": ["*"]}, headers=_h(raw))
    assert stronger.status_code == 403
    same = await client.post(
        "/api/v1/api-tokens", json={"name": "y", "scopes": ["contacts:read"]}, headers=_h(raw)
    )
    assert same.status_code == 201 and same.json()["scopes"] == ["contacts:read"]
    bad = await client.post(
        "/api/v1/api-tokens", json={"name": "z", "scopes": ["everything"]}, headers=ws.admin.headers
    )
    assert bad.status_code == 400 and "unknown scope" in bad.json()["error"]["message"]


async def test_sessions_are_unaffected_and_tokens_default_to_full(client, runtime, make_workspace) -> None:  # type: ignore[no-untyped-def]
    from tests.web.helpers import cheap_argon2, csrf_of, login

    ws = await make_workspace()
    listed = (await client.get("/api/v1/api-tokens", headers=ws.admin.headers)).json()["items"]
    assert listed and all(t["scopes"] == ["*"] for t in listed)
    with pytest.MonkeyPatch.context() as mp:
        cheap_argon2(mp)
        await login(client, ws.admin.email, ws.admin.password)
        csrf = await csrf_of(client)
        created = await client.post("/api/v1/contacts", json={"name": "Cy"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201


async def test_tenant_check_a_token_sees_only_its_workspace(client, make_workspace) -> None:  # type: ignore[no-untyped-def]
    ws, other = await make_workspace(), await make_workspace("Other")
    raw = await _token(client, ws, ["*:read"])
    theirs = (await client.get("/api/v1/inboxes", headers=other.admin.headers)).json()["items"][0]["id"]
    assert (await client.get(f"/api/v1/inboxes/{theirs}", headers=_h(raw))).status_code == 404
    other_token = (await client.get("/api/v1/api-tokens", headers=other.admin.headers)).json()["items"][0][
        "id"
    ]
    full = await _token(client, ws, None)
    assert (await client.delete(f"/api/v1/api-tokens/{other_token}", headers=_h(full))).status_code == 404


async def test_admin_page_and_cli_choose_and_show_scopes(
    client, runtime, settings, make_workspace, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from relaydesk.cli.main import main
    from relaydesk.privacy import storage
    from relaydesk.server.keys import parse_master_keys
    from tests.web.helpers import cheap_argon2, csrf_of, login

    ws = await make_workspace()
    cheap_argon2(monkeypatch)
    await login(client, ws.admin.email, ws.admin.password)
    page = await client.get("/admin/tokens")
    assert 'name="preset"' in page.text and 'value="contacts:write"' in page.text
    made = await client.post(
        "/admin/tokens/create",
        data={
            "csrf_token": await csrf_of(client),
            "name": "bot",
            "preset": "",
            "scope": "conversations:read",
        },
    )
    assert made.status_code == 201 and "<code>conversations:read</code>" in made.text
    monkeypatch.setenv("RELAYDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RELAYDESK_MASTER_KEY", settings.master_key)
    args = [
        "token",
        "create",
        "--email",
        ws.agent.email,
        "--workspace",
        ws.slug,
        "--name",
        "ro",
        "--scope",
        "*:read",
    ]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    storage.configure(parse_master_keys(settings.master_key))
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip().splitlines()[0]
    async with runtime.db.read() as session:
        names = dict((await session.execute(sa.select(ApiToken.name, ApiToken.scopes))).all())
    assert names["ro"] == ["*:read"] and names["bot"] == ["conversations:read"]
    assert (await client.post("/api/v1/contacts", json={"name": "D"}, headers=_h(raw))).status_code == 403
    bad = await asyncio.to_thread(CliRunner().invoke, main, [*args[:-1], "contacts:delete"])
    storage.configure(parse_master_keys(settings.master_key))
    assert bad.exit_code != 0 and "unknown scope" in bad.output
