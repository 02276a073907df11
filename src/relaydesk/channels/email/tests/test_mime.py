"""parse_message on real-shaped mails (fixtures/): what the agent sees, what is kept, threading inputs."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from relaydesk.channels.email import ids
from relaydesk.channels.email.mime import parse_message

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_reply_shows_the_new_text_and_keeps_the_original() -> None:
    raw = fixture("reply_with_quote.eml")
    mail = parse_message(raw)
    incoming = mail.incoming
    assert incoming.text == "Thanks, the parcel arrived this morning. Everything is fine – great service!"
    assert "Analytical Engines" not in incoming.text  # signature hidden
    assert "warehouse" not in incoming.text  # quote hidden
    assert incoming.content_attributes["email"]["quoted_hidden"] is True
    original = incoming.attachments[incoming.content_attributes["original_attachment"]]
    assert (original.filename, original.content_type, original.data) == (
        "original.eml",
        "message/rfc822",
        raw,
    )
    assert incoming.external_contact_id == incoming.contact_email == mail.sender == "ada@example.org"
    assert incoming.contact_name == "Ada Lovelace"
    assert incoming.sent_at == dt.datetime(2026, 1, 5, 10, 15, tzinfo=dt.UTC)
    assert mail.message_id == incoming.provider_message_id == "CAF=ada-20260105-1@mail.example.org"
    assert mail.in_reply_to == "rd.0190f3a6c1d27e4b9a3f5c6d7e8f9a11@support.example.com"
    assert mail.references == [
        "CAF=ada-20260104-0@mail.example.org",
        "rd.0190f3a6c1d27e4b9a3f5c6d7e8f9a11@support.example.com",
    ]
    assert mail.reply_token == uuid.UUID("0190f3a6c1d27e4b9a3f5c6d7e8f9a0b")
    # Threading looks at In-Reply-To first, then References from the most recent.
    assert incoming.thread is not None
    assert incoming.thread.message_ids == [mail.in_reply_to, "CAF=ada-20260104-0@mail.example.org"]
    assert incoming.thread.conversation_token == "0190f3a6c1d27e4b9a3f5c6d7e8f9a0b"
    assert not mail.is_automatic and mail.bounce_for is None and incoming.no_auto_reply is None


def test_html_inline_image_and_attachment() -> None:
    mail = parse_message(fixture("multipart_inline_image.eml"))
    incoming = mail.incoming
    attrs = incoming.content_attributes["email"]
    assert incoming.text == "Hello, the lid of my kettle arrived broken, see the photo.\nOrder 7734."
    assert incoming.contact_name == "Chen Jing 陈"
    assert mail.subject == "Broken lid – photo attached"
    names = [(a.filename, a.content_type) for a in incoming.attachments]
    assert names == [
        ("lid.png", "image/png"),
        ("receipt.pdf", "application/pdf"),
        ("message.html", "text/html"),
        ("original.eml", "message/rfc822"),
    ]
    assert incoming.attachments[0].data.startswith(b"\x89PNG")
    assert incoming.attachments[1].data.startswith(b"%PDF")
    assert attrs["inline"] == {"photo1@example.com": 0}
    html = incoming.attachments[attrs["html"]].data.decode()
    assert "<script" not in html and "alert" not in html and "onclick" not in html and "<style" not in html
    assert "javascript:" not in html
    assert 'src="cid:photo1@example.com"' in html  # inline image kept
    assert 'data-remote-src="https://tracker.example.net/open.gif?u=chen"' in html  # remote image blocked
    assert ' src="https://tracker' not in html
    assert attrs["remote_images"] == 1


def test_missing_message_id_gets_a_stable_digest_and_latin1_is_decoded() -> None:
    raw = fixture("no_message_id_latin1.eml")
    first, again = parse_message(raw), parse_message(raw)
    assert first.message_id == again.message_id
    assert first.message_id.startswith("synthetic.") and first.message_id.endswith("@relaydesk.invalid")
    assert first.incoming.text == "Hola, ¿pueden ayudarme con mi pedido? Gracias, José"
    # Another transport adding a Received line does not change the digest.
    relayed = parse_message(
        b"Received: from relay.example by mx.example; Sat, 10 Jan 2026 10:00:01 +0100\n" + raw
    )
    assert relayed.message_id == first.message_id
    other = parse_message(raw.replace(b"Pregunta", b"Otra pregunta"))
    assert other.message_id != first.message_id


def test_out_of_office_is_automatic_and_threads_to_our_message() -> None:
    mail = parse_message(fixture("out_of_office.eml"))
    assert mail.is_automatic and mail.automatic == "Auto-Submitted: auto-replied"
    assert mail.incoming.no_auto_reply == mail.automatic
    assert mail.incoming.content_attributes["email"]["automatic"] == mail.automatic
    assert mail.bounce_for is None
    assert ids.ours(mail.in_reply_to or "") == uuid.UUID("0190f3a6c1d27e4b9a3f5c6d7e8f9a22")


def test_list_mail_is_automatic() -> None:
    mail = parse_message(fixture("mailing_list.eml"))
    assert mail.automatic == "Precedence: bulk"


def test_bounce_names_our_message_and_the_reason() -> None:
    mail = parse_message(fixture("bounce.eml"))
    assert mail.is_automatic
    assert mail.bounce_for == ["rd.0190f3a6c1d27e4b9a3f5c6d7e8f9a33@support.example.com"]
    assert mail.bounce is not None
    assert "5.1.1" in mail.bounce.reason and "User unknown" in mail.bounce.reason
    assert "nobody@example.invalid" in mail.bounce.reason


def test_delayed_dsn_is_no_failure() -> None:
    raw = fixture("bounce.eml").replace(b"Action: failed", b"Action: delayed").replace(b"5.1.1", b"4.4.1")
    mail = parse_message(raw)
    assert mail.is_automatic and mail.bounce_for is None


def test_each_loop_marker_is_recognised() -> None:
    base = b"From: a@example.com\r\nTo: s@example.com\r\nSubject: x\r\nMessage-ID: <m@x>\r\n"
    marked = {
        b"Auto-Submitted: auto-generated\r\n": "Auto-Submitted: auto-generated",
        b"X-Autorespond: yes\r\n": "x-autorespond header",
        b"Precedence: junk\r\n": "Precedence: junk",
        b"Precedence: list\r\n": "Precedence: list",
        b"List-Id: <l.example.com>\r\n": "mailing list (list-id)",
        b"List-Unsubscribe: <mailto:u@example.com>\r\n": "mailing list (list-unsubscribe)",
        b"Return-Path: <>\r\n": "empty Return-Path (a bounce or notification)",
        b"X-Auto-Response-Suppress: OOF, AutoReply\r\n": "X-Auto-Response-Suppress asks for no automatic answer",
    }
    for header, reason in marked.items():
        assert parse_message(header + base + b"\r\nhello\r\n").automatic == reason, header
    assert parse_message(b"Auto-Submitted: no\r\n" + base + b"\r\nhello\r\n").automatic is None
    daemon = base.replace(b"a@example.com", b"MAILER-DAEMON@example.com")
    assert parse_message(daemon + b"\r\nx\r\n").automatic == "system sender (mailer-daemon)"
    postmaster = base.replace(b"a@example.com", b"postmaster@example.com")
    assert parse_message(postmaster + b"\r\nx\r\n").automatic == "system sender (postmaster)"
    assert parse_message(base + b"\r\nhello\r\n").automatic is None


def test_html_only_mail_gets_text() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: h\r\nMessage-ID: <h@x>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><body><p>First &amp; foremost</p><p>Second<br>line</p><script>evil()</script></body></html>"
    )
    mail = parse_message(raw)
    assert mail.incoming.text == "First & foremost\nSecond\nline"
    html = mail.incoming.attachments[mail.incoming.content_attributes["email"]["html"]].data
    assert b"evil" not in html


def test_forwarded_message_is_an_attachment() -> None:
    inner = fixture("mailing_list.eml")
    raw = (
        b"From: a@example.com\r\nSubject: Fwd\r\nMessage-ID: <f@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
        b"See below\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--b--\r\n"
    )
    mail = parse_message(raw)
    assert mail.incoming.text == "See below"
    forwarded = mail.incoming.attachments[0]
    assert forwarded.filename == "forwarded-message.eml" and b"January newsletter" in forwarded.data
    assert mail.automatic is None  # the forwarded list mail's headers are not this mail's


def test_our_ids_and_reply_addresses_round_trip() -> None:
    message_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    ours = ids.our_message_id(message_id, "support.example.com")
    assert ids.ours(ours) == message_id and ids.ours("abc@example.com") is None
    address = ids.reply_address(conversation_id, "in.example.com")
    assert ids.reply_token(["someone@example.com", f"Support <{address}>"]) == conversation_id
    assert ids.reply_token(["noreply+abc@example.com"]) is None
    assert ids.parse_ids("<a@b> <c@d>\r\n <a@b>") == ["a@b", "c@d"]
    assert ids.parse_ids("bare@id.example") == ["bare@id.example"]
    long = ids.bare("<" + "x" * 400 + "@example.com>")
    assert len(long) < 255 and long == ids.bare("x" * 400 + "@example.com")
