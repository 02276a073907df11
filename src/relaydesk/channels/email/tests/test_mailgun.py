"""The Mailgun-format inbound webhook, through the adapter: signature, freshness, both post shapes
(`body-mime` and parsed fields with attachments), bounces as statuses, and malformed forms."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import httpx
import pytest

from relaydesk.channels.email.fake import MailgunDriver
from relaydesk.channels.email.spec import SPEC
from relaydesk.channels.spec import InboundRequest, InvalidPayload, InvalidSignature, Parsed

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY = "key-fixture-signing"
channel = SPEC


def encode(fields: dict[str, str], files: list | None = None) -> tuple[bytes, str]:  # type: ignore[type-arg]
    request = httpx.Request("POST", "http://127.0.0.1/", data=fields, files=files or None)
    return request.read(), request.headers["content-type"]


def raw_request(body: bytes, content_type: str, at: float | None = None) -> InboundRequest:
    when = dt.datetime.fromtimestamp(at if at is not None else time.time(), dt.UTC)
    return InboundRequest.stored(body, {"content-type": content_type}, when)


def parse(body: bytes, content_type: str | None = None) -> Parsed:
    """Parse as the processing job does, from the stored body and its kept Content-Type."""
    if content_type is None:
        content_type = (
            "multipart/form-data" if body.lstrip().startswith(b"--") else "application/x-www-form-urlencoded"
        )
    return channel.parse(raw_request(body, content_type))


def fixture_post(**signing) -> dict[str, str]:  # type: ignore[no-untyped-def]
    fields = json.loads((FIXTURES / "mailgun_post.json").read_text())
    fields.pop("_comment")
    fields.update(MailgunDriver(KEY).signed_fields(**signing))
    return fields


def test_a_signed_post_of_parsed_fields_becomes_a_threaded_message() -> None:
    body, content_type = encode(fixture_post())
    request = raw_request(body, content_type)
    channel.verify(request, {"mailgun_signing_key": KEY}, tolerance=300)
    assert channel.dedupe_key(request) == "mail:CAF=ada-mailgun-1@mail.example.org"
    [incoming] = parse(body, content_type).messages
    assert incoming.text == "It arrived, thank you!"
    assert incoming.external_contact_id == "ada@example.org" and incoming.contact_name == "Ada Lovelace"
    assert incoming.thread is not None
    assert incoming.thread.message_ids == ["rd.0190f3a6c1d27e4b9a3f5c6d7e8f9a11@support.example.com"]
    assert incoming.thread.conversation_token == "0190f3a6c1d27e4b9a3f5c6d7e8f9a0b"
    html = next(a for a in incoming.attachments if a.filename == "message.html").data
    assert b'data-remote-src="https://pixel.example.net/o.gif"' in html


def test_signature_and_freshness_are_checked() -> None:
    good = fixture_post()
    body, content_type = encode(good)
    with pytest.raises(InvalidSignature, match="does not match"):
        channel.verify(raw_request(body, content_type), {"mailgun_signing_key": "another-key"}, tolerance=300)
    with pytest.raises(InvalidSignature, match="no Mailgun signing key"):
        channel.verify(raw_request(body, content_type), {}, tolerance=300)
    stale = fixture_post(timestamp=int(time.time()) - 3600)
    body, content_type = encode(stale)
    with pytest.raises(InvalidSignature, match="window"):
        channel.verify(raw_request(body, content_type), {"mailgun_signing_key": KEY}, tolerance=300)
    flipped = "1" if good["token"].endswith("0") else "0"
    tampered = dict(good, token=good["token"][:-1] + flipped)
    body, content_type = encode(tampered)
    with pytest.raises(InvalidSignature, match="does not match"):
        channel.verify(raw_request(body, content_type), {"mailgun_signing_key": KEY}, tolerance=300)
    body, content_type = encode({k: v for k, v in good.items() if k != "signature"})
    with pytest.raises(InvalidSignature, match="missing"):
        channel.verify(raw_request(body, content_type), {"mailgun_signing_key": KEY}, tolerance=300)


def test_body_mime_with_an_inline_image_is_parsed_from_the_whole_mail() -> None:
    raw = (FIXTURES / "multipart_inline_image.eml").read_bytes()
    fields = MailgunDriver(KEY).mime_form(raw, "support@support.example.com", "chen@example.com")
    body, content_type = encode(fields)
    channel.verify(raw_request(body, content_type), {"mailgun_signing_key": KEY}, tolerance=300)
    [incoming] = parse(body, content_type).messages
    assert [a.filename for a in incoming.attachments] == [
        "lid.png",
        "receipt.pdf",
        "message.html",
        "original.eml",
    ]
    assert incoming.attachments[-1].data == raw


def test_parsed_fields_with_attachments() -> None:
    raw = (FIXTURES / "multipart_inline_image.eml").read_bytes()
    fields, files = MailgunDriver(KEY).parsed_form(raw, "support@support.example.com", "chen@example.com")
    body, content_type = encode(fields, files)
    assert content_type.startswith("multipart/form-data")
    channel.verify(raw_request(body, content_type), {"mailgun_signing_key": KEY}, tolerance=300)
    [incoming] = parse(body, content_type).messages
    assert incoming.text == "Hello, the lid of my kettle arrived broken, see the photo.\nOrder 7734."
    names = {a.filename: a for a in incoming.attachments}
    assert names["receipt.pdf"].data.startswith(b"%PDF") and names["lid.png"].data.startswith(b"\x89PNG")


def test_a_bounce_for_our_message_is_a_failed_status_not_a_message() -> None:
    raw = (FIXTURES / "bounce.eml").read_bytes()
    body, content_type = encode(MailgunDriver(KEY).mime_form(raw, "support@support.example.com", ""))
    parsed = parse(body, content_type)
    assert parsed.messages == []
    [status] = parsed.statuses
    assert status.status == "failed" and status.by_provider_id is False
    assert status.message_ref == "0190f3a6-c1d2-7e4b-9a3f-5c6d7e8f9a33"
    assert "User unknown" in (status.reason or "")


def test_header_injection_through_message_headers_is_neutralised() -> None:
    fields = fixture_post()
    headers = json.loads(fields["message-headers"])
    headers.append(["Subject", "hi\r\nBcc: victim@example.com"])
    headers.append(["Bad Name", "x"])
    fields["message-headers"] = json.dumps(headers)
    body, content_type = encode(fields)
    [incoming] = parse(body, content_type).messages
    original = incoming.attachments[-1].data
    assert b"\r\nBcc:" not in original and b"Bad Name" not in original


@pytest.mark.parametrize(
    "body",
    [
        b"--\r\n",
        b"--b\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--b--\r\n",
        b"message-headers=%7Bnot-json&timestamp=1",
        b"message-headers=%5B%5B1%2C2%5D%5D",
        b"\xff\xfe",
    ],
)
def test_malformed_forms_are_invalid_payloads(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        parse(body)


def test_a_bounce_about_a_mail_we_did_not_send_stays_a_message() -> None:
    raw = (
        (FIXTURES / "bounce.eml")
        .read_bytes()
        .replace(b"rd.0190f3a6c1d27e4b9a3f5c6d7e8f9a33@support.example.com", b"other-system-1@example.com")
    )
    body, content_type = encode(MailgunDriver(KEY).mime_form(raw, "support@support.example.com", ""))
    parsed = parse(body, content_type)
    [message] = parsed.messages
    assert parsed.statuses == [] and message.no_auto_reply


def test_the_fixture_carries_a_real_signature_vector() -> None:
    fields = json.loads((FIXTURES / "mailgun_post.json").read_text())
    fields.pop("_comment")
    body, content_type = encode(fields)
    at = float(fields["timestamp"])
    channel.verify(raw_request(body, content_type, at=at), {"mailgun_signing_key": KEY}, tolerance=300)
    with pytest.raises(InvalidSignature, match="window"):  # replayed today: stale
        channel.verify(raw_request(body, content_type), {"mailgun_signing_key": KEY}, tolerance=300)
