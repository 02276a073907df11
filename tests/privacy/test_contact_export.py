"""Access and portability (privacy checklist item 1): a per-contact export, tracked as a data-subject
request with its 30-day deadline, from the API, the admin page and the CLI.

The data is seeded through the real doors (signed inbound API channel on two inboxes, agent replies and
notes, an attachment), plus an AI decision and the contact's AI switch; the archive must hold all of it and
validate against the schema it carries. The archive is sealed under the contact key at rest, downloadable
once by its requester, expires, and every step is on the audit trail. Another workspace's contact is a 404
with nothing written. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import json
import uuid
import zipfile

import jsonschema_rs
import sqlalchemy as sa

from relaydesk.actions import exports
from relaydesk.actions.ai import set_contact_ai
from relaydesk.actions.export_document import EXPORT_SCHEMA, SCHEMA_ID
from relaydesk.channels.api.client import signed_request_headers
from relaydesk.db.base import utcnow
from relaydesk.models import AiDecision, AuditEvent, ContactExport, Job, SubjectRequest
from relaydesk.privacy import crypto
from relaydesk.privacy.keys import contact_key_id
from tests.core.test_cli import cli
from tests.privacy.seeding import ATTACHMENT, ATTACHMENT_NAME, EMAIL, NAME, NOTE, PHONE, REPLY, TEXT, seed
from tests.support.fixtures import count_rows
from tests.web.helpers import csrf_of, login

SECOND_TEXT = "Second inbox: my Quorvath order is late as well"
MAIL_TEXT = "By mail: the Brackleworth parcel is still missing"
WIDGET_TEXT = "From the website chat: any news on the Zindlewick order?"
WIDGET_HOST = "http://shop.example"


async def _link(client, ws, contact_id: str, inbox_id, external_id: str) -> None:  # type: ignore[no-untyped-def]
    linked = await client.post(
        f"/api/v1/contacts/{contact_id}/identities",
        json={"inbox_id": str(inbox_id), "external_id": external_id},
        headers=ws.agent.headers,
    )
    assert linked.status_code == 201, linked.text


async def _email_message(client, runtime, ws, run_jobs, contact_id: str) -> None:  # type: ignore[no-untyped-def]
    """The same person writes to an e-mail inbox (Mailgun-format inbound webhook, signed)."""
    from relaydesk.actions.inboxes import create_inbox
    from relaydesk.channels.email.tests.test_end_to_end import KEY, post_mail

    async with runtime.db.write() as session:
        inbox = await create_inbox(
            session,
            ws.id,
            name="Support mail",
            channel_type="email",
            settings={
                "from_address": "support@support.example.com",
                "reply_domain": "in.support.example.com",
                "smtp_host": "127.0.0.1",
                "smtp_port": 2525,
                "smtp_security": "plain",
            },
            credentials={"mailgun_signing_key": KEY},
        )
    await _link(client, ws, contact_id, inbox.id, EMAIL)
    raw = (
        f"From: {NAME} <{EMAIL}>\r\nTo: support@support.example.com\r\nSubject: Parcel\r\n"
        f"Date: Mon, 05 Jan 2026 10:00:00 +0000\r\nMessage-ID: <zq-mail-1@example.org>\r\n\r\n{MAIL_TEXT}\r\n"
    ).encode()
    resp = await post_mail(client, inbox, raw)
    assert resp.status_code in (200, 202), resp.text
    await run_jobs()


async def _widget_message(client, runtime, ws, run_jobs, contact_id: str, server, visitors) -> None:  # type: ignore[no-untyped-def]
    """The same person, signed in on the shop, writes in the website chat and accepts its consent text."""
    from relaydesk.channels.widget.fake import consent, identify
    from relaydesk.channels.widget.tests.support import make_widget_inbox

    inbox = await make_widget_inbox(runtime, ws.id, allowed_origins=[WIDGET_HOST])
    await _link(client, ws, contact_id, inbox.id, "user:zq-user")
    visitor = visitors(server.url, inbox.public_id, WIDGET_HOST)
    started = await visitor.start(identify(inbox.identity_secret, "zq-user"))
    assert started.status_code == 201, started.text
    said = await visitor.say(WIDGET_TEXT, prechat=consent(name=NAME, email=EMAIL))
    assert said.status_code == 201, said.text
    await run_jobs()


async def _second_inbox_message(client, ws, run_jobs, contact_id: str) -> None:  # type: ignore[no-untyped-def]
    """The same person, linked to a second API inbox of the workspace, writes there too."""
    made = await client.post(
        "/api/v1/inboxes", json={"name": "Partner", "channel_type": "api"}, headers=ws.owner.headers
    )
    assert made.status_code == 201, made.text
    inbox = made.json()
    secret = inbox["secrets"]["inbound_secret"]
    linked = await client.post(
        f"/api/v1/contacts/{contact_id}/identities",
        json={"inbox_id": inbox["id"], "external_id": "cust-zq"},
        headers=ws.agent.headers,
    )
    assert linked.status_code == 201, linked.text
    body = json.dumps(
        {"id": "m-second", "contact": {"id": "cust-zq", "name": NAME, "email": EMAIL}, "text": SECOND_TEXT}
    ).encode()
    resp = await client.post(
        f"/inbound/api/{inbox['public_id']}", content=body, headers=signed_request_headers(secret, body)
    )
    assert resp.status_code == 202, resp.text
    await run_jobs()


async def _decision(runtime, ws, conversation_id: str, message_id: str) -> uuid.UUID:  # type: ignore[no-untyped-def]
    async with runtime.db.write() as session:
        row = AiDecision(
            workspace_id=ws.id,
            conversation_id=uuid.UUID(conversation_id),
            message_id=uuid.UUID(message_id),
            action="handoff",
            reason_category="complaint",
            provider="local",
            inputs={"intent": "delivery_problem", "confidence": 0.91},
            sources=[],
        )
        session.add(row)
        await set_contact_ai(
            session,
            ws.id,
            uuid.UUID(await _contact_of(session, conversation_id)),
            False,
            reason="objection",
        )
    return row.id


async def _contact_of(session, conversation_id: str) -> str:  # type: ignore[no-untyped-def]
    from relaydesk.models import Conversation

    return str((await session.get(Conversation, uuid.UUID(conversation_id))).contact_id)


async def _audit(runtime, ws, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as session:
        return list(
            (
                await session.execute(
                    sa.select(AuditEvent).where(AuditEvent.workspace_id == ws.id, AuditEvent.action == action)
                )
            ).scalars()
        )


async def _when_built(client, ws, run_jobs, path: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """The export once its job ran: drained here, or by the live server's own dispatcher (widget tests
    run one), which may hold the job while this test's drain finds nothing to do."""
    for _ in range(100):
        await run_jobs()
        status = (await client.get(path, headers=ws.admin.headers)).json()
        if status["state"] != "pending":
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"export still pending: {status}")


def _unzip(data: bytes) -> tuple[dict, dict[str, bytes]]:  # type: ignore[type-arg]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files["export.json"]), files


async def test_the_export_holds_every_row_of_the_contact_and_matches_its_schema(
    client, runtime, make_workspace, run_jobs, relaydesk_server, visitors
):
    """Seeded through three channel types: the API channel (two inboxes), e-mail and the website chat."""
    ws = await make_workspace()

    async def settled() -> None:
        """Drain the jobs, and wait for those the live server's own dispatcher holds (the widget needs
        a served Relaydesk, which runs one)."""
        for _ in range(200):
            await run_jobs()
            async with runtime.db.read() as session:
                busy = (
                    await session.execute(
                        sa.select(sa.func.count())
                        .select_from(Job)
                        .where(
                            Job.workspace_id == ws.id,
                            Job.state.in_(("pending", "running")),
                            Job.run_at <= utcnow(),
                        )
                    )
                ).scalar_one()
            if not busy:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("jobs did not settle")

    seeded = await seed(client, ws, settled)
    await _second_inbox_message(client, ws, settled, seeded.contact_id)
    await _email_message(client, runtime, ws, settled, seeded.contact_id)
    await _widget_message(client, runtime, ws, settled, seeded.contact_id, relaydesk_server, visitors)
    decision_id = await _decision(runtime, ws, seeded.conversation_id, seeded.message_id)

    made = await client.post(f"/api/v1/contacts/{seeded.contact_id}/exports", headers=ws.admin.headers)
    assert made.status_code == 202, made.text
    export = made.json()
    assert export["state"] == "pending" and export["download_url"] is None
    received = dt.datetime.fromisoformat(export["request"]["received_at"])
    assert dt.datetime.fromisoformat(export["request"]["deadline_at"]) - received == dt.timedelta(days=30)
    assert export["request"]["kind"] == "access" and export["request"]["state"] == "open"

    status = await _when_built(
        client, ws, run_jobs, f"/api/v1/contacts/{seeded.contact_id}/exports/{export['id']}"
    )
    assert status["state"] == "ready" and status["request"]["state"] == "completed"
    assert status["download_url"].endswith(f"/exports/{export['id']}/download")
    got = await client.post(status["download_url"], headers=ws.admin.headers)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    assert "no-store" in got.headers["cache-control"]

    document, files = _unzip(got.content)
    assert json.loads(files["schema.json"]) == EXPORT_SCHEMA
    validator = jsonschema_rs.validator_for(EXPORT_SCHEMA)
    errors = [e.message for e in validator.iter_errors(document)]
    assert errors == []
    assert document["schema"] == SCHEMA_ID
    contact = document["contact"]
    assert (contact["name"], contact["email"], contact["phone"]) == (NAME, EMAIL, PHONE)
    assert contact["ai_off"] is True and contact["ai_off_reason"] == "objection"
    assert sorted(i["external_id"] for i in contact["identities"]) == sorted(
        ["cust-zq", "cust-zq", EMAIL, "user:zq-user"]
    )
    assert len(document["conversations"]) == 4
    assert sorted(c["inbox"]["channel_type"] for c in document["conversations"]) == [
        "api",
        "api",
        "email",
        "widget",
    ]
    texts = [m["content"] or "" for c in document["conversations"] for m in c["messages"]]
    for expected in (TEXT, REPLY, NOTE, SECOND_TEXT, MAIL_TEXT, WIDGET_TEXT):
        assert any(expected in t for t in texts), expected
    [given] = document["consents"]
    assert given["channel_type"] == "widget" and given["version"] == "1" and given["text"]
    note = next(m for c in document["conversations"] for m in c["messages"] if m["content"] == NOTE)
    assert note["private"] is True
    first = next(m for c in document["conversations"] for m in c["messages"] if m["content"] == TEXT)
    [att] = first["attachments"]
    assert att["file_name"] == ATTACHMENT_NAME and files[att["path"]] == ATTACHMENT
    decisions = [d for c in document["conversations"] for d in c["ai_decisions"]]
    assert [d["id"] for d in decisions] == [str(decision_id)]
    assert decisions[0]["inputs"]["intent"] == "delivery_problem"
    assert [r["kind"] for r in document["requests"]] == ["access"]

    # Every row of the contact is in the document: compare with the database.
    async with runtime.db.read() as session:
        from relaydesk.models import Conversation, Message

        conv_ids = list(
            (
                await session.execute(
                    sa.select(Conversation.id).where(Conversation.contact_id == uuid.UUID(seeded.contact_id))
                )
            ).scalars()
        )
        message_ids = set(
            (
                await session.execute(sa.select(Message.id).where(Message.conversation_id.in_(conv_ids)))
            ).scalars()
        )
    assert {uuid.UUID(m["id"]) for c in document["conversations"] for m in c["messages"]} == {
        str(i) and i for i in message_ids
    }

    # Once only; the archive is emptied.
    again = await client.post(status["download_url"], headers=ws.admin.headers)
    assert again.status_code == 410, again.text
    async with runtime.db.read() as session:
        row = await session.get(ContactExport, uuid.UUID(export["id"]))
        assert row.state == "downloaded" and row.archive is None and row.downloaded_at is not None
    for action in ("contact.export_requested", "contact.exported", "contact.export_downloaded"):
        [event] = await _audit(runtime, ws, action)
        assert event.target_id == seeded.contact_id
    built = (await _audit(runtime, ws, "contact.exported"))[0].details
    listed = [a for c in document["conversations"] for m in c["messages"] for a in m["attachments"]]
    assert (built["conversations"], built["ai_decisions"]) == (4, 1)
    # The file the API channel carried, and the e-mail's original kept as an attachment: all in the zip.
    assert built["attachments"] == len(listed) == len([f for f in files if f.startswith("attachments/")]) >= 2
    assert EMAIL not in json.dumps([e.details for e in await _audit(runtime, ws, "contact.exported")])


async def test_the_archive_is_sealed_under_the_contact_key_and_erasure_makes_it_unreadable(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    seeded = await seed(client, ws, run_jobs)
    made = (
        await client.post(f"/api/v1/contacts/{seeded.contact_id}/exports", headers=ws.admin.headers)
    ).json()
    await _when_built(client, ws, run_jobs, f"/api/v1/contacts/{seeded.contact_id}/exports/{made['id']}")
    async with runtime.db.read() as session:
        blob = bytes((await session.get(ContactExport, uuid.UUID(made["id"]))).archive)
    assert not blob.startswith(b"PK")  # not a zip in clear
    assert crypto.key_id_of(blob) == contact_key_id(uuid.UUID(seeded.contact_id))
    assert base64.b64encode(ATTACHMENT) not in blob and ATTACHMENT not in blob

    from relaydesk.actions.keys import shred_contact

    async with runtime.db.write() as session:
        await shred_contact(session, ws.id, uuid.UUID(seeded.contact_id))
    gone = await client.post(
        f"/api/v1/contacts/{seeded.contact_id}/exports/{made['id']}/download", headers=ws.admin.headers
    )
    assert gone.status_code == 410, gone.text
    refused = await client.post(f"/api/v1/contacts/{seeded.contact_id}/exports", headers=ws.admin.headers)
    assert refused.status_code == 404  # nothing left to export


async def test_only_the_requester_downloads_and_agents_cannot_export(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    seeded = await seed(client, ws, run_jobs)
    assert (
        await client.post(f"/api/v1/contacts/{seeded.contact_id}/exports", headers=ws.agent.headers)
    ).status_code == 403
    made = (
        await client.post(f"/api/v1/contacts/{seeded.contact_id}/exports", headers=ws.admin.headers)
    ).json()
    busy = await client.post(f"/api/v1/contacts/{seeded.contact_id}/exports", headers=ws.owner.headers)
    assert busy.status_code == 409  # one export at a time per contact
    early = await client.post(
        f"/api/v1/contacts/{seeded.contact_id}/exports/{made['id']}/download", headers=ws.admin.headers
    )
    assert early.status_code == 409
    await _when_built(client, ws, run_jobs, f"/api/v1/contacts/{seeded.contact_id}/exports/{made['id']}")
    url = f"/api/v1/contacts/{seeded.contact_id}/exports/{made['id']}/download"
    shown_to_owner = (
        await client.get(f"/api/v1/contacts/{seeded.contact_id}/exports", headers=ws.owner.headers)
    ).json()
    assert shown_to_owner["items"][0]["download_url"] is None
    assert (await client.post(url, headers=ws.owner.headers)).status_code == 403
    assert (
        await client.post(url, headers=ws.admin.headers)
    ).status_code == 200  # still there for its requester


async def test_another_workspace_contact_is_404_and_nothing_is_written(
    client, runtime, make_workspace, run_jobs
):
    ws_a = await make_workspace("Alpha")
    ws_b = await make_workspace("Beta")
    seeded = await seed(client, ws_a, run_jobs)
    made = (
        await client.post(f"/api/v1/contacts/{seeded.contact_id}/exports", headers=ws_a.admin.headers)
    ).json()
    await _when_built(client, ws_a, run_jobs, f"/api/v1/contacts/{seeded.contact_id}/exports/{made['id']}")
    before = [await count_rows(runtime, m) for m in (SubjectRequest, ContactExport, Job, AuditEvent)]
    for method, path in (
        ("POST", f"/api/v1/contacts/{seeded.contact_id}/exports"),
        ("GET", f"/api/v1/contacts/{seeded.contact_id}/exports"),
        ("GET", f"/api/v1/contacts/{seeded.contact_id}/exports/{made['id']}"),
        ("POST", f"/api/v1/contacts/{seeded.contact_id}/exports/{made['id']}/download"),
        ("POST", f"/api/v1/contacts/{uuid.uuid4()}/exports"),
    ):
        resp = await client.request(method, path, headers=ws_b.owner.headers)
        assert resp.status_code == 404, (method, path, resp.text)
    assert [await count_rows(runtime, m) for m in (SubjectRequest, ContactExport, Job, AuditEvent)] == before
    async with runtime.db.read() as session:
        assert (await session.get(ContactExport, uuid.UUID(made["id"]))).state == "ready"


async def test_an_export_nobody_fetched_expires(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    seeded = await seed(client, ws, run_jobs)
    made = (
        await client.post(f"/api/v1/contacts/{seeded.contact_id}/exports", headers=ws.admin.headers)
    ).json()
    await _when_built(client, ws, run_jobs, f"/api/v1/contacts/{seeded.contact_id}/exports/{made['id']}")
    async with runtime.db.read() as session:
        row = await session.get(ContactExport, uuid.UUID(made["id"]))
        assert row.expires_at - row.ready_at == exports.EXPORT_TTL
        expiry = row.expires_at
    async with runtime.db.write() as session:
        assert await exports.expire_exports(session, ws.id, now=expiry - dt.timedelta(seconds=1)) == 0
    async with runtime.db.write() as session:
        assert await exports.expire_exports(session, ws.id, now=expiry) == 1
    async with runtime.db.read() as session:
        row = await session.get(ContactExport, uuid.UUID(made["id"]))
        assert row.state == "expired" and row.archive is None
    gone = await client.post(
        f"/api/v1/contacts/{seeded.contact_id}/exports/{made['id']}/download", headers=ws.admin.headers
    )
    assert gone.status_code == 410
    assert len(await _audit(runtime, ws, "contact.export_expired")) == 1


async def test_the_admin_contact_page_requests_and_downloads_an_export(
    client, runtime, make_workspace, run_jobs, monkeypatch
):
    from tests.web.helpers import cheap_argon2

    cheap_argon2(monkeypatch)
    ws = await make_workspace()
    other = await make_workspace("Other")
    seeded = await seed(client, ws, run_jobs)
    foreign = await seed(client, other, run_jobs, external_id="cust-other")
    assert (await login(client, ws.admin.email, ws.admin.password)).status_code in (302, 303)

    listing = await client.get("/admin/contacts", params={"q": NAME.split()[0]})
    assert listing.status_code == 200 and f"/admin/contacts/{seeded.contact_id}" in listing.text
    assert foreign.contact_id not in listing.text
    page_path = f"/admin/contacts/{seeded.contact_id}"
    csrf = await csrf_of(client, page_path)
    assert (await client.get(f"/admin/contacts/{foreign.contact_id}")).status_code == 404
    cross = await client.post(f"/admin/contacts/{foreign.contact_id}/exports", data={"csrf_token": csrf})
    assert cross.status_code == 404
    assert await count_rows(runtime, SubjectRequest, workspace_id=other.id) == 0
    forged = await client.post(f"{page_path}/exports", data={"csrf_token": "forged"})
    assert forged.status_code == 403 and await count_rows(runtime, SubjectRequest) == 0

    asked = await client.post(f"{page_path}/exports", data={"csrf_token": csrf})
    assert asked.status_code == 303 and asked.headers["location"].endswith("?done=export")
    async with runtime.db.read() as session:
        export_id = (await session.execute(sa.select(ContactExport.id))).scalar_one()
    await _when_built(client, ws, run_jobs, f"/api/v1/contacts/{seeded.contact_id}/exports/{export_id}")
    shown = await client.get(page_path)
    assert "Download (once)" in shown.text and "days left" not in shown.text  # answered
    got = await client.post(f"{page_path}/exports/{export_id}/download", data={"csrf_token": csrf})
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    document, _files = _unzip(got.content)
    assert document["contact"]["email"] == EMAIL
    again = await client.post(f"{page_path}/exports/{export_id}/download", data={"csrf_token": csrf})
    assert again.status_code == 410 and "no longer available" in again.text
    [event] = await _audit(runtime, ws, "contact.export_downloaded")
    assert event.actor_id == str(ws.admin.user_id)


async def test_the_cli_exports_a_contact_to_a_new_file_and_lists_the_requests(
    client, runtime, make_workspace, run_jobs, settings, tmp_path
):
    ws = await make_workspace()
    seeded = await seed(client, ws, run_jobs)
    out = tmp_path / "export.zip"
    result = await cli(
        settings,
        "contact",
        "export",
        "--workspace",
        ws.slug,
        "--contact",
        seeded.contact_id,
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    document, files = _unzip(out.read_bytes())
    assert document["contact"]["name"] == NAME and ATTACHMENT in files.values()
    assert out.stat().st_mode & 0o777 == 0o600
    again = await cli(
        settings,
        "contact",
        "export",
        "--workspace",
        ws.slug,
        "--contact",
        seeded.contact_id,
        "--out",
        str(out),
    )
    assert again.exit_code == 1 and "exists already" in again.output
    unknown = await cli(
        settings,
        "contact",
        "export",
        "--workspace",
        ws.slug,
        "--contact",
        str(uuid.uuid4()),
        "--out",
        str(tmp_path / "x.zip"),
    )
    assert unknown.exit_code == 1 and "not found" in unknown.output and not (tmp_path / "x.zip").exists()
    listed = await cli(settings, "contact", "requests", "--workspace", ws.slug)
    assert listed.exit_code == 0 and "access" in listed.output and "completed" in listed.output
    [event] = await _audit(runtime, ws, "contact.export_downloaded")
    assert event.actor_kind == "system"
