"""Outbound mail: build an agent's reply as a threaded RFC 5322 message and hand it to the inbox's SMTP
server with `aiosmtplib`.

Threading (docs/email.md): our `Message-ID` is derived from the Relaydesk message id (ids.py), so a retried
delivery sends the same id; `In-Reply-To` names the customer's latest mail and `References` its chain plus
that mail; `Reply-To: reply+<conversation>@<reply domain>` routes an answer even from a client that drops
the headers. Automatic mails (AI answers, away messages) carry `Auto-Submitted: auto-replied` and
`X-Auto-Response-Suppress: All` (loops.py).

Errors: a 5xx answer is permanent (the reason is shown on the message); 4xx, a dropped connection or a
timeout is retried with backoff by the delivery job; an authentication failure is permanent with a reason
that tells the admin to fix the credentials. Plain SMTP (no TLS) is only allowed to a loopback server, for
tests and the demo: credentials and mail never cross a network in clear.

Where: the SMTP host is judged like every outbound connection (outbound/ssrf.py `checked_address`):
link-local and metadata addresses never, loopback and LAN only when the operator allows private targets
for channels. The checked address is dialled (no second DNS answer), and TLS still verifies the name.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from relaydesk.channels.email.loops import AUTOMATIC_HEADERS
from relaydesk.channels.envelopes import NewAttachment
from relaydesk.channels.spec import PermanentSendError, RetryableSendError
from relaydesk.outbound import ssrf

SECURITY_MODES = ("starttls", "tls", "plain")
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str = "starttls"  # starttls (587) | tls (implicit, 465) | plain (loopback only)
    username: str | None = None
    password: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass
class OutgoingMail:
    message_id: str  # bare
    from_address: str
    to_address: str
    subject: str
    text: str
    from_name: str | None = None
    reply_to: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    attachments: list[NewAttachment] = field(default_factory=list)
    automatic: bool = False


def reply_subject(subject: str | None) -> str:
    """`Re: <subject>` once, however many times the thread was answered."""
    subject = " ".join((subject or "").split())
    if not subject:
        return "Re: your message"
    return subject if subject.lower().startswith(("re:", "aw:", "sv:")) else f"Re: {subject}"


def text_to_html(text: str) -> str:
    """The HTML alternative of an agent's plain-text reply: escaped, paragraphs and line breaks kept."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    body = "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}</body></html>'


def _references(mail: OutgoingMail) -> list[str]:
    chain = list(mail.references)
    if mail.in_reply_to and (not chain or chain[-1] != mail.in_reply_to):
        chain.append(mail.in_reply_to)
    return list(dict.fromkeys(chain))[-30:]  # long enough to thread, short enough for any server


def build_mail(mail: OutgoingMail) -> EmailMessage:
    msg = EmailMessage()
    msg["Message-ID"] = f"<{mail.message_id}>"
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    local, _, domain = mail.from_address.partition("@")
    msg["From"] = Address(display_name=mail.from_name or "", username=local, domain=domain)
    msg["To"] = mail.to_address
    if mail.reply_to:
        msg["Reply-To"] = mail.reply_to
    msg["Subject"] = mail.subject
    if mail.in_reply_to:
        msg["In-Reply-To"] = f"<{mail.in_reply_to}>"
    refs = _references(mail)
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    if mail.automatic:
        for name, value in AUTOMATIC_HEADERS.items():
            msg[name] = value
    msg.set_content(mail.text)
    msg.add_alternative(text_to_html(mail.text), subtype="html")
    for att in mail.attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(
            att.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=att.filename,
        )
    return msg


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _status(exc: aiosmtplib.SMTPException) -> int | None:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return min(r.code for r in exc.recipients)
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) and code > 0 else None


def classify_smtp_error(exc: Exception) -> Exception:
    """One place that turns an SMTP failure into retry / permanent (with the server's words as reason)."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return PermanentSendError(
            f"the SMTP server refused the inbox's credentials ({exc.code} {exc.message}): "
            "update the SMTP username and password in Admin > Inboxes, then retry"
        )
    if isinstance(
        exc, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError)
    ):
        return RetryableSendError(f"SMTP connection failed: {exc}")
    if isinstance(exc, aiosmtplib.SMTPException):
        code = _status(exc)
        detail = str(exc)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            detail = f"{exc.code} {exc.message}"
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        if code is not None and code >= 500:
            return PermanentSendError(f"the mail server refused the message: {detail}"[:1000])
        return RetryableSendError(f"the mail server asked to try later: {detail}"[:1000])
    if isinstance(exc, (OSError, TimeoutError)):
        return RetryableSendError(f"SMTP connection failed: {type(exc).__name__}: {exc}")
    return exc


async def _dial(address: str, port: int, timeout: float) -> socket.socket:
    """A connected socket to the checked address, handed to aiosmtplib (which closes it)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (address, port)), timeout)
    except BaseException:
        sock.close()
        raise
    return sock


async def send_mail(
    server: SmtpServer,
    mail: OutgoingMail,
    *,
    allow_private: bool = False,
    tls_context: ssl.SSLContext | None = None,
) -> None:
    """Deliver one mail to the inbox's SMTP server; raises `RetryableSendError` or `PermanentSendError`.

    `tls_context` is for tests that run a TLS server with their own certificate authority."""
    if server.security not in SECURITY_MODES:
        raise PermanentSendError(f"unknown SMTP security {server.security!r}: use starttls, tls or plain")
    if server.security == "plain" and not _is_loopback(server.host):
        raise PermanentSendError(
            "plain SMTP (no TLS) is only allowed to a loopback server: use starttls or tls"
        )
    message = build_mail(mail)
    try:
        address = await ssrf.checked_address(
            server.host, server.port, allow_private=allow_private, what="the SMTP host"
        )
    except ssrf.BlockedDestination as exc:
        raise PermanentSendError(
            f"{exc}: set another SMTP host in Admin > Inboxes"
            + ("" if allow_private else " (private hosts need RELAYDESK_ALLOW_PRIVATE_TARGETS=channels)")
        ) from None
    except ConnectionError as exc:
        raise RetryableSendError(f"SMTP connection failed: {exc}") from None
    try:
        sock = await _dial(address, server.port, server.timeout)
        await aiosmtplib.send(
            message,
            sender=mail.from_address,
            recipients=[mail.to_address],
            hostname=server.host,
            sock=sock,
            username=server.username or None,
            password=server.password or None,
            use_tls=server.security == "tls",
            start_tls=True if server.security == "starttls" else False,
            tls_context=tls_context,
            timeout=server.timeout,
        )
    except Exception as exc:
        classified = classify_smtp_error(exc)
        if classified is exc:
            raise
        raise classified from exc
