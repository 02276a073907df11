"""Loopback fakes for the e-mail channel (docs/email.md "Testing"): a real SMTP server and a Mailgun driver.

`FakeSmtpServer` is `aiosmtpd` listening on 127.0.0.1 on a port the system picks: it speaks real SMTP
(EHLO, STARTTLS, AUTH, implicit TLS when given a certificate), records every message it accepts, and can
be scripted to answer a failure (`451` try later, `550` refused) for the next messages or for one
recipient. `MailgunDriver` posts a mail to our webhook the way Mailgun's routes do: a multipart form signed
with hex HMAC-SHA256(signing key, timestamp + token).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import ssl
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from relaydesk.channels.email.mailgun import mailgun_signature


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    received: list[ReceivedMail] = field(default_factory=list)
    data_answers: list[str] = field(default_factory=list)  # answers to DATA, used up in order
    refused_recipients: dict[str, str] = field(default_factory=dict)  # address -> answer to RCPT
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        answer = self.refused_recipients.get(address.lower())
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_answers:
            return self.data_answers.pop(0)
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode()
        self.received.append(ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), data))
        self.arrived.set()
        return "250 2.0.0 Message accepted for delivery"


class FakeSmtpServer:
    """`async with FakeSmtpServer() as smtp:` then send to `smtp.host`, `smtp.port`.

    `tls_context`: a server certificate; with `implicit_tls` the socket is TLS from the start (port 465
    style), else STARTTLS is offered. `credentials`: (username, password) required by AUTH."""

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.handler = _Handler()
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls
        self._credentials = credentials
        self._server: asyncio.base_events.Server | None = None

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.received

    def answer_next(self, *answers: str) -> None:
        """Answer the next DATA commands with these replies, e.g. `"451 4.3.0 Try again later"`."""
        self.handler.data_answers.extend(answers)

    def refuse_recipient(self, address: str, answer: str = "550 5.1.1 User unknown") -> None:
        self.handler.refused_recipients[address.lower()] = answer

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if self._credentials and isinstance(data, LoginPassword):
            username, password = self._credentials
            ok = hmac.compare_digest(data.login, username.encode()) and hmac.compare_digest(
                data.password, password.encode()
            )
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    def _protocol(self) -> SMTP:
        return SMTP(
            self.handler,
            hostname="fake-smtp.localhost",
            tls_context=None if self._implicit_tls else self._tls_context,
            authenticator=self._authenticate if self._credentials else None,
            auth_required=self._credentials is not None,
            # Over plain loopback only (tests and the demo); the real sender refuses plain SMTP elsewhere.
            auth_require_tls=self._tls_context is not None,
        )

    async def start(self) -> FakeSmtpServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self.host, 0, ssl=self._tls_context if self._implicit_tls else None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeSmtpServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.handler.arrived.clear()
                await self.handler.arrived.wait()
        return self.received


class MailgunDriver:
    """Builds and signs the form Mailgun's route `forward()` posts for one received mail."""

    def __init__(self, signing_key: str) -> None:
        self.signing_key = signing_key

    def signed_fields(self, timestamp: int | None = None, token: str | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        token = token or secrets.token_hex(25)
        return {
            "timestamp": stamp,
            "token": token,
            "signature": mailgun_signature(self.signing_key, stamp, token),
        }

    def mime_form(self, raw: bytes, recipient: str, sender: str, **signing: Any) -> dict[str, Any]:
        """The fields of a route whose URL asks for the whole MIME message (`body-mime`)."""
        parsed = message_from_bytes(raw, policy=policy.compat32)
        return {
            "recipient": recipient,
            "sender": sender,
            "from": str(parsed.get("from", "")),
            "subject": str(parsed.get("subject", "")),
            "body-mime": raw.decode("utf-8", "surrogateescape"),
            **self.signed_fields(**signing),
        }

    def parsed_form(
        self, raw: bytes, recipient: str, sender: str, **signing: Any
    ) -> tuple[dict[str, str], list[Any]]:
        """The fields (and files) of a route posting the parsed mail: `message-headers`, `body-plain`,
        `body-html`, `stripped-text`, `attachment-N`."""
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        plain = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        files = []
        # Mailgun posts every file part, inline images included, as attachment-N.
        leaves = [p for p in msg.walk() if not p.is_multipart() and p is not plain and p is not html]
        for n, part in enumerate(leaves, start=1):
            payload = part.get_payload(decode=True) or b""
            files.append(
                (f"attachment-{n}", (part.get_filename() or f"file{n}", payload, part.get_content_type()))
            )
        fields = {
            "recipient": recipient,
            "sender": sender,
            "from": str(msg.get("from", "")),
            "subject": str(msg.get("subject", "")),
            "Message-Id": str(msg.get("message-id", "")),
            "message-headers": json.dumps([[k, str(v)] for k, v in msg.items()]),
            "body-plain": plain.get_content() if plain is not None else "",
            "attachment-count": str(len(files)),
            **self.signed_fields(**signing),
        }
        if html is not None:
            fields["body-html"] = html.get_content()
        return fields, files
