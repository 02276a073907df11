"""One raw RFC 5322 mail -> the provider-neutral `IncomingMessage` (plus what threading and loop prevention
need). The only mail parser: the IMAP receiver and the inbound webhook both call `parse_message`.

What the agent sees is the new part of the mail: quoted text and the signature are hidden by
`mail-parser-reply`. Nothing is thrown away: the whole original is kept as a sealed `original.eml`
attachment, the sanitised HTML body as `message.html` (remote images blocked, sanitize.py), and every real
attachment and inline (`cid:`) image as an attachment, all through the personal-data storage layer.
`content_attributes` says which attachment is which (`original_attachment`, `email.html`, `email.inline`),
so the thread view can show them for what they are.

Hostile mail (docs/email.md "Limits"): a mail too large, or whose header block is too large, is refused
with `InvalidMail` naming the limit. A mail whose structure is a bomb (too many or too deeply nested
multiparts) or that the `email` package cannot parse is *neutralised*: it is stored with its sender and
subject, a note saying why it is not shown, and the original attached. Invalid UTF-8, unknown charsets,
NUL bytes and lone surrogates become replacement characters, never an exception.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

from mailparser_reply import EmailReplyParser

from relaydesk.channels.email import limits
from relaydesk.channels.email.bounces import Bounce, read_bounce
from relaydesk.channels.email.ids import bare, parse_ids, reply_token, synthetic_id
from relaydesk.channels.email.loops import automatic_reason
from relaydesk.channels.email.sanitize import html_to_text, sanitize_html
from relaydesk.channels.envelopes import IncomingMessage, NewAttachment, ThreadHint
from relaydesk.channels.spec import InvalidPayload

# Languages whose reply headers ("On ... wrote:", "Am ... schrieb:") the quote detector knows.
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "pl", "cs", "ja"]

_CONTAINER = re.compile(rb"(?i)content-type:\s*(?:multipart/|message/(?:rfc822|global|delivery-status))")
# A Content-* header field anywhere in the mail, with its folded continuation lines.
_PART_FIELD = re.compile(rb"(?im)^content-[a-z-]*:[^\n]*\n(?:[ \t][^\n]*\n)*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


class InvalidMail(InvalidPayload):
    """The mail is refused as a whole (too large, or a header block that cannot be read safely)."""


@dataclass
class ParsedMail:
    incoming: IncomingMessage
    message_id: str  # bare; synthesised (stable digest) when the mail has none
    in_reply_to: str | None
    references: list[str]  # oldest first, as in the header (the most recent MAX_REFERENCES)
    subject: str
    sender: str  # lower-case address
    recipients: list[str]  # To, Cc, Delivered-To, X-Original-To and the envelope recipients
    reply_token: uuid.UUID | None  # the conversation a reply+<token>@ recipient names
    automatic: str | None  # why no automatic message may answer it (loops.py), None for a person's mail
    bounce: Bounce | None  # a delivery failure report
    notes: list[str] = field(default_factory=list)  # what was neutralised, shown to the agent

    @property
    def is_automatic(self) -> bool:
        return self.automatic is not None

    @property
    def bounce_for(self) -> list[str] | None:
        """Message-IDs (bare) a failure report is about, or None when the mail is no failure report."""
        return list(self.bounce.message_ids) if self.bounce else None


@dataclass
class _Body:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[NewAttachment] = field(default_factory=list)
    inline: dict[str, int] = field(default_factory=dict)  # content-id -> attachment index
    notes: list[str] = field(default_factory=list)
    leaves: int = 0
    skipped_parts: int = 0
    skipped_attachments: int = 0


def clean_text(value: str) -> str:
    """Text safe to store and show: line ends normalised, NUL/control characters and lone surrogates (what
    undecodable header bytes become) replaced."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATES.sub("\ufffd", _CONTROL.sub("\ufffd", value))


def _split_header_block(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(header block, separator, body) of the top-level message."""
    candidates = [(i, sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := raw.find(sep)) >= 0]
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw[: 2 if raw.startswith(b"\r\n") else 1], raw.lstrip(b"\r\n")
    if not candidates:
        return raw, b"", b""
    index, sep = min(candidates)
    return raw[:index], sep, raw[index + len(sep) :]


def _header_fields(block: bytes) -> list[bytes]:
    fields: list[bytes] = []
    for line in block.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def _check_headers(raw: bytes, notes: list[str]) -> bytes:
    """Refuse an oversized header block; drop single oversized fields (noted). Returns the raw mail to
    parse (unchanged unless a field was dropped)."""
    block, sep, body = _split_header_block(raw)
    if len(block) > limits.MAX_HEADER_BLOCK_BYTES:
        raise InvalidMail(f"the mail's header block is larger than {limits.MAX_HEADER_BLOCK_BYTES} bytes")
    fields = _header_fields(block)
    if len(fields) > limits.MAX_HEADER_FIELDS:
        raise InvalidMail(f"the mail has more than {limits.MAX_HEADER_FIELDS} header fields")
    kept = [f for f in fields if len(f) <= limits.MAX_HEADER_FIELD_BYTES]
    if len(kept) == len(fields):
        return raw
    dropped = sorted(
        {f.split(b":", 1)[0].decode("ascii", "replace").strip() for f in fields if f not in kept}
    )
    notes.append(
        f"header fields longer than {limits.MAX_HEADER_FIELD_BYTES} bytes were ignored: {', '.join(dropped)}"
    )
    rebuilt = b"".join(kept)
    if rebuilt and not rebuilt.endswith(b"\n"):
        rebuilt += b"\r\n"
    return rebuilt + (sep or b"\r\n") + body


def _raw_headers(msg: Message) -> dict[str, str]:
    """Top-level header fields as sent (first value per lower-case name), unfolded; never raises."""
    result: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = str(name).strip().lower()
        if key not in result:
            result[key] = clean_text(" ".join(str(value).split()))
    return result


def _decoded(msg: Message, name: str, fallback: str) -> str:
    """A header's decoded value (RFC 2047 words), or the raw value if the parser fails on it."""
    try:
        value = msg.get(name)
    except Exception:  # the header parser has crashed on hostile input before: never let it through
        return fallback
    return clean_text(" ".join(str(value).split())) if value is not None else fallback


def _address_list(msg: Message, name: str, raw: dict[str, str]) -> list[tuple[str, str]]:
    """(display name, lower-case address) pairs of an address header; falls back to a lenient parse."""
    pairs: list[tuple[str, str]] = []
    try:
        header = msg.get(name)
        addresses: Sequence[Address] = getattr(header, "addresses", ()) if header is not None else ()
        pairs = [(clean_text(a.display_name or ""), a.addr_spec.lower()) for a in addresses if a.addr_spec]
    except Exception:
        pairs = []
    if not pairs and raw.get(name):
        pairs = [(clean_text(n), a.lower()) for n, a in getaddresses([raw[name]]) if a]
    return [(n, a) for n, a in pairs if "@" in a and len(a) <= 320]


def _sent_at(msg: Message, raw: dict[str, str]) -> dt.datetime | None:
    try:
        header = msg.get("date")
        when = getattr(header, "datetime", None)
        if when is None and raw.get("date"):
            when = parsedate_to_datetime(raw["date"])
    except Exception:
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def _safe_filename(name: str | None, content_type: str, index: int) -> str:
    cleaned = clean_text(_UNSAFE_NAME.sub("_", name or "")).strip(" .")[:200]
    if cleaned:
        return cleaned
    extension = mimetypes.guess_extension(content_type) or ".bin"
    return f"attachment-{index}{extension}"


def _filename(part: Message) -> str | None:
    """The part's file name (RFC 2231 parameters and RFC 2047 words decoded), or None."""
    try:
        name = part.get_filename()
        return str(make_header(decode_header(name))) if name else None
    except Exception:  # an undecodable name: the part still counts, under a generated name
        return None


def _decode_text(part: Message, body: _Body) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else str(part.get_payload()).encode("utf-8", "replace")
    charset = str(part.get_content_charset() or "")
    try:
        text = data.decode(charset or "utf-8", "replace")
    except LookupError:
        body.notes.append(f"unknown character set {charset[:40]!r}: the text was read as UTF-8")
        text = data.decode("utf-8", "replace")
    return clean_text(text)


def _message_bytes(part: Message) -> bytes:
    """The bytes of an attached message (message/rfc822, delivery-status, …)."""
    inner = part.get_payload()
    try:
        if isinstance(inner, list):
            return b"\r\n".join(m.as_bytes(policy=policy.compat32) for m in inner if isinstance(m, Message))
        if isinstance(inner, Message):
            return inner.as_bytes(policy=policy.compat32)
    except Exception:  # a message the generator cannot write back: keep its text form instead
        return str(inner).encode("utf-8", "replace")
    return str(inner).encode("utf-8", "replace")


def _add_attachment(part: Message, body: _Body, content_type: str) -> None:
    if len(body.attachments) >= limits.MAX_ATTACHMENTS:
        body.skipped_attachments += 1
        return
    if content_type.startswith("message/"):
        data = _message_bytes(part)
        name = _filename(part) or ("forwarded-message.eml" if content_type == "message/rfc822" else None)
    else:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        name = _filename(part)
    index = len(body.attachments)
    body.attachments.append(
        NewAttachment(
            filename=_safe_filename(name, content_type, index + 1), content_type=content_type, data=data
        )
    )
    content_id = str(part.get("content-id") or "").strip()
    if content_id:
        body.inline[bare(content_id)] = index


def _walk(part: Message, depth: int, body: _Body) -> None:
    content_type = part.get_content_type()
    if part.is_multipart() and content_type.startswith("multipart/"):
        if depth >= limits.MAX_NESTING_DEPTH:
            body.notes.append(f"parts nested deeper than {limits.MAX_NESTING_DEPTH} levels were skipped")
            return
        children = part.get_payload()
        for child in children if isinstance(children, list) else []:
            if isinstance(child, Message):
                _walk(child, depth + 1, body)
        return
    body.leaves += 1
    if body.leaves > limits.MAX_PARTS:
        body.skipped_parts += 1
        return
    disposition = part.get_content_disposition()
    named = bool(part.get_filename())
    if content_type in ("text/plain", "text/html") and disposition != "attachment" and not named:
        (body.texts if content_type == "text/plain" else body.htmls).append(_decode_text(part, body))
        return
    _add_attachment(part, body, content_type)


def _visible_text(text: str, notes: list[str]) -> tuple[str, bool]:
    """The new part of the mail (quoted text and signature hidden) and whether anything was hidden."""
    full = text.strip()
    visible = full
    if full and len(full) <= limits.MAX_QUOTE_SCAN_CHARS:
        replies = EmailReplyParser(languages=list(REPLY_LANGUAGES)).read(full).replies
        latest = replies[0].body.strip() if replies else ""
        if latest:
            visible = latest
    elif full:
        notes.append(
            f"the text is longer than {limits.MAX_QUOTE_SCAN_CHARS} characters: quotes are not hidden"
        )
    if len(visible) > limits.MAX_TEXT_CHARS:
        notes.append(f"the text was cut at {limits.MAX_TEXT_CHARS} characters; the original is attached")
        visible = visible[: limits.MAX_TEXT_CHARS - 1].rstrip() + "…"
    return visible, visible != full


def _structure_problem(raw: bytes) -> str | None:
    for match in _PART_FIELD.finditer(raw):
        if len(match.group(0)) > limits.MAX_PART_HEADER_FIELD_BYTES:
            return (
                f"a part's header field is longer than {limits.MAX_PART_HEADER_FIELD_BYTES} bytes "
                "(a mail bomb or a broken mailer): its contents are not shown"
            )
    containers = len(_CONTAINER.findall(raw))
    if containers > limits.MAX_MULTIPART_CONTAINERS:
        return (
            f"the mail has more than {limits.MAX_MULTIPART_CONTAINERS} multipart sections "
            "(a mail bomb or a broken mailer): its contents are not shown"
        )
    return None


def parse_message(
    raw: bytes, *, envelope_sender: str | None = None, envelope_recipients: Sequence[str] = ()
) -> ParsedMail:
    """Parse one raw mail. Raises `InvalidMail` only for a mail refused as a whole (see the module doc);
    everything else is returned, hostile parts neutralised and listed in `.notes`."""
    if not raw.strip():
        raise InvalidMail("the mail is empty")
    if len(raw) > limits.MAX_MESSAGE_BYTES:
        raise InvalidMail(f"the mail is larger than {limits.MAX_MESSAGE_BYTES} bytes")
    notes: list[str] = []
    to_parse = _check_headers(raw, notes)
    block, _sep, _rest = _split_header_block(to_parse)
    # The top-level header fields, decoded by the modern policy (bounded by the header checks above).
    top = BytesParser(policy=policy.default).parsebytes(block + b"\r\n\r\n", headersonly=True)
    problem = _structure_problem(to_parse)
    body = _Body()
    tree: Message = top
    if problem:
        notes.append(problem)  # the body is never handed to the MIME parser
    else:
        try:
            # The structure is walked with compat32: its parameter parsing stays fast on hostile part
            # headers, where the modern header parser takes minutes on a megabyte of parameters.
            tree = BytesParser(policy=policy.compat32).parsebytes(to_parse)
            _walk(tree, 0, body)
        except Exception as exc:  # the stdlib parser must never turn a mail into a 500
            tree, body = top, _Body()
            notes.append(
                f"the mail's structure could not be read ({type(exc).__name__}): its contents are not shown"
            )
    notes.extend(body.notes)
    if body.skipped_parts:
        notes.append(f"{body.skipped_parts} parts beyond the first {limits.MAX_PARTS} were skipped")
    if body.skipped_attachments:
        notes.append(f"{body.skipped_attachments} attachments beyond {limits.MAX_ATTACHMENTS} were not kept")
    return _assemble(top, tree, raw, body, notes, envelope_sender, envelope_recipients)


def _assemble(
    msg: Message,
    tree: Message,
    raw: bytes,
    body: _Body,
    notes: list[str],
    envelope_sender: str | None,
    envelope_recipients: Sequence[str],
) -> ParsedMail:
    header = _raw_headers(msg)
    senders = _address_list(msg, "from", header)
    if not senders:
        fallback = parseaddr(header.get("sender", "") or envelope_sender or "")[1].lower()
        senders = [("", fallback)] if "@" in fallback else []
    if not senders:
        raise InvalidMail("the mail has no sender address (From)")
    name, sender = senders[0]
    recipients = [
        a for n in ("to", "cc", "delivered-to", "x-original-to") for _, a in _address_list(msg, n, header)
    ]
    recipients.extend(r.lower() for r in envelope_recipients if r)
    subject = _decoded(msg, "subject", header.get("subject", ""))[: limits.MAX_SUBJECT_CHARS]

    message_ids = parse_ids(header.get("message-id", ""))
    _block, _sep, raw_body = _split_header_block(raw)
    message_id = (
        message_ids[0]
        if message_ids
        else synthetic_id(
            sender.encode(), header.get("date", "").encode(), subject.encode("utf-8", "replace"), raw_body
        )
    )
    in_reply_to = next(iter(parse_ids(header.get("in-reply-to", ""))), None)
    references = parse_ids(header.get("references", ""))[-limits.MAX_REFERENCES :]

    text = "\n\n".join(t for t in body.texts if t.strip())
    html_source = "\n".join(body.htmls)
    if not text.strip() and html_source:
        text = html_to_text(html_source[: limits.MAX_HTML_CHARS])
    visible, hidden = _visible_text(text, notes)

    attachments = list(body.attachments)
    email_attrs: dict[str, Any] = {
        "message_id": message_id,
        "in_reply_to": in_reply_to,
        "references": references,
        "quoted_hidden": hidden,
        "inline": body.inline,
    }
    if html_source:
        if len(html_source) <= limits.MAX_HTML_CHARS:
            safe, blocked = sanitize_html(html_source)
            email_attrs["html"] = len(attachments)
            email_attrs["remote_images"] = blocked
            attachments.append(NewAttachment("message.html", "text/html", safe.encode("utf-8")))
        else:
            notes.append(
                f"the HTML body is larger than {limits.MAX_HTML_CHARS} characters: only its text is shown"
            )
    original_index = len(attachments)
    attachments.append(NewAttachment("original.eml", "message/rfc822", raw))
    automatic = automatic_reason(tree, sender, header)
    if automatic:
        email_attrs["automatic"] = automatic
    if notes:
        email_attrs["notes"] = notes
    if not visible.strip():
        visible = "(no text)" if not notes else "(this mail's contents are not shown: see the notes)"

    token = reply_token(recipients)
    incoming = IncomingMessage(
        external_contact_id=sender,
        provider_message_id=message_id,
        text=visible,
        contact_name=name[: limits.MAX_NAME_CHARS] or None,
        contact_email=sender,
        sent_at=_sent_at(msg, header),
        attachments=attachments,
        reply_to_provider_id=in_reply_to,
        content_attributes={"email": email_attrs, "original_attachment": original_index},
        thread=ThreadHint(
            message_ids=list(dict.fromkeys([*([in_reply_to] if in_reply_to else []), *reversed(references)])),
            conversation_token=token.hex if token else None,
        ),
        no_auto_reply=automatic,
    )
    return ParsedMail(
        incoming=incoming,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        sender=sender,
        recipients=list(dict.fromkeys(recipients)),
        reply_token=token,
        automatic=automatic,
        bounce=read_bounce(tree) if automatic else None,
        notes=notes,
    )
