"""The API channel's spec: integrators post signed messages in and receive signed webhooks out.

Inbound: `POST /inbound/api/{inbox public id}` with headers
    X-Relaydesk-Timestamp: <unix seconds>
    X-Relaydesk-Signature: sha256=<hex HMAC-SHA256(inbound secret, "<timestamp>." + raw body)>
and a JSON body (docs/api-channel.md):
    {"type": "message", "id": "<integrator message id>", "contact": {"id": "...", "name", "email", "phone"},
     "text": "...", "timestamp": "<ISO 8601>", "reply_to": "<integrator message id>",
     "attachments": [{"filename", "content_type", "data_base64"}]}
    {"type": "status", "message_id": "<relaydesk message id>", "status": "delivered|read|failed", "reason"}

Outbound: a Standard Webhooks signed POST to the inbox's `webhook_url`; the webhook-id is the Relaydesk
message id, stable across retries, so the integrator drops redeliveries.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx

from relaydesk.channels.envelopes import IncomingMessage, NewAttachment
from relaydesk.channels.spec import (
    ChannelSpec,
    FieldSpec,
    InboundRequest,
    InvalidPayload,
    InvalidSignature,
    OutboundMessage,
    Parsed,
    PermanentSendError,
    RetryableSendError,
    SendResult,
    StatusUpdate,
    classify_http_error,
)
from relaydesk.outbound.signing import new_signing_secret, secret_bytes, signed_headers

TIMESTAMP_HEADER = "x-relaydesk-timestamp"
SIGNATURE_HEADER = "x-relaydesk-signature"
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def inbound_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret_bytes(secret), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _text(obj: dict[str, Any], key: str, *, required: bool = False, limit: int = 255) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise InvalidPayload(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{key} must be a string")
    if required and not value.strip():
        raise InvalidPayload(f"{key} must not be empty")
    if len(value) > limit:
        raise InvalidPayload(f"{key} is longer than {limit} characters")
    return value


def _timestamp(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPayload("timestamp must be an ISO 8601 string")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidPayload("timestamp must be an ISO 8601 string") from None
    if parsed.tzinfo is None:
        raise InvalidPayload("timestamp needs a time zone")
    return parsed.astimezone(dt.UTC)


class ApiChannel(ChannelSpec):
    name = "api"
    label = "API (signed webhooks)"
    credentials = (
        FieldSpec(
            "inbound_secret",
            "Inbound signing secret",
            kind="secret",
            required=True,
            generated=new_signing_secret,
            help="You sign what you send us with it (X-Relaydesk-Signature).",
        ),
        FieldSpec(
            "outbound_secret",
            "Outbound signing secret",
            kind="secret",
            required=True,
            generated=new_signing_secret,
            help="Verify what we deliver with it (Standard Webhooks signature).",
        ),
    )
    settings = (
        FieldSpec(
            "webhook_url",
            "Delivery URL",
            kind="url",
            help="Where replies are delivered as signed webhooks.",
        ),
    )
    content_types = ("application/json",)
    fake = "relaydesk.channels.api.fake:ApiIntegrator"

    def verify(self, request: InboundRequest, credentials: Mapping[str, Any], *, tolerance: int) -> None:
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not timestamp or not signature:
            raise InvalidSignature(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
        if not timestamp.isdigit():
            raise InvalidSignature(f"{TIMESTAMP_HEADER} must be unix seconds")
        skew = abs(request.received_at.timestamp() - int(timestamp))
        if skew > tolerance:
            raise InvalidSignature("timestamp outside the allowed window; check the sender's clock")
        secret = credentials.get("inbound_secret")
        if not secret:
            raise InvalidSignature("this inbox has no inbound secret")
        expected = inbound_signature(secret, timestamp, request.body)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise InvalidSignature("signature does not match")

    def _load(self, body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidPayload(f"body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidPayload("body must be a JSON object")
        return data

    def replay_key(self, request: InboundRequest) -> str | None:
        """The signature covers a timestamp, so the same signed bytes twice are a replay."""
        return request.headers.get(SIGNATURE_HEADER) or None

    def dedupe_key(self, request: InboundRequest) -> str | None:
        data = self._load(request.body)
        kind = data.get("type", "message")
        if kind == "message":
            return "message:" + (_text(data, "id", required=True) or "")
        if kind == "status":
            return f"status:{_text(data, 'message_id', required=True)}:{_text(data, 'status', required=True)}"
        raise InvalidPayload("type must be 'message' or 'status'")

    def parse(self, request: InboundRequest) -> Parsed:
        data = self._load(request.body)
        kind = data.get("type", "message")
        if kind == "status":
            status = _text(data, "status", required=True)
            if status not in ("delivered", "read", "failed"):
                raise InvalidPayload("status must be delivered, read or failed")
            return Parsed(
                statuses=[
                    StatusUpdate(
                        message_ref=_text(data, "message_id", required=True) or "",
                        status=status,
                        at=_timestamp(data.get("timestamp")),
                        reason=_text(data, "reason", limit=1000),
                        by_provider_id=False,
                    )
                ]
            )
        if kind != "message":
            raise InvalidPayload("type must be 'message' or 'status'")
        contact = data.get("contact")
        if not isinstance(contact, dict):
            raise InvalidPayload("contact must be an object with an id")
        attachments = self._attachments(data.get("attachments"))
        text = _text(data, "text", limit=20_000)
        if not (text and text.strip()) and not attachments:
            raise InvalidPayload("a message needs text or attachments")
        return Parsed(
            messages=[
                IncomingMessage(
                    external_contact_id=_text(contact, "id", required=True) or "",
                    provider_message_id=_text(data, "id", required=True) or "",
                    text=text,
                    contact_name=_text(contact, "name", limit=200),
                    contact_email=_text(contact, "email", limit=320),
                    contact_phone=_text(contact, "phone", limit=40),
                    sent_at=_timestamp(data.get("timestamp")),
                    attachments=attachments,
                    reply_to_provider_id=_text(data, "reply_to"),
                )
            ]
        )

    def _attachments(self, raw: Any) -> list[NewAttachment]:
        if raw is None:
            return []
        if not isinstance(raw, list) or len(raw) > 10:
            raise InvalidPayload("attachments must be a list of at most 10 objects")
        result = []
        for item in raw:
            if not isinstance(item, dict):
                raise InvalidPayload("each attachment must be an object")
            try:
                data = base64.b64decode(
                    _text(item, "data_base64", required=True, limit=14_000_000) or "", validate=True
                )
            except (binascii.Error, ValueError):
                raise InvalidPayload("attachment data_base64 is not valid base64") from None
            if len(data) > MAX_ATTACHMENT_BYTES:
                raise InvalidPayload("attachment larger than 10 MiB")
            result.append(
                NewAttachment(
                    filename=_text(item, "filename", required=True) or "file",
                    content_type=_text(item, "content_type", limit=120) or "application/octet-stream",
                    data=data,
                )
            )
        return result

    async def send(
        self,
        http: httpx.AsyncClient,
        message: OutboundMessage,
        credentials: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> SendResult:
        url = settings.get("webhook_url")
        if not url:
            # Waiting cannot fix this, so fail now with the reason on the message instead of retrying
            # at "sending" until the attempts run out.
            raise PermanentSendError(
                "this inbox has no delivery URL (webhook_url): set one in Admin > Inboxes, then retry"
            )
        body = json.dumps(
            {
                "type": "message.created",
                "id": message.message_id,
                "conversation": {"id": message.conversation_id, "number": message.conversation_number},
                "contact": {"id": message.recipient_external_id},
                "text": message.text,
                "reply_to": message.reply_to_provider_id,
                "sender": {"name": message.sender_name},
                "attachments": message.attachments,
                "created_at": message.created_at.isoformat() if message.created_at else None,
            },
            separators=(",", ":"),
        ).encode()
        headers = signed_headers(credentials["outbound_secret"], message.message_id, body)
        try:
            response = await http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableSendError(f"{type(exc).__name__}: {exc}") from exc
        if response.is_success:
            # Status receipts name our message id, so no provider id is recorded.
            return SendResult(provider_message_id=None, status="sent")
        raise classify_http_error(response)


SPEC = ApiChannel()
