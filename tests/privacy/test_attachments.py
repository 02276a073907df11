"""Attachment metadata at rest: the file name is sealed under the contact key, the content digest is keyed
from it, every reader gets the name back through storage, shredding takes the name with it, and rows
written before revision 0007 (clear name and SHA-256) are converted by a resumable background job.

The raw-copy grep for the seeded file name and plain SHA-256 lives with the other needles in
test_encryption_at_rest.py (`SEEDED` includes them)."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
import sqlalchemy as sa

from relaydesk.actions.keys import shred_contact
from relaydesk.channels.api.fake import ScriptedReceiver
from relaydesk.jobs.handlers.attachments import SEAL_METADATA_JOB, seal_attachment_metadata
from relaydesk.jobs.registry import JobContext, periodic_jobs
from relaydesk.models import Attachment, Job, Message
from relaydesk.privacy import crypto, storage, vault
from relaydesk.privacy.crypto import aad_for
from tests.privacy.dbcopy import take_copy
from tests.privacy.seeding import ATTACHMENT, ATTACHMENT_NAME, ATTACHMENT_SHA256, seed


async def _attachments(runtime, workspace_id, conversation_id=None):  # type: ignore[no-untyped-def]
    stmt = (
        sa.select(Attachment)
        .where(Attachment.workspace_id == workspace_id)
        .options(sa.orm.undefer(Attachment.data))
        .order_by(Attachment.id)
    )
    if conversation_id is not None:
        stmt = stmt.join(Message, Message.id == Attachment.message_id).where(
            Message.conversation_id == uuid.UUID(str(conversation_id))
        )
    async with runtime.db.read() as session:
        return list((await session.execute(stmt)).scalars())


async def _thread_attachments(client, ws, conversation_id):  # type: ignore[no-untyped-def]
    resp = await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=ws.agent.headers)
    assert resp.status_code == 200, resp.text
    return [a for m in resp.json()["items"] for a in m["attachments"]]


async def _reply_with_files(client, ws, conversation_id, names):  # type: ignore[no-untyped-def]
    files = [
        {
            "filename": name,
            "content_type": "text/plain",
            "data_base64": base64.b64encode(f"{name}!".encode()).decode(),
        }
        for name in names
    ]
    resp = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"content": "files attached", "attachments": files},
        headers=ws.agent.headers,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_new_attachments_are_stored_sealed_with_a_keyed_digest(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    seeded = await seed(client, ws, run_jobs)  # the inbound batch path (transient message)
    await _reply_with_files(client, ws, seeded.conversation_id, ["agent-reply.txt"])  # the per-row path
    rows = await _attachments(runtime, ws.id)
    assert len(rows) == 2
    for att in rows:
        assert att.legacy_filename is None and att.legacy_sha256 is None
        assert crypto.key_id_of(att.filename_sealed) == f"c{uuid.UUID(seeded.contact_id).hex}"
        assert crypto.key_id_of(att.data) == crypto.key_id_of(att.filename_sealed)
        assert att.digest is not None and len(att.digest) == 32
    names = {storage.read_attachment_name(a): a for a in rows}
    assert set(names) == {ATTACHMENT_NAME, "agent-reply.txt"}
    seeded_att = names[ATTACHMENT_NAME]
    assert storage.read_attachment(seeded_att) == ATTACHMENT
    assert seeded_att.digest != hashlib.sha256(ATTACHMENT).digest()  # keyed, not the plain digest
    assert storage.content_digest_matches(seeded_att, ATTACHMENT)
    assert not storage.content_digest_matches(seeded_att, ATTACHMENT + b"x")
    # The same file sent by another contact gets an unrelated digest (the key is per contact).
    other = await seed(client, ws, run_jobs, external_id="cust-other")
    (other_att,) = await _attachments(runtime, ws.id, other.conversation_id)
    assert storage.read_attachment(other_att) == ATTACHMENT and other_att.digest != seeded_att.digest


async def test_a_sealed_name_moved_to_another_row_does_not_open(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    seeded = await seed(client, ws, run_jobs)
    await _reply_with_files(client, ws, seeded.conversation_id, ["second.txt"])
    first, second = await _attachments(runtime, ws.id)
    async with runtime.db.write() as session:
        await session.execute(
            sa.update(Attachment)
            .where(Attachment.id == second.id)
            .values(filename_sealed=first.filename_sealed)
        )
    async with runtime.db.read() as session:
        moved = await session.get(Attachment, second.id)
        with pytest.raises(crypto.DecryptionError):
            storage.read_attachment_name(moved)


async def test_download_outbound_and_thread_carry_the_name(client, runtime, make_workspace, run_jobs):
    receiver = await ScriptedReceiver().start()
    try:
        ws = await make_workspace(webhook_url=receiver.url)
        receiver.secret = ws.outbound_secret
        seeded = await seed(client, ws, run_jobs)
        names = ["Quarterly report.pdf", 'résumé "Ωmega".txt']
        reply = await _reply_with_files(client, ws, seeded.conversation_id, names)
        assert [a["filename"] for a in reply["attachments"]] == names
        await run_jobs()
        delivered = [r.json for r in receiver.received if r.json.get("id") == reply["id"]]
    finally:
        await receiver.stop()
    # Outbound: the provider gets the names (read through storage from the sealed column).
    assert delivered and [a["filename"] for a in delivered[0]["attachments"]] == names
    # Thread (the web inbox renders this JSON).
    thread = await _thread_attachments(client, ws, seeded.conversation_id)
    assert sorted(a["filename"] for a in thread) == sorted([ATTACHMENT_NAME, *names])
    # Download: the name in Content-Disposition, non-ASCII as RFC 6266 filename*.
    by_name = {a["filename"]: a for a in thread}
    resp = await client.get(by_name[ATTACHMENT_NAME]["url"], headers=ws.agent.headers)
    assert resp.status_code == 200 and resp.content == ATTACHMENT
    assert resp.headers["content-disposition"] == f'attachment; filename="{ATTACHMENT_NAME}"'
    resp = await client.get(by_name[names[1]]["url"], headers=ws.agent.headers)
    assert resp.status_code == 200 and resp.content == f"{names[1]}!".encode()
    assert resp.headers["content-disposition"] == (
        "attachment; filename=\"r_sum_ __mega_.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22%CE%A9mega%22.txt"
    )
    other = await make_workspace("Other")
    resp = await client.get(by_name[ATTACHMENT_NAME]["url"], headers=other.agent.headers)
    assert resp.status_code == 404


async def test_shredding_makes_the_name_unreadable_in_place_and_in_old_copies(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    seeded = await seed(client, ws, run_jobs)
    kept = await seed(client, ws, run_jobs, external_id="cust-kept")
    (att,) = await _attachments(runtime, ws.id, seeded.conversation_id)
    copy = await take_copy(runtime)  # a backup taken before the erasure

    async with runtime.db.write() as session:
        await shred_contact(session, ws.id, uuid.UUID(seeded.contact_id))

    (gone,) = await _thread_attachments(client, ws, seeded.conversation_id)
    assert gone["filename"] == "" and gone["size"] == len(ATTACHMENT)
    resp = await client.get(gone["url"], headers=ws.agent.headers)
    assert resp.status_code == 200 and resp.content == b""
    assert resp.headers["content-disposition"] == 'attachment; filename="attachment"'
    (shredded,) = await _attachments(runtime, ws.id, seeded.conversation_id)
    assert storage.is_shredded(shredded) and storage.read_attachment_name(shredded) == ""
    assert not storage.content_digest_matches(shredded, ATTACHMENT)
    (kept_att,) = await _thread_attachments(client, ws, kept.conversation_id)
    assert kept_att["filename"] == ATTACHMENT_NAME  # same name, other contact: still readable

    # The copy's sealed name names the destroyed key: the live key ring cannot open it any more.
    old = next(r for r in copy.rows("attachments", ["id", "filename_sealed"]) if _same_id(r["id"], att.id))
    aad = aad_for(ws.id, "attachments", "filename_sealed", att.id)
    async with runtime.db.read() as session:
        with pytest.raises(crypto.KeyDestroyed):
            await vault.run(session, lambda ring: ring.open(ws.id, bytes(old["filename_sealed"]), aad))


def _same_id(value: object, expected: uuid.UUID) -> bool:
    return str(value).replace("-", "") == expected.hex


# --- rows from before revision 0007 --------------------------------------------------------------------


async def _make_legacy(runtime, workspace_id) -> None:  # type: ignore[no-untyped-def]
    """Put every attachment of the workspace back into its pre-0007 form: bytes sealed as before, but the
    file name and SHA-256 in clear, no sealed name and no keyed digest."""
    for att in await _attachments(runtime, workspace_id):
        if storage.is_shredded(att):
            continue  # nothing left to put back in clear
        name, data = storage.read_attachment_name(att), storage.read_attachment(att)
        async with runtime.db.write() as session:
            await session.execute(
                sa.update(Attachment.__table__)
                .where(Attachment.__table__.c.id == att.id)
                .values(
                    filename=name,
                    sha256=hashlib.sha256(data).hexdigest(),
                    filename_sealed=None,
                    digest=None,
                )
            )


async def _clear_rows(runtime, workspace_id) -> int:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(Attachment)
                .where(Attachment.workspace_id == workspace_id, Attachment.legacy_filename.is_not(None))
            )
        ).scalar_one()


async def _checkpoint(runtime) -> None:  # type: ignore[no-untyped-def]
    if runtime.db.is_sqlite:
        async with runtime.db.read_engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture
async def legacy_rows(runtime):  # type: ignore[no-untyped-def]
    """For tests that write clear names on purpose: the test database is shared by the session, so once the
    rows are erased again, empty the WAL too, or a later raw-copy grep would find the old frames."""
    yield
    await _checkpoint(runtime)


async def _run_job(runtime, **payload) -> None:  # type: ignore[no-untyped-def]
    await seal_attachment_metadata(
        JobContext(services=runtime.services, job=Job(kind=SEAL_METADATA_JOB, payload=payload))
    )


async def test_the_conversion_job_seals_old_clear_rows_and_is_resumable(
    client, runtime, make_workspace, run_jobs, legacy_rows
):
    ws = await make_workspace()
    other = await make_workspace("Other")
    seeded = await seed(client, ws, run_jobs)
    names = [f"legacy-{n}.txt" for n in range(4)]
    await _reply_with_files(client, ws, seeded.conversation_id, names)
    other_seeded = await seed(client, other, run_jobs)
    await _make_legacy(runtime, ws.id)
    await _make_legacy(runtime, other.id)
    assert await _clear_rows(runtime, ws.id) == 5 and await _clear_rows(runtime, other.id) == 1
    await _checkpoint(runtime)  # old rows have long been in the database file itself, not just the WAL

    # Before conversion every reader still gets the clear name.
    thread = await _thread_attachments(client, ws, seeded.conversation_id)
    assert sorted(a["filename"] for a in thread) == sorted([ATTACHMENT_NAME, *names])
    raw = (await take_copy(runtime)).raw_bytes()
    assert ATTACHMENT_NAME.encode() in raw and ATTACHMENT_SHA256.encode() in raw  # the test is not vacuous

    # One batch, then a batch that dies before committing: progress is what committed.
    async with runtime.db.write() as session:
        assert await storage.seal_clear_attachment_metadata(session, ws.id, limit=2) == 2
    first_two = {a.id: a.filename_sealed for a in await _attachments(runtime, ws.id) if a.filename_sealed}
    assert len(first_two) == 2 and await _clear_rows(runtime, ws.id) == 3
    with pytest.raises(RuntimeError, match="worker killed"):
        async with runtime.db.write() as session:
            assert await storage.seal_clear_attachment_metadata(session, ws.id, limit=2) == 2
            raise RuntimeError("worker killed")
    assert await _clear_rows(runtime, ws.id) == 3

    # The job (as the dispatcher runs it) finishes every workspace, in batches of 2.
    await _run_job(runtime, batch=2)
    assert await _clear_rows(runtime, ws.id) == 0 and await _clear_rows(runtime, other.id) == 0
    rows = await _attachments(runtime, ws.id)
    assert {a.id: a.filename_sealed for a in rows if a.id in first_two} == first_two  # not redone
    for att in rows:
        assert att.legacy_filename is None and att.legacy_sha256 is None
        assert crypto.key_id_of(att.filename_sealed) == crypto.key_id_of(att.data)
        assert storage.content_digest_matches(att, storage.read_attachment(att))
    thread = await _thread_attachments(client, ws, seeded.conversation_id)
    assert sorted(a["filename"] for a in thread) == sorted([ATTACHMENT_NAME, *names])
    (converted_other,) = await _thread_attachments(client, other, other_seeded.conversation_id)
    assert converted_other["filename"] == ATTACHMENT_NAME
    # A copy taken now holds none of them: not in the rows, the file's free space or the WAL (SQLite), nor
    # in a pg_dump (old row versions in PostgreSQL's table files are VACUUM's business, docs/encryption.md).
    raw = (await take_copy(runtime)).raw_bytes()
    needles = [ATTACHMENT_NAME, *names, ATTACHMENT_SHA256]
    assert [n for n in needles if n.encode() in raw or n.encode().hex().encode() in raw] == []

    # A second run finds nothing to do and changes nothing.
    await _run_job(runtime, batch=2)
    assert [a.filename_sealed for a in await _attachments(runtime, ws.id)] == [
        a.filename_sealed for a in rows
    ]


async def test_conversion_and_shredding_drop_clear_names_of_an_erased_contact(
    client, runtime, make_workspace, run_jobs, legacy_rows
):
    ws = await make_workspace()
    erased = await seed(client, ws, run_jobs)
    erased_later = await seed(client, ws, run_jobs, external_id="cust-later")
    await _make_legacy(runtime, ws.id)
    # The key was destroyed by an erasure before this code existed: the clear name outlived it.
    async with runtime.db.write() as session:
        await vault.run(session, lambda ring: ring.destroy_contact_key(ws.id, uuid.UUID(erased.contact_id)))
    await _run_job(runtime)
    (att,) = await _attachments(runtime, ws.id, erased.conversation_id)
    assert (att.legacy_filename, att.legacy_sha256, att.filename_sealed, att.digest) == (
        None,
        None,
        None,
        None,
    )
    assert storage.read_attachment_name(att) == ""

    # Shredding a contact whose rows were not converted yet drops their clear name and digest at once.
    await _make_legacy(runtime, ws.id)
    assert await _clear_rows(runtime, ws.id) == 1  # only the live contact's row can be made legacy again
    async with runtime.db.write() as session:
        await shred_contact(session, ws.id, uuid.UUID(erased_later.contact_id))
    (later,) = await _attachments(runtime, ws.id, erased_later.conversation_id)
    assert (later.legacy_filename, later.legacy_sha256) == (None, None)
    assert storage.read_attachment_name(later) == ""


async def test_the_conversion_job_is_scheduled_and_an_idle_run_walks_the_partial_index(runtime, backend):
    assert periodic_jobs()[SEAL_METADATA_JOB] > 0
    if backend != "sqlite":
        return  # the plan check below is SQLite's EXPLAIN QUERY PLAN; PostgreSQL picks by statistics
    async with runtime.db.read() as session:
        plan = (
            await session.execute(
                sa.text(
                    "EXPLAIN QUERY PLAN SELECT DISTINCT workspace_id FROM attachments WHERE filename IS NOT NULL"
                )
            )
        ).all()
    assert any("ix_attachments_clear_metadata" in str(row) for row in plan), plan


async def test_upgrading_to_0007_keeps_old_rows_readable_for_the_conversion(backend):
    """The migration itself on a database holding a pre-0007 row: the clear name and SHA-256 survive (the
    SQLite batch rebuild copies them), the new columns are empty, and the row is in the partial index the
    conversion job walks."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from relaydesk.db.migrate import upgrade
    from tests.core.test_migrations import _fresh_url

    url, cleanup = await _fresh_url(backend)
    row_id, workspace_id, message_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        await upgrade(url, "0006")
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            if backend != "sqlite":
                await conn.exec_driver_sql("SET session_replication_role = replica")  # no parent rows
            await conn.execute(
                sa.text(
                    "INSERT INTO attachments (id, workspace_id, message_id, filename, content_type, size,"
                    " sha256, data, created_at) VALUES (:id, :ws, :msg, :name, 'text/plain', 3, :sha, :data,"
                    " CURRENT_TIMESTAMP)"
                ).bindparams(sa.bindparam("data", type_=sa.LargeBinary)),
                {
                    "id": row_id if backend != "sqlite" else row_id.hex,
                    "ws": workspace_id if backend != "sqlite" else workspace_id.hex,
                    "msg": message_id if backend != "sqlite" else message_id.hex,
                    "name": ATTACHMENT_NAME,
                    "sha": ATTACHMENT_SHA256,
                    "data": b"\x01sealed",
                },
            )
        await engine.dispose()
        await upgrade(url)
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.text("SELECT filename, sha256, filename_sealed, digest FROM attachments")
                )
            ).one()
            clear = (
                (
                    await conn.execute(
                        sa.select(Attachment.workspace_id).where(Attachment.legacy_filename.is_not(None))
                    )
                )
                .scalars()
                .all()
            )
        await engine.dispose()
        assert tuple(row) == (ATTACHMENT_NAME, ATTACHMENT_SHA256, None, None)
        assert [str(w).replace("-", "") for w in clear] == [workspace_id.hex]
    finally:
        if cleanup is not None:
            admin, name = cleanup
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.dispose()
