"""The demo's own mail system on 127.0.0.1: an SMTP server (aiosmtpd) and an IMAP server (pymap, in memory).

`relaydesk demo` starts both before the web server, so the demo's e-mail inbox works end to end without any
mail provider: a newcomer sends a mail to the support address through the demo's SMTP server
(`relaydesk demo-mail send`), the SMTP server delivers it into the support mailbox on the IMAP server, the
inbox's IMAP receiver fetches it (IDLE), and the agent's or the AI's answer goes out by SMTP to the same
SMTP server, which keeps every mail for an outside address in a mailbox file (`relaydesk demo-mail inbox`
prints it). Nothing leaves the machine.

Where the servers listen is written to `.relaydesk/demo-mail.json` for the `demo-mail` commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mailbox
import secrets
import socket
import threading
from dataclasses import asdict, dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

STATE_FILE = Path(".relaydesk/demo-mail.json")
OUTBOX_FILE = Path(".relaydesk/demo-mail/outside.mbox")
SUPPORT_ADDRESS = "support@acme-demo.test"


@dataclass(frozen=True)
class DemoMailInfo:
    """Where the demo's mail servers listen (written for the `demo-mail` commands)."""

    smtp_port: int
    imap_port: int
    support_address: str
    imap_password: str
    outbox: str

    def save(self, path: Path = STATE_FILE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path = STATE_FILE) -> DemoMailInfo:
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: start `relaydesk demo` first (in this folder)")
        return cls(**json.loads(path.read_text()))


class _Delivery:
    """aiosmtpd handler: mail for the support address goes into its IMAP mailbox, everything else into
    the outside-world mailbox file."""

    def __init__(self, servers: DemoMailServers) -> None:
        self.servers = servers

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        for recipient in envelope.rcpt_tos:
            if recipient.lower() == self.servers.support_address:
                await asyncio.wrap_future(
                    asyncio.run_coroutine_threadsafe(
                        self.servers.imap.deliver(self.servers.support_address, data), self.servers.imap_loop
                    )
                )
            else:
                self.servers.keep_outside(recipient, data)
        return "250 Message accepted for delivery"


class DemoMailServers:
    """Both servers, each on an event loop of its own in a daemon thread (the web server keeps its loop)."""

    def __init__(self, *, support_address: str = SUPPORT_ADDRESS, outbox: Path = OUTBOX_FILE) -> None:
        self.support_address = support_address.lower()
        self.outbox = outbox
        self.imap_password = secrets.token_urlsafe(12)
        self._lock = threading.Lock()
        self.imap_loop = asyncio.new_event_loop()
        self._imap_thread = threading.Thread(target=self.imap_loop.run_forever, name="demo-imap", daemon=True)
        self._smtp: Any = None
        self.imap: Any = None

    def start(self) -> DemoMailInfo:
        from aiosmtpd.controller import Controller

        from relaydesk.channels.email.imap_server import LoopbackImapServer

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd narrates every connection at INFO
        self._imap_thread.start()
        self.imap = LoopbackImapServer({self.support_address: self.imap_password})
        asyncio.run_coroutine_threadsafe(self.imap.start(), self.imap_loop).result(30)
        self._smtp = Controller(_Delivery(self), hostname="127.0.0.1", port=_free_port())
        self._smtp.start()
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        info = DemoMailInfo(
            smtp_port=int(self._smtp.port),
            imap_port=int(self.imap.port),
            support_address=self.support_address,
            imap_password=self.imap_password,
            outbox=str(self.outbox.resolve()),
        )
        info.save()
        return info

    def keep_outside(self, recipient: str, data: bytes) -> None:
        """A mail for the outside world (a customer's address): appended to the mailbox file."""
        with self._lock:
            box = mailbox.mbox(self.outbox)
            try:
                message = mailbox.mboxMessage(data)
                message.set_from(recipient)
                box.add(message)
                box.flush()
            finally:
                box.close()

    def stop(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(Exception):
                self._smtp.stop()
        if self.imap is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.imap.close(), self.imap_loop).result(10)
        self.imap_loop.call_soon_threadsafe(self.imap_loop.stop)


def _free_port() -> int:
    """aiosmtpd's controller needs its port up front (it connects to itself to check it is up)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def send_demo_mail(sender: str, subject: str, body: str, *, in_reply_to: str | None = None) -> str:
    """Send a mail to the demo's support address through the demo's SMTP server; returns its Message-ID."""
    import smtplib
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    info = DemoMailInfo.load()
    message = EmailMessage()
    message["From"] = sender
    message["To"] = info.support_address
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or "example.com")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", info.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    return str(message["Message-ID"])


def outside_mail(recipient: str | None = None) -> list[dict[str, str]]:
    """The mails the demo sent to outside addresses (the agents' and the AI's answers), oldest first."""
    info = DemoMailInfo.load()
    path = Path(info.outbox)
    if not path.exists():
        return []
    found = []
    box = mailbox.mbox(path)
    try:
        for item in box:
            parsed = message_from_bytes(item.as_bytes(), policy=policy.default)
            to = str(parsed.get("To", ""))
            if recipient and recipient.lower() not in to.lower():
                continue
            body = parsed.get_body(preferencelist=("plain", "html"))
            found.append(
                {
                    "from": str(parsed.get("From", "")),
                    "to": to,
                    "subject": str(parsed.get("Subject", "")),
                    "date": str(parsed.get("Date", "")),
                    "message_id": str(parsed.get("Message-ID", "")),
                    "text": body.get_content() if body is not None else "",
                }
            )
    finally:
        box.close()
    return found
