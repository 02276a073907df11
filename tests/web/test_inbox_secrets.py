"""An inbox's signing secrets in the admin: hidden by default, revealed on purpose by an owner (audited),
rotated one at a time; admins, agents and other workspaces get nothing."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa

from relaydesk.models import AuditEvent
from relaydesk.models.inboxes import Inbox
from relaydesk.privacy import storage
from tests.web.helpers import csrf_of, login


async def _post(client, path: str, **data: str):  # type: ignore[no-untyped-def]
    token = await csrf_of(client, "/admin/inboxes")
    return await client.post(path, data={"csrf_token": token, **data})


async def _audit(runtime, ws_id) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        stmt = sa.select(AuditEvent).where(AuditEvent.workspace_id == ws_id).order_by(AuditEvent.seq)
        return list((await session.execute(stmt)).scalars())


async def test_owner_reveals_both_secrets_on_purpose_and_the_reveal_is_audited(
    client, runtime, make_workspace
):
    ws = await make_workspace()
    await login(client, ws.owner.email, ws.owner.password)
    listed = await client.get("/admin/inboxes")
    assert listed.status_code == 200
    assert ws.outbound_secret not in listed.text and ws.inbound_secret not in listed.text
    assert "Reveal signing secrets" in listed.text

    no_csrf = await client.post("/admin/inboxes/reveal", data={"id": str(ws.api_inbox_id)})
    assert no_csrf.status_code in (400, 403) and ws.outbound_secret not in no_csrf.text

    shown = await _post(client, "/admin/inboxes/reveal", id=str(ws.api_inbox_id))
    assert shown.status_code == 201
    assert ws.outbound_secret in shown.text and ws.inbound_secret in shown.text
    [event] = [e for e in await _audit(runtime, ws.id) if e.action == "inbox.secrets_revealed"]
    assert (event.actor_id, event.target_type, event.target_id) == (
        str(ws.owner.user_id),
        "inbox",
        str(ws.api_inbox_id),
    )
    assert event.details["shown"] == ["inbound_secret", "outbound_secret"]
    assert ws.outbound_secret not in repr(event.details)
    # Reloading hides them again.
    assert ws.outbound_secret not in (await client.get("/admin/inboxes")).text


async def test_each_secret_rotates_separately_and_the_new_one_is_shown_once(client, runtime, make_workspace):
    ws = await make_workspace()
    await login(client, ws.owner.email, ws.owner.password)
    resp = await _post(client, "/admin/inboxes/rotate", id=str(ws.api_inbox_id), which="outbound_secret")
    assert resp.status_code == 201
    async with runtime.db.read() as session:
        creds = storage.read_inbox_credentials(await session.get(Inbox, ws.api_inbox_id))
    assert creds["inbound_secret"] == ws.inbound_secret  # untouched
    assert creds["outbound_secret"] != ws.outbound_secret and creds["outbound_secret"] in resp.text
    assert ws.inbound_secret not in resp.text

    resp = await _post(client, "/admin/inboxes/rotate", id=str(ws.api_inbox_id), which="inbound_secret")
    async with runtime.db.read() as session:
        after = storage.read_inbox_credentials(await session.get(Inbox, ws.api_inbox_id))
    assert (
        after["outbound_secret"] == creds["outbound_secret"] and after["inbound_secret"] != ws.inbound_secret
    )
    assert after["inbound_secret"] in resp.text

    bad = await _post(client, "/admin/inboxes/rotate", id=str(ws.api_inbox_id), which="password")
    assert bad.status_code == 400
    rotated = [
        e.details["rotated"] for e in await _audit(runtime, ws.id) if e.action == "inbox.credentials_changed"
    ]
    assert rotated == ["outbound_secret", "inbound_secret"]


async def test_admins_agents_and_other_workspaces_get_no_secret(client, runtime, make_workspace):
    ws = await make_workspace()
    other = await make_workspace("Other")
    for member in (ws.admin, ws.agent):
        client.cookies.clear()
        await login(client, member.email, member.password)
        page = await client.get("/admin/inboxes")
        assert ws.outbound_secret not in page.text and "Reveal signing secrets" not in page.text
        for path, extra in (
            ("/admin/inboxes/reveal", {}),
            ("/admin/inboxes/rotate", {"which": "outbound_secret"}),
        ):
            token = await csrf_of(client, "/account/security")
            resp = await client.post(path, data={"csrf_token": token, "id": str(ws.api_inbox_id), **extra})
            assert resp.status_code == 403, (member.role, path)
            assert ws.outbound_secret not in resp.text

    client.cookies.clear()
    await login(client, ws.owner.email, ws.owner.password)
    for inbox_id in (other.api_inbox_id, uuid.uuid4()):
        resp = await _post(client, "/admin/inboxes/reveal", id=str(inbox_id))
        assert resp.status_code == 404 and other.outbound_secret not in resp.text
        resp = await _post(client, "/admin/inboxes/rotate", id=str(inbox_id), which="outbound_secret")
        assert resp.status_code == 404
    refused = {"inbox.secrets_revealed", "inbox.credentials_changed"}
    assert [e.action for e in await _audit(runtime, ws.id) if e.action in refused] == []
    assert not re.search(r"secrets_revealed", repr(await _audit(runtime, other.id)))
