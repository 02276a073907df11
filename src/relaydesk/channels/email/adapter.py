"""The e-mail channel's adapter: inbound by Mailgun-format webhook (mailgun.py) or IMAP (imap.py), both
through `mime.parse_message`; outbound by SMTP (smtp.py).

Pure like every adapter: no database. What a reply needs from the conversation (the customer's latest
Message-ID, its References, the subject) arrives in the `OutboundMessage`; what threading needs from an
inbound mail leaves in the `IncomingMessage.thread` hint, resolved by actions/incoming.py.
"""

from __future__ import annotations

from typing import Any

import httpx

from relaydesk.channels.base import (
    OutboundMessage,
    Parsed,
    PermanentSendError,
    RawRequest,
    SendResult,
    StatusUpdate,
)
from relaydesk.channels.email import ids, mailgun
from relaydesk.channels.email.mime import ParsedMail, parse_message
from relaydesk.channels.email.smtp import OutgoingMail, SmtpServer, reply_subject, send_mail


def to_parsed(mail: ParsedMail) -> Parsed:
    """A parsed mail as the inbound pipeline takes it: a failure report about one of our messages becomes
    a failed delivery status with the reason (not a conversation); anything else is a message."""
    if mail.bounce is not None and mail.bounce.message_ids:
        statuses = []
        for message_id in mail.bounce.message_ids:
            ours = ids.ours(message_id)
            statuses.append(
                StatusUpdate(
                    message_ref=str(ours) if ours else message_id,
                    status="failed",
                    at=mail.incoming.sent_at,
                    reason=mail.bounce.reason,
                    by_provider_id=ours is None,
                )
            )
        return Parsed(statuses=statuses)
    return Parsed(messages=[mail.incoming])


def dedupe_key(mail: ParsedMail) -> str:
    return f"mail:{mail.message_id}"


def message_id_domain(settings: dict[str, Any]) -> str:
    """The domain of our Message-IDs: the reply domain, else the sending address's domain."""
    domain = (settings.get("reply_domain") or "").strip() or (settings.get("from_address") or "").partition(
        "@"
    )[2]
    if not domain:
        raise PermanentSendError("this inbox has no sending address: set one in Admin > Inboxes, then retry")
    return domain


def smtp_server(credentials: dict[str, Any], settings: dict[str, Any]) -> SmtpServer:
    host = (settings.get("smtp_host") or "").strip()
    if not host:
        raise PermanentSendError("this inbox has no SMTP server: set one in Admin > Inboxes, then retry")
    security = settings.get("smtp_security") or "starttls"
    default_port = {"tls": 465, "starttls": 587}.get(security, 25)
    return SmtpServer(
        host=host,
        port=int(settings.get("smtp_port") or default_port),
        security=security,
        username=settings.get("smtp_username") or None,
        password=credentials.get("smtp_password") or None,
    )


def outgoing_mail(message: OutboundMessage, settings: dict[str, Any], thread: dict[str, Any]) -> OutgoingMail:
    """The mail for one agent (or AI) message. `thread` holds what the conversation says about the
    customer's mails: `in_reply_to`, `references`, `subject`; `automatic` marks an automatic message."""
    domain = message_id_domain(settings)
    from_address = settings.get("from_address") or ""
    from_name = message.sender_name or settings.get("from_name") or None
    if message.sender_name and settings.get("from_name"):
        from_name = f"{message.sender_name} ({settings['from_name']})"
    reply_domain = (settings.get("reply_domain") or "").strip()
    return OutgoingMail(
        message_id=ids.our_message_id(message.message_id, domain),
        from_address=from_address,
        from_name=from_name,
        to_address=message.recipient_external_id,
        subject=reply_subject(thread.get("subject")),
        text=message.text or "",
        reply_to=ids.reply_address(message.conversation_id, reply_domain) if reply_domain else None,
        in_reply_to=thread.get("in_reply_to") or message.reply_to_provider_id,
        references=list(thread.get("references") or []),
        attachments=list(thread.get("attachments") or []),
        automatic=bool(thread.get("automatic")),
    )


class EmailChannel:
    channel_type = "email"
    content_types = ("multipart/form-data", "application/x-www-form-urlencoded")

    def verify(self, request: RawRequest, credentials: dict[str, Any], *, tolerance: int) -> None:
        form = mailgun.read_form(request.body)
        mailgun.verify(
            form,
            credentials.get("mailgun_signing_key"),
            now=request.received_at.timestamp(),
            tolerance=tolerance,
        )

    def _mail(self, body: bytes) -> ParsedMail:
        form = mailgun.read_form(body)
        recipient = form.fields.get("recipient", "")
        return parse_message(
            mailgun.raw_mail(form),
            envelope_sender=form.fields.get("sender") or None,
            envelope_recipients=[r.strip() for r in recipient.split(",") if r.strip()],
        )

    def dedupe_key(self, request: RawRequest) -> str | None:
        return dedupe_key(self._mail(request.body))

    def parse(self, body: bytes) -> Parsed:
        return to_parsed(self._mail(body))

    async def send(
        self,
        http: httpx.AsyncClient,
        message: OutboundMessage,
        credentials: dict[str, Any],
        settings: dict[str, Any],
        thread: dict[str, Any] | None = None,
    ) -> SendResult:
        mail = outgoing_mail(message, settings, thread or {})
        if not mail.from_address:
            raise PermanentSendError(
                "this inbox has no sending address: set one in Admin > Inboxes, then retry"
            )
        await send_mail(smtp_server(credentials, settings), mail)
        return SendResult(provider_message_id=mail.message_id, status="sent")
