"""Message-IDs and reply addresses: reading them from headers and making our own.

Every Message-ID is kept in its bare form (`local@domain`, no angle brackets, no spaces): it is the
e-mail dedupe key (`messages.provider_message_id`) and what threading compares.

Ours are `<rd.{message uuid}@{domain}>`: derived from the Relaydesk message id, so every retry of a
delivery sends the same id (the recipient's mail system sees one message, not two) and a reply or a bounce
that names it leads back to the message and its conversation even before the send was recorded. Replies
are also routed by the `Reply-To: reply+{token}@{reply domain}` address, where the token is the
conversation id (32 hex digits; 74 random bits in a UUIDv7, so not guessable; only looked up in the inbox
the mail arrived on).
"""

from __future__ import annotations

import hashlib
import re
import uuid

from relaydesk.channels.email.limits import MAX_ID_CHARS

_ID = re.compile(r"<([^<>\s]+)>")
_OURS = re.compile(r"^rd\.([0-9a-f]{32})@", re.IGNORECASE)
_TOKEN = re.compile(r"(?:^|[\s<,;:\"])reply\+([0-9a-f]{32})@", re.IGNORECASE)


def bare(message_id: str) -> str:
    """`<a@b>` -> `a@b`; an id too long for the column becomes a stable digest of itself."""
    value = message_id.strip().strip("<>").strip()
    if len(value) > MAX_ID_CHARS:
        value = "long." + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest() + "@relaydesk.invalid"
    return value


def parse_ids(header: str) -> list[str]:
    """Every `<id>` in a Message-ID / In-Reply-To / References value, in order, without repeats. A value
    without angle brackets (some old clients) counts as one id when it looks like one."""
    found = [bare(m) for m in _ID.findall(header)]
    if not found:
        token = header.strip()
        if token and "@" in token and " " not in token:
            found = [bare(token)]
    return list(dict.fromkeys(i for i in found if i))


def synthetic_id(*parts: bytes) -> str:
    """A stable id for a mail that has none: the same mail (same sender, date, subject and body) fetched
    twice, or by IMAP and by webhook, gets the same id, so it is stored once."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return f"synthetic.{digest.hexdigest()[:40]}@relaydesk.invalid"


def our_message_id(message_id: uuid.UUID | str, domain: str) -> str:
    """The bare Message-ID of one of our outgoing messages."""
    return f"rd.{uuid.UUID(str(message_id)).hex}@{domain}"


def ours(message_id: str) -> uuid.UUID | None:
    """The Relaydesk message id inside one of our Message-IDs, or None."""
    match = _OURS.match(message_id)
    return uuid.UUID(match.group(1)) if match else None


def reply_address(conversation_id: uuid.UUID | str, domain: str) -> str:
    return f"reply+{uuid.UUID(str(conversation_id)).hex}@{domain}"


def reply_token(addresses: list[str]) -> uuid.UUID | None:
    """The conversation named by the first `reply+<token>@` address among `addresses`."""
    for address in addresses:
        match = _TOKEN.search(" " + address)
        if match:
            return uuid.UUID(match.group(1))
    return None
