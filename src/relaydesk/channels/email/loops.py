"""Mail loop prevention (RFC 3834): which inbound mails no automatic message may answer, and the headers
our own automatic mails carry so that other systems do not answer them either.

An automatic answer (the AI's auto-reply, an away message, an acknowledgement) sent to an out-of-office
reply, a mailing list or a bounce starts a loop or spams a list. Such mails are still stored (a customer's
out-of-office note is information for the agent); they are only marked, and every automatic path skips a
message with `content_attributes["email"]["automatic"]` set (actions/incoming.py does not even enqueue
the AI for it).
"""

from __future__ import annotations

from email.message import Message

# Headers our automatic mails carry (RFC 3834 §5; Microsoft's header asks Exchange/Outlook not to answer).
AUTOMATIC_HEADERS = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}

_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_SYSTEM_SENDERS = {"mailer-daemon", "postmaster"}
_SUPPRESS_VALUES = {"all", "autoreply", "oof"}


def automatic_reason(msg: Message, sender: str | None, header: dict[str, str]) -> str | None:
    """Why no automatic message may answer `msg` (a short, human-readable reason), or None.

    `header` holds the top-level header fields already read safely (lower-case names, first value);
    `sender` is the From address (lower case)."""
    auto = header.get("auto-submitted", "").split(";", 1)[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if name in header:
            return f"{name} header"
    suppress = {v.strip().lower() for v in header.get("x-auto-response-suppress", "").split(",")}
    if suppress & _SUPPRESS_VALUES:
        return "X-Auto-Response-Suppress asks for no automatic answer"
    precedence = header.get("precedence", "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    for name in ("list-id", "list-unsubscribe"):
        if name in header:
            return f"mailing list ({name})"
    if "return-path" in header and header["return-path"].strip() in ("<>", ""):
        return "empty Return-Path (a bounce or notification)"
    if msg.get_content_type() == "multipart/report":
        return "delivery or read report (multipart/report)"
    if sender:
        local = sender.split("@", 1)[0]
        if local in _SYSTEM_SENDERS:
            return f"system sender ({local})"
    return None
