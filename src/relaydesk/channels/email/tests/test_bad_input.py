"""Hostile and broken mail: each case is refused with its reason or neutralised (stored, with a note and
the original kept), and nothing raises anything but `InvalidMail`."""

from __future__ import annotations

import time

import pytest

from relaydesk.channels.email import limits
from relaydesk.channels.email.mime import InvalidMail, parse_message

HEAD = b"From: Eve <eve@example.com>\r\nTo: support@example.com\r\nSubject: bomb\r\nMessage-ID: <bomb@example.com>\r\n"


def multipart(parts: list[bytes], boundary: bytes = b"b") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts)
    return (
        b'Content-Type: multipart/mixed; boundary="'
        + boundary
        + b'"\r\n\r\n'
        + body
        + b"--"
        + boundary
        + b"--\r\n"
    )


def text_part(text: bytes) -> bytes:
    return b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text


def test_thousands_of_parts_are_neutralised() -> None:
    parts = [text_part(b"hello")] + [
        b'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="f.bin"\r\n\r\nxx'
        for _ in range(5000)
    ]
    started = time.perf_counter()
    mail = parse_message(HEAD + b"MIME-Version: 1.0\r\n" + multipart(parts))
    assert time.perf_counter() - started < 30  # sanity bound only; figures live in bench/
    assert mail.incoming.text == "hello"
    kept = [a for a in mail.incoming.attachments if a.filename == "f.bin"]
    assert len(kept) == limits.MAX_ATTACHMENTS
    notes = mail.incoming.content_attributes["email"]["notes"]
    assert any(f"beyond the first {limits.MAX_PARTS}" in n for n in notes)
    assert any(f"beyond {limits.MAX_ATTACHMENTS}" in n for n in notes)
    assert mail.incoming.attachments[-1].filename == "original.eml"


def nested(depth: int) -> bytes:
    inner = text_part(b"deep inside")
    for level in range(depth):
        boundary = b"n%d" % level
        inner = multipart([inner], boundary)
    return HEAD + b"MIME-Version: 1.0\r\n" + inner


def test_deep_nesting_beyond_the_container_limit_is_not_parsed() -> None:
    mail = parse_message(nested(2000))
    notes = mail.incoming.content_attributes["email"]["notes"]
    assert any("multipart sections" in n for n in notes)
    assert "not shown" in (mail.incoming.text or "")
    assert mail.sender == "eve@example.com" and mail.subject == "bomb"
    assert mail.incoming.attachments[-1].filename == "original.eml"


def test_nesting_deeper_than_the_depth_limit_is_skipped_with_a_note() -> None:
    mail = parse_message(nested(limits.MAX_NESTING_DEPTH + 4))
    notes = mail.incoming.content_attributes["email"]["notes"]
    assert any("nested deeper" in n for n in notes)
    shallow = parse_message(nested(limits.MAX_NESTING_DEPTH - 1))
    assert shallow.incoming.text == "deep inside"


def test_huge_header_block_is_refused() -> None:
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 200) for i in range(2000))
    with pytest.raises(InvalidMail, match="header block is larger"):
        parse_message(HEAD + filler + b"\r\nbody\r\n")


def test_too_many_header_fields_are_refused() -> None:
    filler = b"".join(b"X-%d: a\r\n" % i for i in range(limits.MAX_HEADER_FIELDS + 1))
    with pytest.raises(InvalidMail, match="header fields"):
        parse_message(HEAD + filler + b"\r\nbody\r\n")


def test_one_huge_header_field_is_ignored() -> None:
    references = b"References:" + b"".join(b" <r%d@example.com>\r\n" % i for i in range(2000))
    mail = parse_message(HEAD + references + b"\r\nstill here\r\n")
    assert mail.incoming.text == "still here"
    assert mail.references == []
    assert any("References" in n for n in mail.incoming.content_attributes["email"]["notes"])


def test_huge_mail_is_refused() -> None:
    with pytest.raises(InvalidMail, match="larger than"):
        parse_message(HEAD + b"\r\n" + b"a" * (limits.MAX_MESSAGE_BYTES + 1))


def test_huge_text_is_cut_and_the_original_kept() -> None:
    body = (b"word " * 40_000) + b"\r\n"
    raw = HEAD + b"Content-Type: text/plain\r\n\r\n" + body
    mail = parse_message(raw)
    assert len(mail.incoming.text or "") == limits.MAX_TEXT_CHARS
    assert mail.incoming.attachments[-1].data == raw
    assert any("cut at" in n for n in mail.incoming.content_attributes["email"]["notes"])


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00garbage without any header",
        b"From: \xff\xfe <\xc3\x28@example.com>\r\nSubject: =?utf-8?b?////?=\r\n\r\n\xff\xfe\xfd",
        b"From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nno boundary at all",
        b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nunterminated',
        b"From: a@example.com\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!",
        b'From: a@example.com\r\nContent-Type: text/plain; charset="\xff"\r\n\r\nhi',
        b"From: a@example.com\r\nDate: yesterday-ish\r\nMessage-ID: <<<>>>\r\n\r\nhi",
        b"From: =?x-unknown?q?abc?= <a@example.com>\r\nSubject: =?x-unknown?q?abc?=\r\n\r\nhi",
        b"From: a@example.com\r\n\r\n" + "\ud800".encode("utf-8", "surrogatepass") + b"\x00text",
    ],
)
def test_malformed_mail_never_raises_anything_but_invalid_mail(raw: bytes) -> None:
    try:
        mail = parse_message(raw)
    except InvalidMail:
        return
    text = mail.incoming.text or ""
    assert "\x00" not in text
    text.encode("utf-8")  # no lone surrogates: storable and sendable
    assert mail.incoming.attachments[-1].filename == "original.eml"


def test_mail_without_sender_is_refused_with_the_reason() -> None:
    with pytest.raises(InvalidMail, match="no sender"):
        parse_message(b"To: s@example.com\r\nSubject: x\r\n\r\nhi")
    assert (
        parse_message(b"Subject: x\r\n\r\nhi", envelope_sender="bounce@example.com").sender
        == "bounce@example.com"
    )


def test_empty_mail_is_refused() -> None:
    with pytest.raises(InvalidMail, match="empty"):
        parse_message(b"  \r\n")


def test_malicious_attachment_names_are_made_safe() -> None:
    raw = (
        HEAD
        + b"MIME-Version: 1.0\r\n"
        + multipart(
            [
                text_part(b"see file"),
                b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="../../etc/passwd\x01.pdf"\r\n\r\nx',
            ]
        )
    )
    mail = parse_message(raw)
    assert mail.incoming.attachments[0].filename == "_.._etc_passwd_.pdf"


def test_a_part_header_full_of_parameters_is_neutralised() -> None:
    # A megabyte of Content-Type parameters in one part keeps the stdlib's header parser busy for minutes.
    params = b"".join(b'; p%d="v"' % i for i in range(100_000))
    part = b"Content-Type: application/x-y" + params + b"\r\n\r\nxx"
    mail = parse_message(HEAD + b"MIME-Version: 1.0\r\n" + multipart([text_part(b"hi"), part]))
    assert any("header field is longer" in n for n in mail.incoming.content_attributes["email"]["notes"])
    assert mail.sender == "eve@example.com"


def test_long_but_legal_top_level_headers_are_read() -> None:
    recipients = b", ".join(b'"Person %d" <p%d@example.com>' % (i, i) for i in range(300))
    mail = parse_message(HEAD + b"Cc: " + recipients + b"\r\n\r\nhello\r\n")
    assert "p299@example.com" in mail.recipients and mail.incoming.text == "hello"
