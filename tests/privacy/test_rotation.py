"""Online key rotation: a new workspace generation for new writes, a resumable re-wrap job, the CLI, and a
master-key rotation after which a copy taken earlier no longer opens."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from relaydesk.actions.contacts import create_contact
from relaydesk.actions.keys import rotate_workspace_key
from relaydesk.cli.main import main
from relaydesk.models import AuditEvent, Contact, ContactKey, KeyRotation, WorkspaceKey
from relaydesk.privacy import crypto, rotation, storage, vault
from relaydesk.privacy.keys import InMemoryKeyStore, KeyRing, WrappedKey
from relaydesk.server.keys import parse_master_keys
from tests.privacy.seeding import NAME, TEXT, seed


async def _contacts(runtime, workspace_id, n):  # type: ignore[no-untyped-def]
    async with runtime.db.write() as session:
        return [
            (await create_contact(session, workspace_id, name=f"Person {i}", email=f"p{i}@example.com")).id
            for i in range(n)
        ]


async def _wrapping(runtime, workspace_id):  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        rows = (
            await session.execute(sa.select(ContactKey).where(ContactKey.workspace_id == workspace_id))
        ).scalars()
        return {r.contact_id: crypto.key_id_of(r.wrapped) for r in rows}


async def _names(runtime, workspace_id, ids):  # type: ignore[no-untyped-def]
    for contact_id in ids:
        vault.ring().forget_contact(workspace_id, contact_id)
    vault.ring().forget_workspace(workspace_id)
    async with runtime.db.read() as session:
        rows = (await session.execute(sa.select(Contact).where(Contact.id.in_(ids)))).scalars()
        return sorted(storage.read_contact(c).name or "" for c in rows)


async def test_rotation_uses_the_new_key_at_once_and_the_job_rewraps_old_keys_resumably(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    seeded = await seed(client, ws, run_jobs)
    old = await _contacts(runtime, ws.id, 5)
    async with runtime.db.write() as session:
        rot = await rotate_workspace_key(session, ws.id, batch=2)
    assert rot.target_key_id == "w2" and rot.total == 7  # 5 + the seeded inbound contact + the API one
    new = await _contacts(runtime, ws.id, 1)
    wrapping = await _wrapping(runtime, ws.id)
    assert wrapping[new[0]] == "w2"  # new writes use the new key id
    assert {wrapping[c] for c in old} == {"w1"}

    # One batch, then "the worker dies": the cursor is stored and the job resumes after it.
    async with runtime.db.write() as session:
        assert await rotation.step(session, ws.id, "w2", batch=2)
    async with runtime.db.read() as session:
        state = await session.get(KeyRotation, (ws.id, "w2"))
        assert state.cursor is not None and state.done == 2 and state.finished_at is None
    await run_jobs()
    async with runtime.db.read() as session:
        state = await session.get(KeyRotation, (ws.id, "w2"))
        assert state.finished_at is not None and state.done == 7
        status = await rotation.status(session, ws.id)
        assert (status.generations, status.current, status.behind) == (["w1", "w2"], "w2", 0)
        assert (await session.execute(sa.select(sa.func.count()).select_from(WorkspaceKey))).scalar_one() >= 2
        actions = (
            await session.execute(sa.select(AuditEvent.action).where(AuditEvent.workspace_id == ws.id))
        ).scalars()
        assert "keys.workspace_rotated" in list(actions)
    assert set((await _wrapping(runtime, ws.id)).values()) == {"w2"}
    # Old data still decrypts, with cold caches, and search (index key rooted in w1) still works.
    assert await _names(runtime, ws.id, old) == [f"Person {i}" for i in range(5)]
    thread = (
        await client.get(f"/api/v1/conversations/{seeded.conversation_id}/messages", headers=ws.agent.headers)
    ).json()
    assert TEXT in [m["content"] for m in thread["items"]]
    async with runtime.db.read() as session:
        assert await storage.search_messages(session, ws.id, "ZQ88412XK", before=None, limit=5) == [
            uuid.UUID(seeded.message_id)
        ]


async def test_cli_rotate_and_status(runtime, make_workspace, settings, monkeypatch):
    ws = await make_workspace()
    ids = await _contacts(runtime, ws.id, 3)
    monkeypatch.setenv("RELAYDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RELAYDESK_MASTER_KEY", settings.master_key)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    rotated = await asyncio.to_thread(
        runner.invoke, main, ["keys", "rotate", "--workspace", ws.slug, "--batch", "1"]
    )
    assert rotated.exit_code == 0, rotated.output
    assert "w2" in rotated.output and "done" in rotated.output
    status = await asyncio.to_thread(runner.invoke, main, ["keys", "status", "--workspace", ws.slug])
    assert status.exit_code == 0, status.output
    row = next(line for line in status.output.splitlines() if ws.slug in line)
    assert "w1,w2" in row and " 3 " in row and "w2 done" in row
    bad = await asyncio.to_thread(runner.invoke, main, ["keys", "rotate", "--workspace", "no-such-workspace"])
    assert bad.exit_code != 0 and "no workspace" in bad.output
    storage.configure(parse_master_keys(settings.master_key))  # the CLI replaced the process-wide ring
    assert set((await _wrapping(runtime, ws.id)).values()) == {"w2"}
    assert await _names(runtime, ws.id, ids) == ["Person 0", "Person 1", "Person 2"]


async def test_after_a_master_rotation_a_copy_taken_before_no_longer_opens(
    client, runtime, make_workspace, run_jobs, settings
):
    ws = await make_workspace()
    seeded = await seed(client, ws, run_jobs)
    contact_id = uuid.UUID(seeded.contact_id)
    async with runtime.db.read() as session:
        copied_ws = [
            WrappedKey(k.key_id, k.wrapped)
            for k in (
                await session.execute(sa.select(WorkspaceKey).where(WorkspaceKey.workspace_id == ws.id))
            ).scalars()
        ]
        copied_contact = await session.get(ContactKey, (ws.id, contact_id))
        copied_contact = WrappedKey(copied_contact.key_id, copied_contact.wrapped)
    old_master = parse_master_keys(settings.master_key)[0]
    new_master = crypto.parse_master_key(crypto.generate_master_key())
    try:
        storage.configure([new_master, old_master])
        async with runtime.db.write() as session:
            counts = await rotation.rewrap_for_master(session)
        assert counts["workspace_keys"] >= 1 and counts["inboxes.credentials"] >= 1
        storage.configure([new_master])  # the old master key is retired and destroyed
        # Live data is intact under the new master key alone ...
        profile = (await client.get(f"/api/v1/contacts/{seeded.contact_id}", headers=ws.agent.headers)).json()
        assert profile["name"] == NAME
        async with runtime.db.read() as session:
            inbox_rows = (await session.execute(sa.text("SELECT id FROM inboxes"))).all()
            assert inbox_rows
        # ... while the copy's keys, wrapped under the destroyed master key, open nothing any more.
        store = InMemoryKeyStore()
        for key in copied_ws:
            await store.add_workspace_key(ws.id, key)
        await store.add_contact_key(ws.id, contact_id, copied_contact)
        with pytest.raises(crypto.UnknownKey):
            await KeyRing(store, [new_master]).contact_key(ws.id, contact_id, create=False)
        # (With the old master key the copy would still open: that is why it must be destroyed.)
        assert await KeyRing(store, [old_master]).contact_key(ws.id, contact_id, create=False)
    finally:
        storage.configure(parse_master_keys(settings.master_key))
