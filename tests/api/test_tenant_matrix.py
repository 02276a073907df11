"""The cross-tenant matrix: every route of the app, called with workspace B's ids and workspace A's token.

Routes are enumerated from the application itself, so a new route is walked automatically; a route whose
path parameter this test cannot fill with one of B's ids fails the test until the parameter is added to
`b_ids` below (seed B's row first). Expected: nothing of B is read (no B id in any answer, no 2xx for a
path naming B's row) and nothing of B changes (a snapshot of every row B owns is compared at the end).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import sqlalchemy as sa
from litestar.routes import HTTPRoute

from relaydesk.actions import exports
from relaydesk.db.base import Base
from relaydesk.jobs.outbox import enqueue
from relaydesk.models import Job, Membership
from relaydesk.server.app import create_app

API = "/api/v1"

# Bodies that are valid for the route, so that only tenancy can refuse them; `{name}` placeholders are
# filled with B's ids. A route that answers 400 to `{}` while naming B's row in its path must be listed here,
# otherwise a validation error could hide a missing tenancy check.
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/attribute-definitions/{definition_id}"): {"label": "hijacked"},
    ("PATCH", "/api/v1/canned-responses/{canned_id}"): {"content": "hijacked"},
    ("PATCH", "/api/v1/contacts/{contact_id}"): {"name": "hijacked"},
    ("POST", "/api/v1/contacts/{contact_id}/identities"): {"inbox_id": "{inbox_id}", "external_id": "x-1"},
    ("PATCH", "/api/v1/conversations/{conversation_id}"): {"priority": "urgent"},
    ("PUT", "/api/v1/conversations/{conversation_id}/labels"): {"label_ids": ["{label_id}"]},
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): {"content": "hijacked"},
    ("PATCH", "/api/v1/inboxes/{inbox_id}"): {"name": "hijacked"},
    ("PATCH", "/api/v1/labels/{label_id}"): {"name": "hijacked"},
    ("PATCH", "/api/v1/members/{membership_id}"): {"role": "agent"},
    ("PATCH", "/api/v1/teams/{team_id}"): {"name": "hijacked"},
    ("PUT", "/api/v1/teams/{team_id}/members"): {"user_ids": []},
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): {"is_active": False},
    ("PUT", "/api/v1/conversations/{conversation_id}/ai"): {"enabled": False},
    ("PUT", "/api/v1/contacts/{contact_id}/ai"): {"enabled": False},
    ("PUT", "/api/v1/contacts/{contact_id}/restriction"): {"restricted": True},
    ("PUT", "/api/v1/ai/inboxes/{inbox_id}/settings"): {"settings": {}},
    ("PATCH", "/api/v1/ai/intents/{intent_id}"): {"handoff": True},
    # Routes without B's ids in the path carry them in the body instead.
    ("POST", "/api/v1/conversations"): {"inbox_id": "{inbox_id}", "contact_id": "{contact_id}"},
    ("POST", "/api/v1/members"): {"email": "{b_agent_email}", "role": "agent"},
    ("POST", "/api/v1/invitations"): {"email": "someone-new@example.com"},
    ("POST", "/api/v1/invitations/accept"): {
        "token": "not-a-token",
        "name": "x",
        "password": "long passphrase x",
    },
    ("PATCH", "/api/v1/workspace"): {"name": "A renamed"},
}
# Path parameters that are not ids of tenant rows.
PLAIN_PARAMS = {
    "path": "openapi.json",
    "file_path": "app.css",
    "section": "inboxes",
    "op": "create",
    "action": "x",
    "token": "x",
}
# Ids of rows owned by other modules' tests; they get a random id until someone seeds B's row here.
UNSEEDED = {"article_id", "decision_id"}


async def seed_b(client, runtime, ws) -> dict[str, str]:
    h = ws.admin.headers

    async def post(path: str, body: dict) -> dict:
        resp = await client.post(f"{API}{path}", json=body, headers=h)
        assert resp.status_code in (200, 201), (path, resp.text)
        return resp.json()

    label = await post("/labels", {"name": "b-label"})
    team = await post("/teams", {"name": "b-team"})
    await client.put(
        f"{API}/teams/{team['id']}/members", json={"user_ids": [str(ws.agent.user_id)]}, headers=h
    )
    canned = await post("/canned-responses", {"short_code": "b", "content": "b"})
    definition = await post("/attribute-definitions", {"applies_to": "contact", "key": "b", "label": "B"})
    contact = await post("/contacts", {"name": "B Person", "email": "b@example.com"})
    conv = await post("/conversations", {"inbox_id": str(ws.api_inbox_id), "contact_id": contact["id"]})
    await client.put(f"{API}/conversations/{conv['id']}/labels", json={"label_ids": [label["id"]]}, headers=h)
    msg = await post(
        f"/conversations/{conv['id']}/messages",
        {
            "content": "B's note",
            "private": True,
            "attachments": [{"filename": "b.txt", "data_base64": base64.b64encode(b"b").decode()}],
        },
    )
    export = await client.post(f"{API}/contacts/{contact['id']}/exports", headers=h)
    assert export.status_code == 202, export.text
    # Built now, so no job of B is left for a dispatcher to run while the matrix compares B's rows.
    await exports.build_export(runtime.db, ws.id, uuid.UUID(export.json()["id"]))
    async with runtime.db.write() as session:
        await session.execute(
            sa.update(Job)
            .where(Job.kind == exports.EXPORT_JOB, Job.workspace_id == ws.id)
            .values(state="done")
        )
    webhook = await post("/webhooks", {"url": "https://example.com/b"})
    invitation = await post("/invitations", {"email": "invitee-b@example.com"})
    intent = await post("/ai/intents", {"name": "b_intent", "examples": ["b's own phrase"]})
    async with runtime.db.write() as session:
        job_id = await enqueue(session, "test.nothing", {}, workspace_id=ws.id)
    async with runtime.db.write() as session:
        await session.execute(sa.update(Job).where(Job.id == job_id).values(state="dead"))
    async with runtime.db.read() as session:
        membership_id = (
            await session.execute(
                sa.select(Membership.id).where(
                    Membership.workspace_id == ws.id, Membership.user_id == ws.agent.user_id
                )
            )
        ).scalar_one()
    tokens = (await client.get(f"{API}/api-tokens?all=true", headers=h)).json()["items"]
    return {
        "conversation_id": conv["id"],
        "label_id": label["id"],
        "team_id": team["id"],
        "canned_id": canned["id"],
        "definition_id": definition["id"],
        "contact_id": contact["id"],
        "inbox_id": str(ws.api_inbox_id),
        "job_id": str(job_id),
        "membership_id": str(membership_id),
        "invitation_id": invitation["id"],
        "token_id": tokens[0]["id"],
        "webhook_id": webhook["id"],
        "intent_id": intent["id"],
        "attachment_id": msg["attachments"][0]["id"],
        "message_id": msg["id"],
        "export_id": export.json()["id"],
        "channel": "api",
        "public_id": ws.api_inbox_public_id,
        "b_agent_email": ws.agent.email,
    }


async def snapshot(runtime, ws) -> dict[str, list[tuple]]:
    """Every row workspace B owns (and its workspace and members' user rows), as comparable tuples."""
    user_ids = [ws.owner.user_id, ws.admin.user_id, ws.agent.user_id]
    result: dict[str, list[tuple]] = {}
    async with runtime.db.read() as session:
        for table in Base.metadata.sorted_tables:
            if "workspace_id" in table.c:
                cond = table.c.workspace_id == ws.id
            elif table.name == "workspaces":
                cond = table.c.id == ws.id
            elif table.name == "users":
                cond = table.c.id.in_(user_ids)
            else:
                continue
            rows = (await session.execute(sa.select(table).where(cond))).all()
            result[table.name] = sorted(tuple(repr(v) for v in row) for row in rows)
    return result


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


async def test_every_route_refuses_another_workspaces_ids(client, runtime, make_workspace):
    a = await make_workspace("Alpha")
    b = await make_workspace("Bravo")
    ids = await seed_b(client, runtime, b)
    secrets_of_b = {k: v for k, v in ids.items() if k not in ("channel", "b_agent_email")}
    before = await snapshot(runtime, b)
    app = create_app(runtime=runtime, manage_runtime=False)

    unknown_params: set[str] = set()
    masked: list[str] = []
    walked = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue  # the realtime WebSocket: isolation is tested in tests/realtime
        path = route.path_format
        params = list(route.path_parameters)
        names_b = [p for p in params if p in ids and p not in PLAIN_PARAMS]
        for p in params:
            if p not in ids and p not in PLAIN_PARAMS and p not in UNSEEDED:
                unknown_params.add(f"{p} in {path}")
        values = {p: ids.get(p) or PLAIN_PARAMS.get(p) or str(uuid.uuid4()) for p in params}
        url = path.format(**values)
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            body = fill(BODIES.get((method, path), {}), ids) if method in ("POST", "PUT", "PATCH") else None
            resp = await client.request(method, url, json=body, headers=a.owner.headers)
            walked += 1
            where = f"{method} {url} -> {resp.status_code}"
            assert resp.status_code < 500, where + " " + resp.text[:300]
            # An id the caller sent in the URL may be echoed back (e.g. in a validation message); any other
            # id of B in an answer is a leak.
            leaked = [k for k, v in secrets_of_b.items() if v in resp.text and v not in url]
            assert not leaked, f"{where} leaks B's {leaked}"
            if names_b:
                refused = {401, 403, 404, 405, 409}
                if not path.startswith(API):
                    refused |= {302, 303}  # web pages send a bearer-only caller to the login page
                assert resp.status_code in refused, where + " " + resp.text[:200]
                if resp.status_code == 400 and (method, path) not in BODIES:
                    masked.append(where)
            if (method, path) in BODIES and any("{" in str(v) for v in BODIES[(method, path)].values()):
                assert resp.status_code in (400, 403, 404, 409), where + " " + resp.text[:200]
    assert not unknown_params, (
        f"seed B's row and add these path parameters to b_ids: {sorted(unknown_params)}"
    )
    assert not masked, f"give these routes a valid body in BODIES: {masked}"
    assert walked > 60
    after = await snapshot(runtime, b)
    changed = [t for t in before if before[t] != after[t]]
    assert not changed, f"workspace B changed in {changed}"
