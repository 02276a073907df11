"""Outbound mail against a real SMTP server on 127.0.0.1 (aiosmtpd, fake.py): plain, STARTTLS with AUTH,
implicit TLS, threading headers, loop headers, attachments, and each error class."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from relaydesk.channels.email import ids
from relaydesk.channels.email.fake import FakeSmtpServer
from relaydesk.channels.email.mime import parse_message
from relaydesk.channels.email.smtp import OutgoingMail, SmtpServer, send_mail
from relaydesk.channels.email.spec import SPEC
from relaydesk.channels.email.tests.tls_support import loopback_tls
from relaydesk.channels.envelopes import NewAttachment
from relaydesk.channels.spec import (
    OutboundMessage,
    PermanentSendError,
    ReplyContext,
    RetryableSendError,
)
from relaydesk.outbound.ssrf import guarded_client

# The channels' client of an installation whose operator allows private targets (the suite's fake is on
# 127.0.0.1); it is never used for HTTP here, only read for that permission.
LOOPBACK_ALLOWED = guarded_client(timeout=5, allow_private=True)


def outgoing(**changes) -> OutgoingMail:  # type: ignore[no-untyped-def]
    values = {
        "message_id": ids.our_message_id(uuid.uuid4(), "support.example.com"),
        "from_address": "support@support.example.com",
        "to_address": "ada@example.org",
        "subject": "Re: Order 5521",
        "text": "Hello Ada,\n\nthe parcel ships today.",
        "from_name": "Sam (Example Support)",
    }
    values.update(changes)
    return OutgoingMail(**values)


async def test_agent_reply_is_threaded_and_has_a_text_and_html_alternative() -> None:
    async with FakeSmtpServer() as smtp:
        conversation = uuid.uuid4()
        mail = outgoing(
            in_reply_to="CAF=ada-2@mail.example.org",
            references=["CAF=ada-1@mail.example.org", "rd.x@support.example.com"],
            reply_to=ids.reply_address(conversation, "in.support.example.com"),
            attachments=[NewAttachment("label.pdf", "application/pdf", b"%PDF-1.4 label")],
        )
        await send_mail(SmtpServer("127.0.0.1", smtp.port, security="plain"), mail, allow_private=True)
        [received] = await smtp.wait_for(1)
    assert received.mail_from == "support@support.example.com" and received.rcpt_tos == ["ada@example.org"]
    msg = received.message
    assert msg["Message-ID"] == f"<{mail.message_id}>"
    assert msg["In-Reply-To"] == "<CAF=ada-2@mail.example.org>"
    assert (
        msg["References"]
        == "<CAF=ada-1@mail.example.org> <rd.x@support.example.com> <CAF=ada-2@mail.example.org>"
    )
    assert msg["Reply-To"] == f"reply+{conversation.hex}@in.support.example.com"
    assert str(msg["From"]) == '"Sam (Example Support)" <support@support.example.com>'
    assert msg["Auto-Submitted"] is None  # a person's reply
    assert (
        msg.get_body(("plain",)).get_content().replace("\r\n", "\n").strip()
        == "Hello Ada,\n\nthe parcel ships today."
    )
    assert "<p>Hello Ada,</p><p>the parcel ships today.</p>" in msg.get_body(("html",)).get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "label.pdf" and attachment.get_content() == b"%PDF-1.4 label"
    # Our own parser reads it back: the customer's reply threads to this id.
    assert parse_message(received.data).message_id == mail.message_id


async def test_automatic_mail_carries_the_loop_headers() -> None:
    async with FakeSmtpServer() as smtp:
        await send_mail(
            SmtpServer("127.0.0.1", smtp.port, security="plain"), outgoing(automatic=True), allow_private=True
        )
        [received] = await smtp.wait_for(1)
    assert received.message["Auto-Submitted"] == "auto-replied"
    assert received.message["X-Auto-Response-Suppress"] == "All"
    # ...and our own parser would never auto-answer it.
    assert parse_message(received.data).is_automatic


async def test_starttls_with_auth() -> None:
    tls = loopback_tls()
    async with FakeSmtpServer(tls_context=tls.server, credentials=("sam", "s3cret")) as smtp:
        server = SmtpServer("127.0.0.1", smtp.port, security="starttls", username="sam", password="s3cret")
        await send_mail(server, outgoing(), tls_context=tls.client, allow_private=True)
        await smtp.wait_for(1)
        wrong = SmtpServer("127.0.0.1", smtp.port, security="starttls", username="sam", password="nope")
        with pytest.raises(PermanentSendError, match="refused the inbox's credentials"):
            await send_mail(wrong, outgoing(), tls_context=tls.client, allow_private=True)
        # A server whose certificate we do not trust is a connection failure, never a plain fallback.
        with pytest.raises((RetryableSendError, PermanentSendError)):
            await send_mail(server, outgoing(), allow_private=True)
    assert len(smtp.received) == 1


async def test_implicit_tls() -> None:
    tls = loopback_tls()
    async with FakeSmtpServer(tls_context=tls.server, implicit_tls=True) as smtp:
        await send_mail(
            SmtpServer("127.0.0.1", smtp.port, security="tls"),
            outgoing(),
            tls_context=tls.client,
            allow_private=True,
        )
        assert len(await smtp.wait_for(1)) == 1


async def test_4xx_is_retried_and_5xx_is_permanent_with_the_reason() -> None:
    async with FakeSmtpServer() as smtp:
        server = SmtpServer("127.0.0.1", smtp.port, security="plain")
        smtp.answer_next("451 4.3.0 Mail server temporarily rejected message")
        with pytest.raises(RetryableSendError, match="451"):
            await send_mail(server, outgoing(), allow_private=True)
        smtp.answer_next("550 5.7.1 Message rejected as spam")
        with pytest.raises(PermanentSendError, match=re.escape("550 5.7.1 Message rejected as spam")):
            await send_mail(server, outgoing(), allow_private=True)
        smtp.refuse_recipient("gone@example.org", "550 5.1.1 User unknown")
        with pytest.raises(PermanentSendError, match=re.escape("gone@example.org: 550 5.1.1 User unknown")):
            await send_mail(server, outgoing(to_address="gone@example.org"), allow_private=True)
        smtp.refuse_recipient("full@example.org", "452 4.2.2 Mailbox full")
        with pytest.raises(RetryableSendError, match="Mailbox full"):
            await send_mail(server, outgoing(to_address="full@example.org"), allow_private=True)
        await send_mail(server, outgoing(), allow_private=True)
        assert len(smtp.received) == 1


async def test_connection_refused_is_retried() -> None:
    async with FakeSmtpServer() as smtp:
        port = smtp.port
    with pytest.raises(RetryableSendError, match="connection"):
        await send_mail(
            SmtpServer("127.0.0.1", port, security="plain", timeout=2), outgoing(), allow_private=True
        )


async def test_plain_smtp_is_refused_beyond_loopback() -> None:
    with pytest.raises(PermanentSendError, match="only allowed to a loopback"):
        await send_mail(SmtpServer("smtp.example.com", 25, security="plain"), outgoing(), allow_private=True)


async def test_spec_send_threads_on_the_customers_latest_mail() -> None:
    original = (Path(__file__).resolve().parent.parent / "fixtures" / "reply_with_quote.eml").read_bytes()
    async with FakeSmtpServer() as smtp:
        message_id, conversation_id = uuid.uuid4(), uuid.uuid4()
        result = await SPEC.send(
            LOOPBACK_ALLOWED,
            OutboundMessage(
                message_id=str(message_id),
                conversation_id=str(conversation_id),
                conversation_number=7,
                recipient_external_id="ada@example.org",
                text="It ships today.",
                sender_name="Sam",
                files=[NewAttachment("label.pdf", "application/pdf", b"%PDF-1.4")],
                reply_context=ReplyContext(
                    provider_message_id="a2@example.org",
                    attributes={"email": {"references": ["a1@example.org"]}},
                    original=original,
                ),
            ),
            {"smtp_password": ""},
            {
                "from_address": "support@support.example.com",
                "from_name": "Example Support",
                "reply_domain": "in.support.example.com",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "smtp_security": "plain",
            },
        )
        automatic = OutboundMessage(
            message_id=str(uuid.uuid4()),
            conversation_id=str(conversation_id),
            conversation_number=7,
            recipient_external_id="ada@example.org",
            text="We received your message.",
            sent_by="ai",
        )
        await SPEC.send(
            LOOPBACK_ALLOWED,
            automatic,
            {},
            {
                "from_address": "support@support.example.com",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "smtp_security": "plain",
            },
        )
        first, second = await smtp.wait_for(2)
    assert result.provider_message_id == f"rd.{message_id.hex}@in.support.example.com"
    msg = first.message
    assert msg["Subject"] == "Re: Order 5521 has not arrived"  # "Re:" not doubled
    assert str(msg["From"]) == '"Sam (Example Support)" <support@support.example.com>'
    assert msg["Reply-To"] == f"reply+{conversation_id.hex}@in.support.example.com"
    assert msg["In-Reply-To"] == "<a2@example.org>"
    assert msg["References"] == "<a1@example.org> <a2@example.org>"
    assert msg["Auto-Submitted"] is None
    assert [a.get_filename() for a in msg.iter_attachments()] == ["label.pdf"]
    assert second.message["Auto-Submitted"] == "auto-replied"
    assert second.message["Subject"] == "Re: your message"


async def test_the_smtp_host_is_judged_like_every_outbound_connection() -> None:
    """An admin cannot point an inbox's SMTP host at the machine's own services or at cloud metadata:
    loopback/LAN only when the operator allows private targets for channels, link-local never. The
    e-mail spec takes the operator's choice from the guarded client it is given."""
    async with FakeSmtpServer() as smtp:
        local = SmtpServer("127.0.0.1", smtp.port, security="plain")
        with pytest.raises(
            PermanentSendError, match=re.escape("SMTP host 127.0.0.1 is not a public address")
        ):
            await send_mail(local, outgoing())
        with pytest.raises(PermanentSendError, match="link-local, metadata or reserved"):
            await send_mail(
                SmtpServer("169.254.169.254", 25, security="starttls"), outgoing(), allow_private=True
            )
        assert smtp.received == []
        message = OutboundMessage(
            message_id="0190f0a0-0000-7000-8000-000000000001",
            conversation_id="0190f0a0-0000-7000-8000-000000000002",
            conversation_number=1,
            recipient_external_id="ada@example.org",
            text="Hello",
        )
        settings = {
            "from_address": "support@support.example.com",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": "plain",
        }
        for allowed in (False, True):
            client = guarded_client(timeout=5, allow_private=allowed)
            try:
                if allowed:
                    await SPEC.send(client, message, {}, settings)
                else:
                    with pytest.raises(PermanentSendError, match="not a public address"):
                        await SPEC.send(client, message, {}, settings)
            finally:
                await client.aclose()
        assert len(await smtp.wait_for(1)) == 1
