"""The normalised, provider-independent shapes adapters produce; pure dataclasses, no database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass
class NewAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class IncomingMessage:
    """A customer's message as an adapter parsed it: everything the database needs, nothing provider-shaped."""

    external_contact_id: str
    provider_message_id: str
    text: str | None
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    sent_at: dt.datetime | None = None
    attachments: list[NewAttachment] = field(default_factory=list)
    reply_to_provider_id: str | None = None
    content_attributes: dict[str, Any] = field(default_factory=dict)
