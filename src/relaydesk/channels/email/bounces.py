"""Delivery status notifications (RFC 3464): which of our mails could not be delivered, and why.

A DSN is `multipart/report; report-type=delivery-status` with a human-readable part, a
`message/delivery-status` part (per-recipient `Action`, `Status`, `Diagnostic-Code`) and the returned
message or its headers (`message/rfc822` or `text/rfc822-headers`), which carry the Message-ID we gave it.
Only `Action: failed` counts: `delayed` is a warning (the server still retries), `delivered`, `relayed` and
`expanded` are successes.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_string, policy
from email.message import Message

from relaydesk.channels.email.ids import parse_ids


@dataclass(frozen=True)
class Bounce:
    message_ids: list[str]  # the returned message's Message-ID (bare form), possibly empty
    reason: str


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def _status_blocks(report: Message) -> list[Message]:
    blocks = report.get_payload()
    return [b for b in blocks if isinstance(b, Message)] if isinstance(blocks, list) else []


def _returned_ids(part: Message) -> list[str]:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        inner_msg = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(inner_msg, Message):
            return parse_ids(str(inner_msg.get("message-id", "")))
        return []
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return []
    headers = message_from_string(payload.decode("utf-8", "replace"), policy=policy.compat32)
    return parse_ids(str(headers.get("message-id", "")))


def read_bounce(msg: Message) -> Bounce | None:
    """The failure a DSN reports, or None when `msg` is not a DSN reporting a failure."""
    if msg.get_content_type() != "multipart/report":
        return None
    if str(msg.get_param("report-type", "", header="content-type")).lower() != "delivery-status":
        return None
    parts = msg.get_payload()
    if not isinstance(parts, list):
        return None
    reasons: list[str] = []
    failed = False
    ids: list[str] = []
    for part in parts:
        if not isinstance(part, Message):
            continue
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in _status_blocks(part):
                if _text(block.get("action")).lower() != "failed":
                    continue
                failed = True
                recipient = _text(block.get("final-recipient")).split(";", 1)[-1].strip()
                status = _text(block.get("status"))
                diagnostic = _text(block.get("diagnostic-code")).split(";", 1)[-1].strip()
                detail = " ".join(x for x in (status, diagnostic) if x) or "delivery failed"
                reasons.append(f"{recipient}: {detail}" if recipient else detail)
        elif kind in ("message/rfc822", "text/rfc822-headers"):
            ids = ids or _returned_ids(part)
    if not failed:
        return None
    reason = "bounced: " + "; ".join(reasons)
    return Bounce(message_ids=ids, reason=reason[:1000])
