"""The e-mail channel end to end on the database the tests run against: a Mailgun post through the
webhook door and the processing job, an agent's reply through the outbound job to a real SMTP server on
127.0.0.1, the customer's answer threading back, a bounce failing the reply, and each SMTP error class."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from relaydesk.actions.inboxes import create_inbox
from relaydesk.channels.email.fake import FakeSmtpServer, MailgunDriver
from relaydesk.channels.email.spec import SPEC
from relaydesk.models import Conversation, Inbox, Job, Message
from relaydesk.privacy import storage

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY = "key-e2e-signing"
API = "/api/v1"


async def email_inbox(runtime: Any, ws: Any, smtp: FakeSmtpServer) -> Inbox:
    async with runtime.db.write() as session:
        return await create_inbox(
            session,
            ws.id,
            name="Support mail",
            channel_type="email",
            settings={
                "from_address": "support@support.example.com",
                "from_name": "Example Support",
                "reply_domain": "in.support.example.com",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "smtp_security": "plain",
            },
            credentials={"mailgun_signing_key": KEY},
        )


async def post_mail(client: httpx.AsyncClient, inbox: Inbox, raw: bytes, **signing: Any) -> httpx.Response:
    fields = MailgunDriver(KEY).mime_form(raw, "support@support.example.com", "", **signing)
    return await client.post(f"/inbound/email/{inbox.public_id}", data=fields)


def customer_mail(
    message_id: str, text: str, *, subject: str = "Where is my order?", extra: str = ""
) -> bytes:
    return (
        f"From: Ada Lovelace <ada@example.org>\r\nTo: support@support.example.com\r\nSubject: {subject}\r\n"
        f"Date: Mon, 05 Jan 2026 10:00:00 +0000\r\nMessage-ID: <{message_id}>\r\n{extra}\r\n{text}\r\n"
    ).encode()


async def messages_of(runtime: Any, conversation_id: Any) -> list[Message]:
    async with runtime.db.read() as session:
        return list(
            (
                await session.execute(
                    sa.select(Message)
                    .where(Message.conversation_id == conversation_id)
                    .order_by(Message.ordered_at)
                )
            ).scalars()
        )


async def reply(client: httpx.AsyncClient, ws: Any, conversation_id: Any, text: str) -> dict[str, Any]:
    resp = await client.post(
        f"{API}/conversations/{conversation_id}/messages", json={"content": text}, headers=ws.agent.headers
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_mail_in_reply_out_answer_threads_back_and_a_bounce_fails_the_reply(
    client, runtime, make_workspace, run_jobs
):
    ws = await make_workspace()
    async with FakeSmtpServer() as smtp:
        inbox = await email_inbox(runtime, ws, smtp)
        first = await post_mail(
            client, inbox, customer_mail("ada-1@example.org", "Hello, order 5521 is late.")
        )
        assert first.status_code == 202, first.text
        again = await post_mail(
            client, inbox, customer_mail("ada-1@example.org", "Hello, order 5521 is late.")
        )
        assert again.status_code == 200 and again.json()["duplicate"] is True
        await run_jobs()
        async with runtime.db.read() as session:
            [conv] = (
                await session.execute(sa.select(Conversation).where(Conversation.inbox_id == inbox.id))
            ).scalars()
        [incoming] = await messages_of(runtime, conv.id)
        assert incoming.provider_message_id == "ada-1@example.org"

        sent = await reply(client, ws, conv.id, "It ships today.")
        await run_jobs()
        [out] = await smtp.wait_for(1)
        msg = out.message
        our_id = f"rd.{sent['id'].replace('-', '')}@in.support.example.com"
        assert msg["Message-ID"] == f"<{our_id}>"
        assert msg["In-Reply-To"] == "<ada-1@example.org>" and msg["Subject"] == "Re: Where is my order?"
        assert msg["To"] == "ada@example.org"
        assert msg["Reply-To"] == f"reply+{conv.id.hex}@in.support.example.com"
        async with runtime.db.read() as session:
            stored = await session.get(Message, uuid.UUID(sent["id"]))
            assert stored.status == "sent" and stored.provider_message_id == our_id

        # The customer answers with a new subject line but In-Reply-To: same conversation.
        answer = customer_mail(
            "ada-2@example.org", "Thanks!", subject="thanks", extra=f"In-Reply-To: <{our_id}>\r\n"
        )
        assert (await post_mail(client, inbox, answer)).status_code == 202
        # A different question without references: a new conversation.
        other = customer_mail("ada-3@example.org", "Another question", subject="Invoice")
        assert (await post_mail(client, inbox, other)).status_code == 202
        await run_jobs()
        assert [m.provider_message_id for m in await messages_of(runtime, conv.id)] == [
            "ada-1@example.org",
            our_id,
            "ada-2@example.org",
        ]
        async with runtime.db.read() as session:
            assert (
                await session.execute(
                    sa.select(sa.func.count())
                    .select_from(Conversation)
                    .where(Conversation.inbox_id == inbox.id)
                )
            ).scalar_one() == 2

        # A bounce for our reply: the reply is failed with the reason, no conversation is created.
        bounce = (
            (FIXTURES / "bounce.eml")
            .read_bytes()
            .replace(b"rd.0190f3a6c1d27e4b9a3f5c6d7e8f9a33@support.example.com", our_id.encode())
        )
        assert (await post_mail(client, inbox, bounce)).status_code == 202
        await run_jobs()
        async with runtime.db.read() as session:
            stored = await session.get(Message, uuid.UUID(sent["id"]))
            assert stored.status == "failed" and "User unknown" in (stored.failure_reason or "")
            assert (
                await session.execute(
                    sa.select(sa.func.count())
                    .select_from(Conversation)
                    .where(Conversation.inbox_id == inbox.id)
                )
            ).scalar_one() == 2
        shown = await client.get(f"{API}/conversations/{conv.id}/messages", headers=ws.agent.headers)
        assert any("User unknown" in (m.get("failure_reason") or "") for m in shown.json()["items"])


async def test_smtp_4xx_is_retried_and_5xx_fails_with_the_reason(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    async with FakeSmtpServer() as smtp:
        inbox = await email_inbox(runtime, ws, smtp)
        assert (await post_mail(client, inbox, customer_mail("bob-1@example.org", "hi"))).status_code == 202
        await run_jobs()
        async with runtime.db.read() as session:
            [conv] = (
                await session.execute(sa.select(Conversation).where(Conversation.inbox_id == inbox.id))
            ).scalars()

        smtp.answer_next("451 4.7.1 Greylisted, try again later")
        later = await reply(client, ws, conv.id, "first try greylisted")
        for _ in range(40):  # the tests' backoff is a fraction of a second
            await asyncio.sleep(0.25)
            await run_jobs()
            if smtp.received:
                break
        assert len(await smtp.wait_for(1)) == 1
        async with runtime.db.read() as session:
            assert (await session.get(Message, uuid.UUID(later["id"]))).status == "sent"
            jobs = (await session.execute(sa.select(Job).where(Job.kind == "outbound.deliver"))).scalars()
            [job] = [j for j in jobs if j.payload.get("message_id") == later["id"]]
            assert job.attempts == 2  # the 451 was retried, not failed

        smtp.answer_next("554 5.7.1 Rejected as spam")
        refused = await reply(client, ws, conv.id, "refused for good")
        await run_jobs()
        async with runtime.db.read() as session:
            stored = await session.get(Message, uuid.UUID(refused["id"]))
            assert stored.status == "failed" and "554 5.7.1 Rejected as spam" in (stored.failure_reason or "")


async def test_webhook_refusals(client, runtime, make_workspace):
    ws = await make_workspace()
    async with FakeSmtpServer() as smtp:
        inbox = await email_inbox(runtime, ws, smtp)
        raw = customer_mail("c-1@example.org", "hi")
        stale = await post_mail(client, inbox, raw, timestamp=1)
        assert stale.status_code == 401
        fields = MailgunDriver("wrong-key").mime_form(raw, "support@support.example.com", "")
        assert (await client.post(f"/inbound/email/{inbox.public_id}", data=fields)).status_code == 401
        # Well signed but no mail inside: 406 so Mailgun does not retry for 8 hours.
        empty = MailgunDriver(KEY).signed_fields()
        resp = await client.post(f"/inbound/email/{inbox.public_id}", data={**empty, "body-mime": "   "})
        assert resp.status_code == 406, resp.text
        assert "empty" in resp.json()["error"]["message"]
        resp = await client.post(
            f"/inbound/email/{inbox.public_id}", content=b"{}", headers={"content-type": "application/json"}
        )
        assert resp.status_code == 415
        # A form that is no form: refused (406, not retried), never a 500.
        broken = await client.post(
            f"/inbound/email/{inbox.public_id}",
            content=b"--\r\nnothing here",
            headers={"content-type": "multipart/form-data; boundary=zz"},
        )
        assert broken.status_code == 406, broken.text
    async with runtime.db.read() as session:
        assert (
            await session.execute(
                sa.select(sa.func.count()).select_from(Message).where(Message.inbox_id == inbox.id)
            )
        ).scalar_one() == 0


async def test_a_mail_in_any_charset_with_nul_bytes_is_taken_not_refused(
    client, runtime, make_workspace, run_jobs
):
    """The input gate leaves a mail's bytes to the channel: a Latin-1 body with a NUL byte, posted raw in
    a multipart field or percent-encoded in a url-encoded form, is stored, its text cleaned."""
    ws = await make_workspace()
    async with FakeSmtpServer() as smtp:
        inbox = await email_inbox(runtime, ws, smtp)
    raw = (
        b"From: Jose <jose@example.es>\r\nSubject: Pedido\r\nMessage-ID: <latin-%d@example.es>\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nJos\xe9 \x00 pregunta\r\n"
    )
    signed = MailgunDriver(KEY).signed_fields()
    files = {k: (None, v.encode()) for k, v in signed.items()}
    files["body-mime"] = (None, raw % 1)
    multipart = await client.post(f"/inbound/email/{inbox.public_id}", files=files)
    assert multipart.status_code == 202, multipart.text
    from urllib.parse import urlencode

    form = urlencode({**MailgunDriver(KEY).signed_fields(), "body-mime": raw % 2}).encode()
    encoded = await client.post(
        f"/inbound/email/{inbox.public_id}",
        content=form,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert encoded.status_code == 202, encoded.text
    await run_jobs()
    async with runtime.db.read() as session:
        texts = [
            storage.read_message_content(m)
            for m in (await session.execute(sa.select(Message).where(Message.inbox_id == inbox.id))).scalars()
        ]
    assert texts == ["José \ufffd pregunta", "José \ufffd pregunta"]


async def test_a_mail_with_a_large_attachment_passes_the_door(client, runtime, make_workspace, run_jobs):
    """The e-mail door takes bodies up to its own limit (a whole mail), above the server's 1 MiB default
    that still holds for the API channel; beyond the mail limit it is 413."""
    ws = await make_workspace()
    async with FakeSmtpServer() as smtp:
        inbox = await email_inbox(runtime, ws, smtp)
    import base64
    import os

    blob = os.urandom(3 * 1024 * 1024)
    encoded = base64.encodebytes(blob)
    raw = (
        b"From: ada@example.org\r\nSubject: big\r\nMessage-ID: <big-1@example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n'
        b'--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="scan.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b--\r\n"
    )
    assert len(raw) > runtime.settings.max_body_bytes
    assert (await post_mail(client, inbox, raw)).status_code == 202
    await run_jobs()
    async with runtime.db.read() as session:
        [message] = (await session.execute(sa.select(Message).where(Message.inbox_id == inbox.id))).scalars()
    files = (
        await client.get(f"{API}/conversations/{message.conversation_id}/messages", headers=ws.agent.headers)
    ).json()
    [scan] = [a for a in files["items"][0]["attachments"] if a["filename"] == "scan.bin"]
    assert (await client.get(scan["url"], headers=ws.agent.headers)).content == blob
    huge = await client.post(
        f"/inbound/email/{inbox.public_id}",
        content=b"x" * (SPEC.max_body_bytes + 1),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert huge.status_code == 413
