"""Interim adapter until the channel spec contract lands (replaced by spec.py)."""

from __future__ import annotations

from typing import Any

import httpx

from relaydesk.channels.base import (
    InvalidPayload,
    InvalidSignature,
    OutboundMessage,
    Parsed,
    RawRequest,
    SendResult,
)


class WidgetChannel:
    channel_type = "widget"
    content_types: tuple[str, ...] = ()

    def verify(self, request: RawRequest, credentials: dict[str, Any], *, tolerance: int) -> None:
        raise InvalidSignature("the widget takes no webhook")

    def dedupe_key(self, request: RawRequest) -> str | None:
        return None

    def parse(self, body: bytes) -> Parsed:
        raise InvalidPayload("the widget takes no webhook")

    async def send(
        self,
        http: httpx.AsyncClient,
        message: OutboundMessage,
        credentials: dict[str, Any],
        settings: dict[str, Any],
    ) -> SendResult:
        return SendResult(provider_message_id=None, status="sent")
