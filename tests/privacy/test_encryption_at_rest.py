"""Encryption at rest through the real paths: nothing personal in a raw copy of the database, lookups
and search still work, ciphertexts are bound to their row, shredding a contact kills its data."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from relaydesk.actions.contacts import create_contact
from relaydesk.actions.keys import shred_contact
from relaydesk.models import Attachment, Contact, ContactKey, Message, SearchToken
from relaydesk.privacy import crypto, storage, vault
from relaydesk.privacy.crypto import aad_for
from tests.privacy.dbcopy import take_copy
from tests.privacy.seeding import (
    API_EMAIL,
    ATTACHMENT,
    EMAIL,
    NAME,
    PHONE,
    REPLY,
    SEEDED,
    SEEDED_BYTES,
    TEXT,
    seed,
)
from tests.support.fixtures import count_rows


async def test_a_raw_copy_of_the_database_holds_no_seeded_personal_data(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    seeded = await seed(client, ws, run_jobs)
    # Sanity: the API gives everything back in clear.
    contact = (await client.get(f"/api/v1/contacts/{seeded.contact_id}", headers=ws.agent.headers)).json()
    assert (contact["name"], contact["email"], contact["phone"]) == (NAME, EMAIL, PHONE)
    copy = await take_copy(runtime)
    raw = copy.raw_bytes()
    assert len(raw) > 10_000 and ws.slug.encode() in raw  # the copy really holds this workspace
    needles = [s.encode() for s in SEEDED] + SEEDED_BYTES
    needles += [s.lower().encode() for s in SEEDED]
    needles += [n.hex().encode() for n in needles]  # bytea columns appear hex-encoded in pg_dump
    found = [n for n in needles if n in raw]
    assert found == []


async def test_exact_lookups_and_search_work_through_blind_indexes(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    other = await make_workspace("Other")
    seeded = await seed(client, ws, run_jobs)
    async with runtime.db.read() as session:
        by_email = await storage.find_contacts_by_email(session, ws.id, "  Zebulon.Quixhatch@EXAMPLE.org ")
        by_phone = await storage.find_contacts_by_phone(session, ws.id, "+442079460958")
        assert [str(c.id) for c in by_email] == [seeded.contact_id]
        assert [str(c.id) for c in by_phone] == [seeded.contact_id]
        assert storage.read_contact(by_email[0]).name == NAME
        assert await storage.find_contacts_by_email(session, other.id, EMAIL) == []
        api = await storage.find_contacts_by_email(session, ws.id, API_EMAIL)
        assert [str(c.id) for c in api] == [seeded.api_contact_id]
        hits = await storage.search_messages(session, ws.id, "tracking ZQ88412XK", before=None, limit=10)
        assert [str(h) for h in hits] == [seeded.message_id]
        assert await storage.search_messages(session, other.id, "tracking", before=None, limit=10) == []
        assert await storage.search_contacts(session, ws.id, "quixhatch", before=None, limit=10) == [
            uuid.UUID(seeded.contact_id)
        ]
    resp = await client.get(
        "/api/v1/messages/search", params={"q": "plumbagoshipment"}, headers=ws.agent.headers
    )
    if resp.status_code == 200:  # the search route's shape belongs to the messages API
        assert REPLY in resp.text


async def test_a_ciphertext_copied_to_another_row_does_not_decrypt(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    await seed(client, ws, run_jobs)
    async with runtime.db.write() as session:
        first, second = (
            await session.execute(
                sa.select(Message.id, Message.content)
                .where(Message.workspace_id == ws.id, Message.content.is_not(None))
                .order_by(Message.id)
                .limit(2)
            )
        ).all()
        await session.execute(sa.update(Message).where(Message.id == second.id).values(content=first.content))
    async with runtime.db.read() as session:
        moved = (await session.execute(sa.select(Message).where(Message.id == second.id))).scalar_one()
        with pytest.raises(crypto.DecryptionError):
            storage.read_message_content(moved)
        original = (await session.execute(sa.select(Message).where(Message.id == first.id))).scalar_one()
        assert storage.read_message_content(original) == TEXT


async def test_a_page_of_rows_costs_one_key_query(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    for n in range(4):
        await seed(client, ws, run_jobs, external_id=f"cust-{n}")
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = runtime.db.read_engine.sync_engine
    async with runtime.db.read() as session:
        contact_ids = (
            await session.execute(sa.select(ContactKey.contact_id).where(ContactKey.workspace_id == ws.id))
        ).scalars()
        for contact_id in contact_ids:
            vault.ring().forget_contact(ws.id, contact_id)  # a cold cache: every key must be loaded
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        async with runtime.db.read() as session:
            messages = list(
                (await session.execute(sa.select(Message).where(Message.workspace_id == ws.id))).scalars()
            )
            texts = [storage.read_message_content(m) for m in messages]
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert texts.count(TEXT) == 4
    assert len([s for s in statements if "contact_keys" in s]) == 1


async def test_shredding_a_contact_makes_its_data_and_old_copies_unreadable(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    seeded = await seed(client, ws, run_jobs)
    kept = await seed(client, ws, run_jobs, external_id="cust-kept")
    contact_id = uuid.UUID(seeded.contact_id)
    copy = await take_copy(runtime)  # a backup taken before the erasure

    async with runtime.db.write() as session:
        await shred_contact(session, ws.id, contact_id)

    # Live: the thread, the profile and the attachment read as gone; the other contact is untouched.
    thread = (
        await client.get(f"/api/v1/conversations/{seeded.conversation_id}/messages", headers=ws.agent.headers)
    ).json()
    assert thread["items"] and all(m["content"] is None for m in thread["items"])
    profile = (await client.get(f"/api/v1/contacts/{seeded.contact_id}", headers=ws.agent.headers)).json()
    assert (profile["name"], profile["email"], profile["phone"]) == (None, None, None)
    async with runtime.db.read() as session:
        att = (
            await session.execute(
                sa.select(Attachment)
                .join(Message, Message.id == Attachment.message_id)
                .where(Message.conversation_id == uuid.UUID(seeded.conversation_id))
                .options(sa.orm.undefer(Attachment.data))
            )
        ).scalar_one()
        assert storage.read_attachment(att) == b"" and storage.is_shredded(att)
        assert [str(c.id) for c in await storage.find_contacts_by_email(session, ws.id, EMAIL)] == [
            kept.contact_id
        ]
        assert await storage.search_messages(session, ws.id, "ZQ88412XK", before=None, limit=10) == [
            uuid.UUID(kept.message_id)
        ]
    assert await count_rows(runtime, SearchToken, subject_id=contact_id) == 0
    other = (await client.get(f"/api/v1/contacts/{kept.contact_id}", headers=ws.agent.headers)).json()
    assert other["name"] == NAME  # same name, different contact and key: still readable

    # The copy: its ciphertext does not open with the live keys (the key is destroyed) ...
    old_blob = next(
        r["content"]
        for r in copy.rows("messages", ["id", "content"])
        if str(r["id"]).replace("-", "") == uuid.UUID(seeded.message_id).hex
    )
    aad = aad_for(ws.id, "messages", "content", uuid.UUID(seeded.message_id))
    with pytest.raises(crypto.KeyDestroyed):
        await _open_live(runtime, ws.id, bytes(old_blob), aad)
    # ... and putting the copy's wrapped contact key back into the live store does not revive it:
    old_key = next(
        r
        for r in copy.rows("contact_keys", ["contact_id", "wrapped"])
        if str(r["contact_id"]).replace("-", "") == contact_id.hex
    )
    async with runtime.db.write() as session:
        await session.execute(
            sa.update(ContactKey)
            .where(ContactKey.workspace_id == ws.id, ContactKey.contact_id == contact_id)
            .values(wrapped=bytes(old_key["wrapped"]))
        )
    vault.ring().forget_contact(ws.id, contact_id)
    with pytest.raises(crypto.KeyDestroyed):
        await _open_live(runtime, ws.id, bytes(old_blob), aad)
    # Writing new data for a shredded contact is refused.
    async with runtime.db.write() as session:
        contact = await session.get(Contact, contact_id)
        with pytest.raises(Exception, match="erased"):
            await storage.write_contact(session, contact, name="Back again")


async def _open_live(runtime, workspace_id, blob, aad):  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return await vault.run(session, lambda ring: ring.open(workspace_id, blob, aad))


async def test_contact_data_keys_are_wrapped_under_the_workspace_key(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    await seed(client, ws, run_jobs)
    async with runtime.db.read() as session:
        rows = (
            (await session.execute(sa.select(ContactKey).where(ContactKey.workspace_id == ws.id)))
            .scalars()
            .all()
        )
        assert rows and all(crypto.key_id_of(r.wrapped) == "w1" for r in rows)
        contents = (
            await session.execute(sa.select(Message.content).where(Message.workspace_id == ws.id))
        ).scalars()
        assert all(c is None or crypto.key_id_of(c).startswith("c") for c in contents)
    assert ATTACHMENT  # (attachment bytes are checked by the grep test)


async def test_rows_loaded_by_get_and_refresh_decrypt_with_a_cold_cache(runtime, make_workspace):
    ws = await make_workspace()
    async with runtime.db.write() as session:
        created = await create_contact(
            session, ws.id, name="Ottoline Vance", custom_attributes={"plan": "gold"}
        )
    for loader in ("get", "refresh"):
        vault.ring().forget_contact(ws.id, created.id)
        async with runtime.db.read() as session:
            if loader == "get":
                contact = await session.get(Contact, created.id)
            else:
                contact = (
                    await session.execute(sa.select(Contact).where(Contact.id == created.id))
                ).scalar_one()
                vault.ring().forget_contact(ws.id, created.id)
                contact.__dict__.pop("_rd_keys", None)
                await session.refresh(contact)
            pii = storage.read_contact(contact)
            assert (pii.name, pii.custom_attributes) == ("Ottoline Vance", {"plan": "gold"}), loader
