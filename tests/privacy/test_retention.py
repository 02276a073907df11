"""Retention: audit rows past the workspace's retention are purged behind a MAC'd checkpoint, the rest of
the chain still verifies (and still exposes edits and removals); processed raw inbound bodies are dropped
after their retention while dedupe and replay refusal keep working; erasure drops a contact's raw bodies."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.exc import DBAPIError

from relaydesk.actions import retention
from relaydesk.actions.keys import shred_contact
from relaydesk.channels.api.client import signed_request_headers
from relaydesk.cli.main import main
from relaydesk.db.base import utcnow
from relaydesk.db.tenancy import tenant
from relaydesk.jobs.handlers.maintenance import purge_old_audit_rows, purge_raw_inbound_bodies
from relaydesk.jobs.registry import JobContext
from relaydesk.models import AuditCheckpoint, AuditEvent, InboundEvent, Job, Message, Workspace
from relaydesk.privacy import audit, storage
from relaydesk.server.keys import parse_master_keys
from tests.privacy.seeding import seed

DAY = dt.timedelta(days=1)


async def _history(runtime, workspace_id, ages_in_days: list[int]) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    async with runtime.db.write() as session:
        for n, age in enumerate(ages_in_days):
            await audit.record(
                session, workspace_id, "contact.viewed", metadata={"n": n}, occurred_at=now - age * DAY
            )


async def _run_periodic(runtime, fn) -> None:  # type: ignore[no-untyped-def]
    await fn(JobContext(services=runtime.services, job=Job(kind="periodic", payload={})))


async def _cli(settings, monkeypatch, *args):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RELAYDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RELAYDESK_MASTER_KEY", settings.master_key)
    result = await asyncio.to_thread(CliRunner().invoke, main, ["audit", *args])
    storage.configure(parse_master_keys(settings.master_key))  # the CLI replaced the process-wide ring
    return result


def _ws_param(runtime, workspace_id):  # type: ignore[no-untyped-def]
    return workspace_id if runtime.db.dialect == "postgresql" else workspace_id.hex


async def _tamper(runtime, statement, params):  # type: ignore[no-untyped-def]
    async with runtime.db.write() as session:
        if runtime.db.dialect == "postgresql":
            await session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        await session.execute(sa.text(statement), params)


async def test_old_audit_rows_go_behind_a_checkpoint_and_the_rest_still_verifies(
    runtime, make_workspace, settings, monkeypatch
):
    ws = await make_workspace(audit_setup=False)
    await _history(runtime, ws.id, [400, 380, 366, 300, 10, 0])
    await _run_periodic(runtime, purge_old_audit_rows)

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
        checkpoint = await audit.latest_checkpoint(session, ws.id)
        assert await audit.verify(session, ws.id) == []
    assert [r.seq for r in rows] == [4, 5, 6, 7]
    purged = rows[-1]
    assert purged.action == "audit.purged" and purged.details == {
        "upto_seq": 3,
        "rows": 3,
        "retention_days": 365,
    }
    assert min(r.occurred_at for r in rows) >= utcnow() - 365 * DAY  # item 17: nothing older than a year
    assert checkpoint is not None and (checkpoint.seq, checkpoint.purged) == (3, 3)
    assert checkpoint.hash == rows[0].prev_hash

    # The chain goes on after a purge; running it again changes nothing.
    async with runtime.db.write() as session:
        added = await audit.record(session, ws.id, "contact.viewed")
    assert added.seq == 8
    await _run_periodic(runtime, purge_old_audit_rows)
    async with runtime.db.read() as session:
        assert len(await audit.checkpoints(session, ws.id)) == 1

    result = await _cli(settings, monkeypatch, "verify", "--workspace", ws.slug)
    assert result.exit_code == 0, result.output
    assert "5 rows, intact" in result.output

    # Editing or removing a remaining row is still caught, the first one after the checkpoint included.
    await _tamper(
        runtime,
        "DELETE FROM audit_events WHERE workspace_id = :ws AND seq = 4",
        {"ws": _ws_param(runtime, ws.id)},
    )
    async with runtime.db.read() as session:
        problems = await audit.verify(session, ws.id)
    assert {(p.seq, p.kind) for p in problems} == {(5, "gap"), (5, "broken_link")}
    result = await _cli(settings, monkeypatch, "verify", "--workspace", ws.slug)
    assert result.exit_code == 1 and "seq 5: broken_link" in result.output


async def test_a_forged_checkpoint_does_not_hide_removed_rows(runtime, make_workspace):
    ws = await make_workspace(audit_setup=False)
    await _history(runtime, ws.id, [500, 400, 10, 5, 1])
    async with runtime.db.write() as session:
        await retention.purge_audit(session, ws.id, now=utcnow())
    # Someone with database access removes seq 3-4 and writes a checkpoint claiming a purge up to 4.
    async with runtime.db.read() as session:
        row4 = (
            await session.execute(
                sa.select(AuditEvent).where(AuditEvent.workspace_id == ws.id, AuditEvent.seq == 4)
            )
        ).scalar_one()
    await _tamper(
        runtime,
        "DELETE FROM audit_events WHERE workspace_id = :ws AND seq <= 4",
        {"ws": _ws_param(runtime, ws.id)},
    )
    async with runtime.db.write() as session:
        session.add(
            AuditCheckpoint(
                workspace_id=ws.id,
                seq=4,
                hash=row4.hash,
                last_occurred_at=row4.occurred_at,
                purged=2,
                key_id=storage.vault.ring().current_master.key_id,
                mac="0" * 64,
            )
        )
    async with runtime.db.read() as session:
        problems = await audit.verify(session, ws.id)
    assert [(p.seq, p.kind) for p in problems] == [(4, "checkpoint")]


async def test_a_fully_purged_chain_continues_from_its_checkpoint(runtime, make_workspace):
    ws = await make_workspace(audit_setup=False)
    await _history(runtime, ws.id, [800, 700])
    async with runtime.db.write() as session:
        await audit.purge_before(session, ws.id, utcnow())
    async with runtime.db.read() as session:
        assert await audit.load_chain(session, ws.id) == []
    async with runtime.db.write() as session:
        row = await audit.record(session, ws.id, "contact.viewed")
    async with runtime.db.read() as session:
        checkpoint = await audit.latest_checkpoint(session, ws.id)
        assert checkpoint is not None
        assert (row.seq, row.prev_hash) == (3, checkpoint.hash)
        assert await audit.verify(session, ws.id) == []


async def test_retention_is_a_workspace_setting(client, runtime, make_workspace):
    ws = await make_workspace(audit_setup=False)
    await _history(runtime, ws.id, [100, 50])  # before the settings change, which is audited too
    shown = (await client.get("/api/v1/workspace", headers=ws.agent.headers)).json()["settings"]
    assert (shown["audit_retention_days"], shown["inbound_body_retention_days"]) == (365, 7)
    resp = await client.patch(
        "/api/v1/workspace",
        json={"settings": {"audit_retention_days": 90, "inbound_body_retention_days": 0}},
        headers=ws.admin.headers,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["settings"]["audit_retention_days"] == 90
    for bad in (
        {"audit_retention_days": 5},
        {"inbound_body_retention_days": -1},
        {"audit_retention_days": "x"},
    ):
        assert (
            await client.patch("/api/v1/workspace", json={"settings": bad}, headers=ws.admin.headers)
        ).status_code == 400
    async with runtime.db.write() as session:
        checkpoint = await retention.purge_audit(session, ws.id, now=utcnow())
    assert checkpoint is not None and checkpoint.seq == 1  # 100 days > 90, 50 days kept


async def test_exported_checkpoints_and_heads_reveal_a_removed_tail(
    runtime, make_workspace, settings, monkeypatch, tmp_path
):
    ws = await make_workspace(audit_setup=False)
    await _history(runtime, ws.id, [400, 30, 20, 10])
    async with runtime.db.write() as session:
        await retention.purge_audit(session, ws.id, now=utcnow())
    result = await _cli(settings, monkeypatch, "checkpoints", "--workspace", ws.slug)
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in result.output.splitlines()]
    assert [(i["kind"], i["seq"]) for i in items] == [("checkpoint", 1), ("head", 5)]
    assert all(len(i["mac"]) == 64 for i in items)
    path = tmp_path / "checkpoints.jsonl"
    path.write_text(result.output, encoding="utf-8")
    ok = await _cli(settings, monkeypatch, "verify", "--workspace", ws.slug, "--against", str(path))
    assert ok.exit_code == 0, ok.output
    # The last row vanishes: the database alone cannot tell, the exported head can.
    await _tamper(
        runtime,
        "DELETE FROM audit_events WHERE workspace_id = :ws AND seq = 5",
        {"ws": _ws_param(runtime, ws.id)},
    )
    async with runtime.db.read() as session:
        assert await audit.verify(session, ws.id) == []
    bad = await _cli(settings, monkeypatch, "verify", "--workspace", ws.slug, "--against", str(path))
    assert bad.exit_code == 1 and "head row missing" in bad.output


async def test_only_the_purge_may_delete_audit_rows_on_postgresql(runtime, make_workspace, backend):
    if backend != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL; SQLite relies on the hash chain")
    ws = await make_workspace(audit_setup=False)
    await _history(runtime, ws.id, [400, 300, 1])
    delete = "DELETE FROM audit_events WHERE workspace_id = :ws AND seq = 1"
    # The owner role without the purge setting, or with it but no checkpoint covering the row: refused.
    with pytest.raises(DBAPIError, match="append-only"):
        async with runtime.db.write() as session:
            await session.execute(sa.text(delete), {"ws": ws.id})
    with pytest.raises(DBAPIError, match="append-only"):
        async with runtime.db.write() as session:
            await session.execute(
                sa.text("SELECT set_config('relaydesk.audit_purge', :ws, true)"), {"ws": str(ws.id)}
            )
            await session.execute(sa.text(delete), {"ws": ws.id})
    async with runtime.db.write() as session:
        await retention.purge_audit(session, ws.id, now=utcnow())
    # UPDATE stays refused even inside a purge; checkpoints cannot be changed or removed.
    with pytest.raises(DBAPIError, match="append-only"):
        async with runtime.db.write() as session:
            await session.execute(
                sa.text("SELECT set_config('relaydesk.audit_purge', :ws, true)"), {"ws": str(ws.id)}
            )
            await session.execute(
                sa.text("UPDATE audit_events SET action = 'x' WHERE workspace_id = :ws"), {"ws": ws.id}
            )
    for statement in ("UPDATE audit_checkpoints SET purged = 0", "DELETE FROM audit_checkpoints"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with runtime.db.write() as session:
                await session.execute(sa.text(statement))
    # The request role can neither delete audit rows nor write checkpoints.
    with tenant(ws.id), pytest.raises(DBAPIError, match="permission denied"):
        async with runtime.db.write() as session:
            await session.execute(sa.text(delete), {"ws": ws.id})
    with tenant(ws.id), pytest.raises(DBAPIError, match="permission denied"):
        async with runtime.db.write() as session:
            session.add(
                AuditCheckpoint(
                    workspace_id=ws.id,
                    seq=9,
                    hash="0" * 64,
                    last_occurred_at=utcnow(),
                    purged=0,
                    key_id="m",
                    mac="0" * 64,
                )
            )
            await session.flush()
    async with runtime.db.read() as session:
        assert await audit.verify(session, ws.id) == []
        assert len(await audit.load_chain(session, ws.id, after=2)) == 2  # seq 3 and the audit.purged row


async def _events(runtime, workspace_id):  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return list(
            (
                await session.execute(
                    sa.select(InboundEvent)
                    .where(InboundEvent.workspace_id == workspace_id)
                    .order_by(InboundEvent.received_at)
                )
            ).scalars()
        )


async def test_processed_raw_bodies_are_dropped_after_retention_and_replays_stay_refused(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace(audit_setup=False)
    await seed(client, ws, run_jobs)
    body = json.dumps(
        {"id": "m-recent", "contact": {"id": "c-2", "name": "Recent"}, "text": "recent one"}
    ).encode()
    headers = signed_request_headers(ws.inbound_secret, body)
    assert (
        await client.post(f"/inbound/api/{ws.api_inbox_public_id}", content=body, headers=headers)
    ).status_code == 202
    await run_jobs()
    old, recent = await _events(runtime, ws.id)
    assert old.state == recent.state == "processed" and old.body and recent.body
    async with runtime.db.write() as session:
        await session.execute(
            sa.update(InboundEvent).where(InboundEvent.id == old.id).values(processed_at=utcnow() - 8 * DAY)
        )
    await _run_periodic(runtime, purge_raw_inbound_bodies)
    old, recent = await _events(runtime, ws.id)
    assert old.body is None and old.headers == {} and old.dedupe_key and old.signature_hash
    assert recent.body is not None and storage.open_raw_body(ws.id, recent.body) == body

    async def messages() -> int:
        async with runtime.db.read() as session:
            return (
                await session.execute(
                    sa.select(sa.func.count()).select_from(Message).where(Message.workspace_id == ws.id)
                )
            ).scalar_one()

    before = await messages()
    # The provider retries the purged message: still recognised by its dedupe key, nothing new is stored.
    retry = json.dumps(
        {"id": "m-cust-zq", "contact": {"id": "cust-zq", "name": "X"}, "text": "again"}
    ).encode()
    resp = await client.post(
        f"/inbound/api/{ws.api_inbox_public_id}",
        content=retry,
        headers=signed_request_headers(ws.inbound_secret, retry),
    )
    assert resp.status_code in (200, 202)
    await run_jobs()
    assert await messages() == before
    assert len(await _events(runtime, ws.id)) == 2

    # Retention 0: every processed body goes at the next run.
    async with runtime.db.write() as session:
        workspace = await session.get(Workspace, ws.id)
        assert workspace is not None
        workspace.settings = {**workspace.settings, retention.RAW_BODY_RETENTION_SETTING: 0}
    async with runtime.db.write() as session:
        assert await retention.purge_raw_bodies(session, ws.id, now=utcnow() + dt.timedelta(seconds=1)) == 1
    assert all(e.body is None for e in await _events(runtime, ws.id))


async def test_erasure_drops_the_contacts_raw_bodies(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace(audit_setup=False)
    seeded = await seed(client, ws, run_jobs)
    other = json.dumps(
        {"id": "m-other", "contact": {"id": "c-other", "name": "Someone Else"}, "text": "hi"}
    ).encode()
    assert (
        await client.post(
            f"/inbound/api/{ws.api_inbox_public_id}",
            content=other,
            headers=signed_request_headers(ws.inbound_secret, other),
        )
    ).status_code == 202
    await run_jobs()
    async with runtime.db.write() as session:
        await shred_contact(session, ws.id, uuid.UUID(seeded.contact_id))
    events = {e.dedupe_key: e for e in await _events(runtime, ws.id)}
    assert events["message:m-cust-zq"].body is None
    assert events["message:m-other"].body is not None  # another contact's request is untouched
    async with runtime.db.read() as session:
        shredded = (
            await session.execute(
                sa.select(AuditEvent.details).where(
                    AuditEvent.workspace_id == ws.id, AuditEvent.action == "keys.contact_shredded"
                )
            )
        ).scalar_one()
    assert shredded["raw_bodies_dropped"] == 1
