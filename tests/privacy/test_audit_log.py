"""The audit log: written in the same transaction as the change, hash-chained per workspace, verified by
`relaydesk audit verify` (which catches edited and removed rows), append-only on PostgreSQL, and readable by
admins through `GET /api/v1/audit-events` with filters and cursor pagination."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.exc import DBAPIError

from relaydesk.cli.main import main
from relaydesk.db.tenancy import tenant
from relaydesk.models import AuditEvent, Membership
from relaydesk.privacy import audit, storage
from relaydesk.privacy.audit_chain import ChainProblem
from relaydesk.server.keys import parse_master_keys
from tests.privacy.seeding import EMAIL, NAME, seed


async def _membership_id(runtime, workspace_id, user_id):  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return (
            await session.execute(
                sa.select(Membership.id).where(
                    Membership.workspace_id == workspace_id, Membership.user_id == user_id
                )
            )
        ).scalar_one()


async def _audited_workspace(client, runtime, make_workspace, run_jobs):  # type: ignore[no-untyped-def]
    ws = await make_workspace(audit_setup=False)
    seeded = await seed(client, ws, run_jobs)
    agent_membership = await _membership_id(runtime, ws.id, ws.agent.user_id)
    assert (
        await client.patch(
            f"/api/v1/members/{agent_membership}", json={"role": "admin"}, headers=ws.owner.headers
        )
    ).status_code == 200
    assert (
        await client.post(f"/api/v1/members/{agent_membership}/deactivate", headers=ws.owner.headers)
    ).status_code == 200
    rotated = await client.post(
        f"/api/v1/inboxes/{ws.api_inbox_id}/rotate-secret",
        json={"which": "inbound_secret"},
        headers=ws.admin.headers,
    )
    assert rotated.status_code in (200, 201), rotated.text
    assert (
        await client.get(f"/api/v1/contacts/{seeded.contact_id}", headers=ws.admin.headers)
    ).status_code == 200
    return ws, seeded, agent_membership


async def _verify_cli(settings, monkeypatch, *args):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RELAYDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RELAYDESK_MASTER_KEY", settings.master_key)
    result = await asyncio.to_thread(CliRunner().invoke, main, ["audit", "verify", *args])
    storage.configure(parse_master_keys(settings.master_key))  # the CLI replaced the process-wide ring
    return result


async def _tamper(runtime, statement, params):  # type: ignore[no-untyped-def]
    """What someone with direct database access could do (on PostgreSQL they must first switch the
    append-only trigger off, which only a superuser or the table owner can)."""
    async with runtime.db.write() as session:
        if runtime.db.dialect == "postgresql":
            await session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        await session.execute(sa.text(statement), params)


async def test_changes_are_audited_in_a_chain_that_verify_accepts(
    client, runtime, make_workspace, run_jobs, settings, monkeypatch
):
    ws, seeded, _membership = await _audited_workspace(client, runtime, make_workspace, run_jobs)
    async with runtime.db.read() as session:
        rows = (
            (
                await session.execute(
                    sa.select(AuditEvent).where(AuditEvent.workspace_id == ws.id).order_by(AuditEvent.seq)
                )
            )
            .scalars()
            .all()
        )
        assert await audit.verify(session, ws.id) == []
    actions = [r.action for r in rows]
    assert actions == [
        "member.role_changed",
        "member.deactivated",
        "inbox.credentials_changed",
        "contact.viewed",
    ]
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    role = rows[0]
    assert (role.actor_kind, role.actor_id, role.target_type, role.target_id) == (
        "user",
        str(ws.owner.user_id),
        "user",
        str(ws.agent.user_id),
    )
    assert role.details == {"from": "agent", "to": "admin"}
    assert rows[3].target_id == seeded.contact_id and rows[3].actor_kind == "api_token"
    result = await _verify_cli(settings, monkeypatch, "--workspace", ws.slug)
    assert result.exit_code == 0, result.output
    assert "4 rows, intact" in result.output


async def test_verify_detects_an_edited_row(client, runtime, make_workspace, run_jobs, settings, monkeypatch):
    ws, _seeded, _m = await _audited_workspace(client, runtime, make_workspace, run_jobs)
    await _tamper(
        runtime,
        "UPDATE audit_events SET actor_id = :who WHERE workspace_id = :ws AND seq = 2",
        {"who": str(uuid.uuid4()), "ws": ws.id if runtime.db.dialect == "postgresql" else ws.id.hex},
    )
    async with runtime.db.read() as session:
        problems = await audit.verify(session, ws.id)
    assert [(p.seq, p.kind) for p in problems] == [(2, "edited")]
    result = await _verify_cli(settings, monkeypatch)
    assert result.exit_code == 1
    assert f"{ws.slug}: 4 rows, 1 problem(s)" in result.output and "seq 2: edited" in result.output


async def test_verify_detects_a_removed_row(client, runtime, make_workspace, run_jobs, settings, monkeypatch):
    ws, _seeded, _m = await _audited_workspace(client, runtime, make_workspace, run_jobs)
    await _tamper(
        runtime,
        "DELETE FROM audit_events WHERE workspace_id = :ws AND seq = 3",
        {"ws": ws.id if runtime.db.dialect == "postgresql" else ws.id.hex},
    )
    async with runtime.db.read() as session:
        problems = await audit.verify(session, ws.id)
    assert {(p.seq, p.kind) for p in problems} == {(4, "gap"), (4, "broken_link")}
    result = await _verify_cli(settings, monkeypatch, "--workspace", ws.slug)
    assert result.exit_code == 1 and "seq 4: broken_link" in result.output


async def test_audit_rows_are_append_only_on_postgresql(client, runtime, make_workspace, run_jobs, backend):
    if backend != "postgresql":
        pytest.skip("the append-only trigger and grants exist on PostgreSQL; SQLite relies on the hash chain")
    ws, _seeded, _m = await _audited_workspace(client, runtime, make_workspace, run_jobs)
    for statement in (
        "UPDATE audit_events SET action = 'nothing' WHERE workspace_id = :ws",
        "DELETE FROM audit_events WHERE workspace_id = :ws",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with runtime.db.write() as session:
                await session.execute(sa.text(statement), {"ws": ws.id})
        with tenant(ws.id), pytest.raises(DBAPIError, match="permission denied"):
            async with runtime.db.write() as session:  # the request role has no UPDATE/DELETE at all
                await session.execute(sa.text(statement), {"ws": ws.id})
    async with runtime.db.read() as session:
        assert await audit.verify(session, ws.id) == []
        assert len(await audit.load_chain(session, ws.id)) == 4


async def test_admins_read_the_trail_with_filters_and_pagination(client, runtime, make_workspace, run_jobs):
    ws, seeded, _m = await _audited_workspace(client, runtime, make_workspace, run_jobs)
    other = await make_workspace("Other", audit_setup=False)
    url = "/api/v1/audit-events"
    assert (await client.get(url, headers=other.agent.headers)).status_code == 403  # agents may not
    page = (await client.get(url, params={"limit": 3}, headers=ws.admin.headers)).json()
    assert [e["seq"] for e in page["items"]] == [4, 3, 2]  # newest first
    rest = (
        await client.get(url, params={"limit": 3, "cursor": page["next_cursor"]}, headers=ws.admin.headers)
    ).json()
    assert [e["seq"] for e in rest["items"]] == [1] and rest["next_cursor"] is None
    assert NAME not in str(page) + str(rest) and EMAIL not in str(page) + str(rest)

    def seqs(**params):  # type: ignore[no-untyped-def]
        return client.get(url, params=params, headers=ws.admin.headers)

    assert [e["action"] for e in (await seqs(action="member.deactivated")).json()["items"]] == [
        "member.deactivated"
    ]
    by_owner = (await seqs(actor_id=str(ws.owner.user_id))).json()["items"]
    assert {e["action"] for e in by_owner} == {"member.role_changed", "member.deactivated"}
    viewed = (await seqs(target_type="contact", target_id=seeded.contact_id)).json()["items"]
    assert [e["action"] for e in viewed] == ["contact.viewed"]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert (await seqs(since=future)).json()["items"] == []
    assert len((await seqs(until=future)).json()["items"]) == 4
    assert (await seqs(since="2026-01-01T00:00:00")).status_code == 400  # no time zone
    assert (await seqs(cursor="not-a-cursor")).status_code == 400
    assert (await client.get(url, headers=other.admin.headers)).json()["items"] == []


async def test_metadata_never_takes_content(runtime, make_workspace):
    ws = await make_workspace(audit_setup=False)
    with pytest.raises(ValueError, match="not allowed"):
        async with runtime.db.write() as session:
            await audit.record(session, ws.id, "contact.viewed", metadata={"email": EMAIL})
    async with runtime.db.read() as session:
        assert await audit.load_chain(session, ws.id) == []
    assert ChainProblem  # (type re-exported for callers of verify)
