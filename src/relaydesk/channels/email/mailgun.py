"""Inbound mail by webhook, in Mailgun's format (routes with `forward()`; docs/email.md "Webhook").

Mailgun posts a form (`multipart/form-data`, or url-encoded without attachments) holding `timestamp`,
`token` and `signature` = hex HMAC-SHA256(signing key, timestamp + token), and either the whole mail
(`body-mime`, when the route URL asks for MIME) or the parsed mail (`message-headers` as a JSON list of
[name, value], `body-plain`, `body-html`, `attachment-1`…). Both become raw RFC 5322 bytes, so
`mime.parse_message` is the one parser for IMAP and webhook alike.

The stored request body must be readable again by the processing job, which has no request headers: a
multipart body names its own boundary on its first line, so it is read without the Content-Type header.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from urllib.parse import parse_qsl

from relaydesk.channels.spec import InvalidPayload, InvalidSignature

# Header fields of the parsed form that describe Mailgun's re-encoded body, not the mail's own.
_BODY_FIELDS = {"content-type", "content-transfer-encoding", "mime-version"}
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # RFC 5322 field name: printable ASCII except ':'
MAX_FORM_FIELDS = 200


@dataclass
class MailgunForm:
    fields: dict[str, str]  # decoded as UTF-8 (invalid bytes replaced)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (filename, content type, bytes)
    raw: dict[str, bytes] = field(default_factory=dict)  # the fields as sent: a mail in any charset

    def add(self, name: str, value: bytes) -> None:
        self.raw[name] = value
        self.fields[name] = value.decode("utf-8", "replace")


def read_form(body: bytes, content_type: str | None = None) -> MailgunForm:
    """The form fields and files of a Mailgun post: multipart by its Content-Type (kept with the stored
    event), or detected from the body's first line when the header is not at hand."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    stripped = body.lstrip(b"\r\n")
    if media == "multipart/form-data" or (not media and stripped.startswith(b"--")):
        return _multipart(stripped)
    try:
        # Latin-1 maps every byte (and every percent-escape) to one character and back: the fields come
        # out as the bytes that were sent, whatever their charset.
        pairs = parse_qsl(
            body.decode("latin-1"),
            keep_blank_values=True,
            strict_parsing=False,
            encoding="latin-1",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as exc:
        raise InvalidPayload(f"the body is not a form: {exc}") from None
    form = MailgunForm(fields={})
    for name, value in pairs:
        form.add(name.encode("latin-1").decode("utf-8", "replace"), value.encode("latin-1"))
    return form


def _multipart(body: bytes) -> MailgunForm:
    first_line = body.split(b"\n", 1)[0].rstrip(b"\r")
    boundary = first_line[2:].decode("ascii", "replace")
    if not boundary or len(boundary) > 200 or '"' in boundary:
        raise InvalidPayload("the multipart body has no usable boundary")
    head = f'Content-Type: multipart/form-data; boundary="{boundary}"\r\n\r\n'.encode()
    try:
        parsed = BytesParser(policy=policy.compat32).parsebytes(head + body)
    except Exception as exc:  # a malformed form is a 4xx, never a 500
        raise InvalidPayload(f"the multipart body cannot be read: {type(exc).__name__}") from None
    parts = parsed.get_payload()
    if not isinstance(parts, list) or not parts:
        raise InvalidPayload("the multipart body holds no fields")
    if len(parts) > MAX_FORM_FIELDS:
        raise InvalidPayload(f"the form has more than {MAX_FORM_FIELDS} fields")
    form = MailgunForm(fields={})
    for part in parts:
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            form.files.append((filename, part.get_content_type(), data))
        else:
            form.add(name, data)
    return form


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def verify(form: MailgunForm, signing_key: str | None, *, now: float, tolerance: int) -> None:
    timestamp, token, signature = (form.fields.get(k, "") for k in ("timestamp", "token", "signature"))
    if not (timestamp and token and signature):
        raise InvalidSignature("missing timestamp, token or signature field")
    if not signing_key:
        raise InvalidSignature("this inbox has no Mailgun signing key")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        raise InvalidSignature("timestamp outside the allowed window; check the sender's clock")
    expected = mailgun_signature(signing_key, timestamp, token)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise InvalidSignature("signature does not match")


def raw_mail(form: MailgunForm) -> bytes:
    """The mail as RFC 5322 bytes: `body-mime` as posted, or rebuilt from the parsed fields."""
    mime = form.raw.get("body-mime")
    if mime:
        return mime  # the bytes as sent: its charset is the mail's business (mime.parse_message)
    try:
        headers = json.loads(form.fields.get("message-headers") or "[]")
    except json.JSONDecodeError:
        raise InvalidPayload("message-headers is not JSON") from None
    if not isinstance(headers, list):
        raise InvalidPayload("message-headers must be a list of [name, value] pairs")
    body = EmailMessage()
    body.set_content(form.fields.get("body-plain", ""))
    html = form.fields.get("body-html")
    if html:
        body.add_alternative(html, subtype="html")
    for filename, content_type, data in form.files:
        maintype, _, subtype = content_type.partition("/")
        body.add_attachment(
            data, maintype=maintype or "application", subtype=subtype or "octet-stream", filename=filename
        )
    lines: list[str] = []
    for pair in headers:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise InvalidPayload("message-headers must be a list of [name, value] pairs")
        name, value = pair
        if not _HEADER_NAME.match(name) or name.lower() in _BODY_FIELDS:
            continue
        # Values arrive unfolded; any line break in one would inject a header, so it becomes a space.
        lines.append(f"{name}: {' '.join(value.split())}")
    if not any(line.lower().startswith("from:") for line in lines) and form.fields.get("from"):
        lines.append(f"From: {' '.join(form.fields['from'].split())}")
    mime_part = body.as_bytes(policy=policy.SMTP)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "replace") + mime_part
