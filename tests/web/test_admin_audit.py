"""The admin audit log page: admins only, the workspace's own events newest first, filters with clear
messages for refused values, cursor pagination through the API's query, and no message content."""

from __future__ import annotations

import datetime as dt
import html
import re

import sqlalchemy as sa

from relaydesk.models import AuditEvent, Membership
from relaydesk.privacy import audit
from tests.privacy.seeding import EMAIL, NAME, TEXT, seed
from tests.web.helpers import login

ROW = re.compile(r'<tr data-seq="(\d+)">(.*?)</tr>', re.S)
ACTION = re.compile(r"<code>([a-z0-9_.]+)</code>")


def rows(page: str) -> list[tuple[int, str]]:
    """(seq, action) of each listed event, in page order."""
    out = []
    for seq, cells in ROW.findall(page):
        found = ACTION.search(cells)
        assert found, cells
        out.append((int(seq), found.group(1)))
    return out


async def _seqs(runtime, workspace_id) -> list[int]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        stmt = sa.select(AuditEvent.seq).where(AuditEvent.workspace_id == workspace_id)
        return sorted((await session.execute(stmt)).scalars(), reverse=True)


async def _membership(runtime, workspace_id, user_id):  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return (
            await session.execute(
                sa.select(Membership.id).where(
                    Membership.workspace_id == workspace_id, Membership.user_id == user_id
                )
            )
        ).scalar_one()


async def test_audit_page_lists_filters_and_hides_content_and_other_workspaces(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace(audit_setup=False)
    other = await make_workspace("Other", audit_setup=False)
    seeded = await seed(client, ws, run_jobs)  # a message whose words must never reach the page
    agent_m = await _membership(runtime, ws.id, ws.agent.user_id)
    for op in ("deactivate", "reactivate"):
        resp = await client.post(f"/api/v1/members/{agent_m}/{op}", headers=ws.owner.headers)
        assert resp.status_code == 200, resp.text
    assert (
        await client.get(f"/api/v1/contacts/{seeded.contact_id}", headers=ws.admin.headers)
    ).status_code == 200
    other_m = await _membership(runtime, other.id, other.agent.user_id)
    assert (
        await client.post(f"/api/v1/members/{other_m}/deactivate", headers=other.owner.headers)
    ).status_code == 200
    await login(client, ws.agent.email, "not the password")  # auth.login_failed, outcome failure
    assert (await login(client, ws.admin.email, ws.admin.password)).status_code in (302, 303)

    resp = await client.get("/admin/audit")
    assert resp.status_code == 200, resp.text
    page = html.unescape(resp.text)
    listed = rows(page)
    assert [s for s, _ in listed] == await _seqs(runtime, ws.id)  # all of them, newest first
    actions = [a for _, a in listed]
    assert actions[:3] == ["auth.login", "auth.login_failed", "contact.viewed"]
    assert {"member.deactivated", "member.reactivated"} <= set(actions)
    assert 'href="/admin/audit" aria-current="page"' in page  # in the admin nav
    assert f"Newest entry: <strong>#{listed[0][0]}</strong>" in page and "relaydesk audit verify" in page
    # Actors and targets by name where they are this workspace's people, otherwise by id.
    assert "Owner of Acme" in page and "Agent of Acme" in page and "API token of Admin of Acme" in page
    assert seeded.contact_id in page and "127.0.0.1" in page
    # No message content, no contact data: only ids.
    for needle in (NAME, EMAIL, TEXT, "ZQ88412XK"):
        assert needle not in page
    # Nothing of the other workspace.
    assert str(other.agent.user_id) not in page and "Owner of Other" not in page

    async def listed_with(**params: str) -> list[tuple[int, str]]:
        got = await client.get("/admin/audit", params=params)
        assert got.status_code == 200, got.text
        return rows(html.unescape(got.text))

    assert {a for _, a in await listed_with(action="auth.")} == {"auth.login", "auth.login_failed"}
    assert {a for _, a in await listed_with(action="auth.*")} == {"auth.login", "auth.login_failed"}
    assert [a for _, a in await listed_with(action="member.deactivated")] == ["member.deactivated"]
    assert await listed_with(action="member.") == [(s, a) for s, a in listed if a.startswith("member.")]
    assert await listed_with(action="auth") == []  # no trailing dot: exact
    assert [a for _, a in await listed_with(outcome="failure")] == ["auth.login_failed"]
    owner_did = await listed_with(actor=str(ws.owner.user_id))
    assert [a for _, a in owner_did] == ["member.reactivated", "member.deactivated"]
    assert [a for _, a in await listed_with(target_id=seeded.contact_id)] == ["contact.viewed"]
    today = dt.datetime.now(dt.UTC).date()
    assert len(await listed_with(**{"from": today.isoformat(), "to": today.isoformat()})) == len(listed)
    assert await listed_with(to=(today - dt.timedelta(days=1)).isoformat()) == []
    # Another workspace's ids as filters: nothing of it.
    for params in ({"actor": str(other.owner.user_id)}, {"target_id": str(other.agent.user_id)}):
        got = await client.get("/admin/audit", params=params)
        assert got.status_code == 200 and rows(got.text) == [] and "Nothing matches." in got.text

    # Refused values: a clear message on the page, status 400, never a 500.
    for params, message in (
        ({"outcome": "bogus"}, "outcome must be one of success, failure, denied"),
        ({"from": "yesterday"}, "from must be a date like 2026-01-31"),
        ({"from": "2026-02-02", "to": "2026-02-01"}, "from is after to"),
        ({"actor": "someone"}, "actor must be a person of this workspace"),
        ({"cursor": "not-a-cursor"}, "invalid cursor"),
        ({"action": "x" * 81}, "action needs at most 80 characters"),
        ({"action": "*"}, "action needs a name or a prefix"),
    ):
        got = await client.get("/admin/audit", params=params)
        assert got.status_code == 400, (params, got.status_code)
        assert message in html.unescape(got.text) and 'role="alert"' in got.text, params
        assert rows(got.text) == []

    # Agents are refused, like every admin page.
    await login(client, ws.agent.email, ws.agent.password)
    refused = await client.get("/admin/audit")
    assert refused.status_code == 403 and rows(refused.text) == []


async def test_audit_page_pages_back_to_the_oldest_row_keeping_the_filter(client, runtime, make_workspace):
    ws = await make_workspace(audit_setup=False)
    async with runtime.db.write() as session:
        for i in range(60):
            await audit.record(
                session,
                ws.id,
                "keys.workspace_rotated" if i % 3 else "keys.contact_shredded",
                metadata={"n": i, "ok": True},
            )
    await login(client, ws.admin.email, ws.admin.password)
    all_seqs = await _seqs(runtime, ws.id)  # the 60 test rows and the login's
    first = await client.get("/admin/audit", params={"action": "keys."})
    assert first.status_code == 200
    page = html.unescape(first.text)
    seen = rows(page)
    assert len(seen) == 50 and all(a.startswith("keys.") for _, a in seen)
    assert "n=59 ok=true" in page  # metadata as key=value
    older = re.search(r'<a href="([^"]+)" rel="next">Older', page)
    assert older and "action=keys." in older.group(1)
    second = await client.get(older.group(1))
    rest = rows(html.unescape(second.text))
    assert len(rest) == 10 and rest[-1][0] == min(all_seqs)
    assert [s for s, _ in seen + rest] == sorted((s for s in all_seqs if s <= seen[0][0]), reverse=True)
    assert 'rel="next"' not in second.text and "← Newest" in second.text
