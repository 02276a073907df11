"""The adapter contract shared by every channel."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from relaydesk.channels.envelopes import IncomingMessage


class InvalidSignature(Exception):
    """The request is not from the provider (bad, missing or stale signature): 401, nothing stored."""


class InvalidPayload(Exception):
    """The body is not what the provider sends: 400, nothing stored."""


@dataclass(frozen=True)
class RawRequest:
    headers: dict[str, str]
    body: bytes
    received_at: dt.datetime


@dataclass
class StatusUpdate:
    """A delivery receipt for one of our outbound messages."""

    message_ref: str
    status: str
    at: dt.datetime | None = None
    reason: str | None = None
    by_provider_id: bool = True


@dataclass
class Parsed:
    messages: list[IncomingMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)


@dataclass
class OutboundMessage:
    message_id: str
    conversation_id: str
    conversation_number: int
    recipient_external_id: str
    text: str | None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    reply_to_provider_id: str | None = None
    sender_name: str | None = None
    created_at: dt.datetime | None = None


@dataclass
class SendResult:
    provider_message_id: str | None
    status: str = "sent"


class PermanentSendError(Exception):
    """The provider refused for good (4xx other than 408/429): no retry."""


class RetryableSendError(Exception):
    """Timeout, 5xx, 429: retry with backoff (or after `retry_after` seconds)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChannelAdapter(Protocol):
    channel_type: str
    #: The media types the provider posts (`application/json`, or form-encoded for some); the webhook door
    #: refuses any other with 415 before verifying or storing anything.
    content_types: tuple[str, ...]

    def verify(self, request: RawRequest, credentials: dict[str, Any], *, tolerance: int) -> None: ...

    def dedupe_key(self, request: RawRequest) -> str | None: ...

    def parse(self, body: bytes) -> Parsed: ...

    async def send(
        self,
        http: httpx.AsyncClient,
        message: OutboundMessage,
        credentials: dict[str, Any],
        settings: dict[str, Any],
    ) -> SendResult: ...


def classify_http_error(response: httpx.Response) -> Exception:
    """One place that turns a provider's HTTP answer into retry / permanent."""
    if response.status_code in (408, 425, 429) or response.status_code >= 500:
        retry_after: float | None = None
        header = response.headers.get("retry-after")
        if header and header.isdigit():
            retry_after = float(header)
        return RetryableSendError(f"HTTP {response.status_code}", retry_after)
    return PermanentSendError(f"HTTP {response.status_code}")
