"""The e-mail channel's spec: inbound by Mailgun-format webhook (mailgun.py) or IMAP (imap.py), both
through `mime.parse_message`; outbound by SMTP (smtp.py). docs/email.md describes the setup.

Pure like every spec: no database. What a reply needs from the conversation (the customer's latest
Message-ID and References, the subject of the mail it answers) arrives in `OutboundMessage.reply_context`;
what threading needs from an inbound mail leaves in the `IncomingMessage.thread` hint, which
actions/incoming.py resolves.
"""

from __future__ import annotations

from collections.abc import Mapping
from email import policy
from email.parser import BytesHeaderParser
from typing import Any

import httpx

from relaydesk.channels.email import ids, limits, mailgun
from relaydesk.channels.email.mime import ParsedMail, parse_message
from relaydesk.channels.email.smtp import OutgoingMail, SmtpServer, reply_subject, send_mail
from relaydesk.channels.spec import (
    ChannelSpec,
    FieldSpec,
    InboundRequest,
    OutboundMessage,
    Parsed,
    PermanentSendError,
    SendResult,
    StatusUpdate,
)
from relaydesk.outbound import ssrf


def to_parsed(mail: ParsedMail) -> Parsed:
    """A parsed mail as the inbound pipeline takes it (webhook and IMAP alike): a failure report about our
    messages becomes failed delivery statuses with the reason, not a conversation; anything else is a
    message."""
    ours = [found for found in map(ids.ours, mail.bounce_for or []) if found is not None]
    if mail.bounce is not None and ours:
        return Parsed(
            statuses=[
                StatusUpdate(
                    message_ref=str(message_id),
                    status="failed",
                    at=mail.incoming.sent_at,
                    reason=mail.bounce.reason,
                    by_provider_id=False,  # our Message-ID carries our message id: no lookup by provider id
                )
                for message_id in ours
            ]
        )
    # A bounce about a mail we did not send stays a (no-auto-reply) message, so it is not lost.
    return Parsed(messages=[mail.incoming])


def dedupe_key(mail: ParsedMail) -> str:
    """The e-mail dedupe key: the Message-ID (the same mail by IMAP and by webhook is stored once)."""
    return f"mail:{mail.message_id}"


def message_id_domain(settings: Mapping[str, Any]) -> str:
    """The domain of our Message-IDs: the reply domain, else the sending address's domain."""
    domain = (settings.get("reply_domain") or "").strip() or str(
        settings.get("from_address") or ""
    ).partition("@")[2]
    if not domain:
        raise PermanentSendError("this inbox has no sending address: set one in Admin > Inboxes, then retry")
    return domain


def smtp_server(credentials: Mapping[str, Any], settings: Mapping[str, Any]) -> SmtpServer:
    host = str(settings.get("smtp_host") or "").strip()
    if not host:
        raise PermanentSendError("this inbox has no SMTP server: set one in Admin > Inboxes, then retry")
    security = settings.get("smtp_security") or "starttls"
    return SmtpServer(
        host=host,
        port=int(settings.get("smtp_port") or {"tls": 465, "starttls": 587}.get(security, 25)),
        security=security,
        username=settings.get("smtp_username") or None,
        password=credentials.get("smtp_password") or None,
    )


def _original_subject(original: bytes | None) -> str | None:
    if not original:
        return None
    headers = BytesHeaderParser(policy=policy.default).parsebytes(original[: 256 * 1024])
    try:
        return str(headers.get("subject") or "") or None
    except Exception:  # an undecodable subject: the reply gets the default subject
        return None


def outgoing_mail(message: OutboundMessage, settings: Mapping[str, Any]) -> OutgoingMail:
    """The mail for one agent (or AI) message: threaded on the customer's latest mail, automatic (loop
    headers) when no person wrote it."""
    domain = message_id_domain(settings)
    from_name = settings.get("from_name") or None
    if message.sender_name:
        from_name = f"{message.sender_name} ({from_name})" if from_name else message.sender_name
    reply_domain = str(settings.get("reply_domain") or "").strip()
    context = message.reply_context
    attrs = (context.attributes.get("email") or {}) if context else {}
    in_reply_to = (context.provider_message_id if context else None) or message.reply_to_provider_id
    return OutgoingMail(
        message_id=ids.our_message_id(message.message_id, domain),
        from_address=str(settings.get("from_address") or ""),
        from_name=from_name,
        to_address=message.recipient_external_id,
        subject=reply_subject(_original_subject(context.original) if context else None),
        text=message.text or "",
        reply_to=ids.reply_address(message.conversation_id, reply_domain) if reply_domain else None,
        in_reply_to=in_reply_to,
        references=[r for r in attrs.get("references") or [] if isinstance(r, str)],
        attachments=list(message.files),
        automatic=message.sent_by != "agent",
    )


#: The media type of a stored event that holds a whole RFC 5322 mail (fetched by IMAP), not a webhook form.
RAW_MAIL = "message/rfc822"


class EmailSpec(ChannelSpec):
    name = "email"
    label = "E-mail"
    credentials = (
        FieldSpec("smtp_password", "SMTP password", "secret", help="Sealed; never shown again."),
        FieldSpec("imap_password", "IMAP password", "secret", help="Sealed; never shown again."),
        FieldSpec(
            "mailgun_signing_key",
            "Mailgun webhook signing key",
            "secret",
            help="Only for inbound mail by Mailgun webhook (Mailgun > Settings > Webhook signing key).",
        ),
    )
    settings = (
        FieldSpec("from_address", "Sending address", "email", required=True, max_length=320),
        FieldSpec("from_name", "Sender name", max_length=120, help="Shown after the agent's name."),
        FieldSpec(
            "reply_domain",
            "Reply domain",
            "host",
            help="Replies go to reply+<conversation>@ this domain; route it to this inbox (IMAP or webhook).",
        ),
        FieldSpec("smtp_host", "SMTP host", "host", required=True),
        FieldSpec("smtp_port", "SMTP port", "port", default=587),
        FieldSpec(
            "smtp_security",
            "SMTP security",
            "choice",
            default="starttls",
            choices=("starttls", "tls", "plain"),
            help="STARTTLS (587) or implicit TLS (465); plain only to a server on this machine.",
        ),
        FieldSpec("smtp_username", "SMTP username", max_length=320),
        FieldSpec("imap_host", "IMAP host", "host", help="Leave empty to receive by webhook only."),
        FieldSpec("imap_port", "IMAP port", "port", default=993),
        FieldSpec(
            "imap_security",
            "IMAP security",
            "choice",
            default="tls",
            choices=("tls", "starttls", "plain"),
            help="Implicit TLS (993) or STARTTLS (143); plain only to a server on this machine.",
        ),
        FieldSpec("imap_username", "IMAP username", max_length=320),
        FieldSpec("imap_mailbox", "IMAP folder", default="INBOX", max_length=200),
    )
    content_types = ("multipart/form-data", "application/x-www-form-urlencoded")
    invalid_payload_status = 406  # Mailgun retries anything but 200 and 406 for 8 hours
    raw_body = True  # a mail may hold any charset and NUL bytes: mime.parse_message neutralises them
    # A largest mail, plus room for the parsed copies Mailgun posts beside or instead of it.
    max_body_bytes = limits.MAX_MESSAGE_BYTES + 12 * 1024 * 1024
    wants_attachment_bytes = True
    wants_reply_context = True
    fake = "relaydesk.channels.email.fake:FakeSmtpServer"
    #: The IMAP receiver the worker runs for an inbox with an IMAP host (channels/email/imap_receiver.py).
    receiver = "relaydesk.channels.email.imap_receiver:receiver"
    routes = "relaydesk.channels.email.routes:ROUTES"

    def verify(self, request: InboundRequest, credentials: Mapping[str, Any], *, tolerance: int) -> None:
        form = mailgun.read_form(request.body, request.headers.get("content-type"))
        mailgun.verify(
            form,
            credentials.get("mailgun_signing_key"),
            now=request.received_at.timestamp(),
            tolerance=tolerance,
        )

    def mail(self, request: InboundRequest) -> ParsedMail:
        if request.headers.get("content-type", "").startswith(RAW_MAIL):
            return parse_message(request.body)  # fetched by IMAP: the mail itself, stored as it came
        form = mailgun.read_form(request.body, request.headers.get("content-type"))
        recipient = form.fields.get("recipient", "")
        return parse_message(
            mailgun.raw_mail(form),
            envelope_sender=form.fields.get("sender") or None,
            envelope_recipients=[r.strip() for r in recipient.split(",") if r.strip()],
        )

    def dedupe_key(self, request: InboundRequest) -> str | None:
        return dedupe_key(self.mail(request))

    def parse(self, request: InboundRequest) -> Parsed:
        return to_parsed(self.mail(request))

    async def send(
        self,
        http: httpx.AsyncClient,
        message: OutboundMessage,
        credentials: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> SendResult:
        """SMTP is not HTTP: `http` only says whether the operator lets channels reach private hosts."""
        mail = outgoing_mail(message, settings)
        if not mail.from_address:
            raise PermanentSendError(
                "this inbox has no sending address: set one in Admin > Inboxes, then retry"
            )
        await send_mail(smtp_server(credentials, settings), mail, allow_private=ssrf.private_allowed(http))
        return SendResult(provider_message_id=mail.message_id, status="sent")


SPEC = EmailSpec()
