"""The one contract every channel declares: `channels/<x>/spec.py` exports `SPEC`, an instance of a
`ChannelSpec` subclass, and the registry (channels/registry.py) lists it.

A spec says everything the rest of Relaydesk needs to know about a channel, so nothing outside
`channels/` carries channel knowledge:

- **Configuration**: `credentials` (sealed at rest, never shown back; a `generated` one is made by us, can
  be rotated and revealed on purpose by an owner) and `settings` (plain JSON on the inbox), each a tuple of
  `FieldSpec`. The admin form and `POST/PATCH /api/v1/inboxes` are generated from and validated by them
  (`validate_fields`, one validator; the 400 names the field), and `GET /api/v1/channels` publishes them.
- **Inbound over HTTP** (the door `inbound/webhook.py`, `/inbound/{channel}/{inbox public id}`):
  `content_types` the provider POSTs (empty: the channel takes no webhook), an optional GET `handshake`
  (Meta's `hub.challenge`), `verify` on the raw bytes (and on the public URL and form fields where a
  signature covers them: Twilio), `replay_key` (only for timestamped signatures, where the same signed
  bytes twice are a replay), `dedupe_key` (the provider's event id: a redelivery is stored once) and
  `parse` to provider-neutral envelopes (channels/envelopes.py). `acknowledge` shapes the 2xx answer when a
  provider wants something other than our JSON (Twilio's empty TwiML).
- **Inbound not over webhooks**: `receiver` (a background task the worker runs per active inbox, e.g. IMAP
  IDLE; see `Receiver` / `ReceiverContext`) and `routes` (extra HTTP handlers the server mounts, e.g. the
  widget's visitor API). Both are import paths, loaded only when used, so the spec module stays pure.
- **Outbound**: `pre_send` (rules that refuse before any provider call: reply windows, opt-out) and `send`
  over the SSRF-guarded client it is given, raising one of the three error classes (`RetryableSendError`,
  `PermanentSendError`, `ReauthorisationNeeded`); `classify_http_error` is the shared HTTP mapping.
  `fetch_media` downloads a provider-hosted attachment (`MediaRef` in an `IncomingMessage.media`), from
  the provider's own hosts only (`require_provider_host`, `download`), in a job after the message is
  stored (jobs/handlers/media.py).
- **Tests**: `fake`, the import path of the channel's loopback fake (a provider stand-in on 127.0.0.1
  speaking the real wire format); tests/core/test_channel_folders.py checks every folder has one.

Specs are pure: no database, no models, no privacy layer (tests/core/test_layering.py). Only a channel's
`routes` module is a door and may use the runtime and the actions, like `api/` does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol
from urllib.parse import urlsplit

import httpx

from relaydesk.channels.envelopes import IncomingMessage, MediaRef, NewAttachment

# ----------------------------------------------------------------------------------------------------------
# Configuration schema


FieldKind = Literal["text", "secret", "url", "email", "int", "bool", "choice", "lines", "host", "port"]
FIELD_KINDS: tuple[str, ...] = (
    "text",
    "secret",
    "url",
    "email",
    "int",
    "bool",
    "choice",
    "lines",
    "host",
    "port",
)


class FieldError(ValueError):
    """A credential or setting value does not fit its `FieldSpec`; `field` names it (the API's 400 does)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class FieldSpec:
    """One credential or setting of a channel.

    `generated` makes Relaydesk create the value when the inbox is created (a signing secret): such a
    credential is never typed by an admin, can be rotated, and an owner may reveal it on purpose. Other
    credentials (provider tokens) are given by the admin and can only be replaced, never read back.
    `max_length` bounds text-like values; `minimum`/`maximum` bound `int` (a `port` is 1-65535)."""

    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = False
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    generated: Callable[[], str] | None = None
    max_length: int = 2000
    minimum: int | None = None
    maximum: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"{self.name}: unknown field kind {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"{self.name}: a choice field needs choices")

    @property
    def secret(self) -> bool:
        return self.kind == "secret"

    def schema(self) -> dict[str, Any]:
        """The field as `GET /api/v1/channels` publishes it: its shape, never a value of any inbox."""
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "required": self.required,
            "generated": self.generated is not None,
            "help": self.help,
        }
        if self.default is not None and not self.secret:
            out["default"] = self.default
        if self.choices:
            out["choices"] = list(self.choices)
        if self.kind == "int" and (self.minimum is not None or self.maximum is not None):
            out["minimum"], out["maximum"] = self.minimum, self.maximum
        return out

    def coerce(self, value: Any) -> Any:
        """The value in its stored form, or `FieldError`. Form posts give strings for every kind, so an
        `int`, `bool`, `port` or `lines` field accepts its string spelling too."""
        kind = self.kind
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("on", "true", "1", "yes"):
                return True
            if isinstance(value, str) and value.strip().lower() in ("", "off", "false", "0", "no"):
                return False
            raise FieldError(self.name, "must be true or false")
        if kind in ("int", "port"):
            if isinstance(value, str) and re.fullmatch(r"-?\d{1,12}", value.strip()):
                value = int(value.strip())
            if not isinstance(value, int) or isinstance(value, bool):
                raise FieldError(self.name, "must be a whole number")
            low, high = (1, 65535) if kind == "port" else (self.minimum, self.maximum)
            if (low is not None and value < low) or (high is not None and value > high):
                raise FieldError(self.name, f"must be between {low} and {high}")
            return value
        if kind == "lines":
            items = value.splitlines() if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                raise FieldError(self.name, "must be a list of strings (one per line)")
            items = [v.strip() for v in items if v.strip()]
            if len(items) > 200 or any(len(v) > self.max_length for v in items):
                raise FieldError(self.name, f"at most 200 lines of {self.max_length} characters")
            return items
        if not isinstance(value, str):
            raise FieldError(self.name, "must be a string")
        value = value if kind == "secret" else value.strip()
        if len(value) > self.max_length:
            raise FieldError(self.name, f"is longer than {self.max_length} characters")
        if kind == "choice" and value not in self.choices:
            raise FieldError(self.name, f"must be one of {', '.join(self.choices)}")
        if kind == "url":
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FieldError(self.name, "must be an http(s) URL")
            if parts.username or parts.password:
                raise FieldError(self.name, "must not carry a user name or password (use a credential)")
        if kind == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise FieldError(self.name, "must be an e-mail address")
        if kind == "host" and not _is_host(value):
            raise FieldError(self.name, "must be a host name or IP address")
        return value


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    return bool(re.fullmatch(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+", value))


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def validate_fields(
    fields: tuple[FieldSpec, ...],
    values: Mapping[str, Any],
    *,
    what: str,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check `values` against `fields`; return the merged, coerced document to store.

    `current` is the stored document on an update (None on create): given keys replace it, a key given as
    null or empty removes an optional value, and required fields must still hold a value afterwards. On
    create, defaults fill what is not given and `generated` values are made. Unknown keys are refused: a
    typo must not be silently stored and then ignored. `what` ("settings", "credentials") prefixes the
    field name in the error."""
    by_name = {f.name: f for f in fields}
    for key in values:
        if key not in by_name:
            known = ", ".join(by_name) or "none"
            raise FieldError(f"{what}.{key}", f"is not a field of this channel (known: {known})")
    result: dict[str, Any] = dict(current or {})
    for spec in fields:
        if spec.name in values:
            raw = values[spec.name]
            if _empty(raw) and spec.kind != "bool":
                result.pop(spec.name, None)
            else:
                try:
                    result[spec.name] = spec.coerce(raw)
                except FieldError as exc:
                    raise FieldError(f"{what}.{spec.name}", str(exc).split(": ", 1)[1]) from None
        elif current is None:
            if spec.generated is not None:
                result[spec.name] = spec.generated()
            elif spec.default is not None:
                result[spec.name] = spec.default
        if spec.required and _empty(result.get(spec.name)):
            raise FieldError(f"{what}.{spec.name}", "is required")
    return result


# ----------------------------------------------------------------------------------------------------------
# Inbound


class InvalidSignature(Exception):
    """The request is not from the provider (bad, missing or stale signature): 401, nothing stored."""


class InvalidPayload(Exception):
    """The body is not what the provider sends: refused (`ChannelSpec.invalid_payload_status`), nothing
    stored."""


@dataclass(frozen=True)
class InboundRequest:
    """A provider's HTTP request as a channel sees it, independent of the web framework.

    `url` is the public URL the provider called (Relaydesk's configured base URL + path + query string),
    which is what Twilio signs; `headers` are lower-cased; `form` holds the fields of a form-encoded body
    in the order sent (empty otherwise). A raw event stored by the door keeps its body and `kept_headers`,
    so `parse` must need nothing more (`stored`)."""

    method: str
    url: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    received_at: dt.datetime
    form: tuple[tuple[str, str], ...] = ()

    def form_value(self, name: str) -> str | None:
        return next((v for k, v in self.form if k == name), None)

    @classmethod
    def stored(cls, body: bytes, headers: Mapping[str, str], received_at: dt.datetime) -> InboundRequest:
        """A stored raw event rebuilt for `parse` (processing retries, replays from the table)."""
        return cls(
            method="POST",
            url="",
            query={},
            headers=dict(headers),
            body=body,
            received_at=received_at,
            form=form_fields(headers.get("content-type", ""), body),
        )


def form_fields(content_type: str, body: bytes) -> tuple[tuple[str, str], ...]:
    """The fields of an `application/x-www-form-urlencoded` body (blank values kept: they are signed)."""
    from urllib.parse import parse_qsl

    if content_type.split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
        return ()
    try:
        return tuple(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise InvalidPayload("form body is not valid UTF-8") from None


@dataclass
class StatusUpdate:
    """A delivery receipt for one of our outbound messages (`by_provider_id`: `message_ref` is the
    provider's id for it, else our own message id)."""

    message_ref: str
    status: str
    at: dt.datetime | None = None
    reason: str | None = None
    by_provider_id: bool = True


@dataclass
class Parsed:
    messages: list[IncomingMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer a channel shapes itself: a handshake's challenge, or a provider's preferred 2xx."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


# ----------------------------------------------------------------------------------------------------------
# Outbound


@dataclass
class ReplyContext:
    """The customer's latest message in the conversation, for a channel that threads its replies on the
    provider's ids (e-mail's In-Reply-To, References and subject); given when `wants_reply_context`.
    `original` is the provider's original the channel kept with that message (the attachment that
    `content_attributes["original_attachment"]` points at), opened."""

    provider_message_id: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    original: bytes | None = None


@dataclass
class OutboundMessage:
    """What a channel needs to deliver one agent (or AI) message; no database object leaks in.

    `last_incoming_at` is the customer's latest message in the conversation (reply windows);
    `sent_by` is the sender kind: `agent` (a human), `ai` or `system` (Messenger's HUMAN_AGENT tag is for
    humans only)."""

    message_id: str
    conversation_id: str
    conversation_number: int
    recipient_external_id: str
    text: str | None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    reply_to_provider_id: str | None = None
    sender_name: str | None = None
    created_at: dt.datetime | None = None
    last_incoming_at: dt.datetime | None = None
    sent_by: str = "agent"
    #: The attachments' bytes, for a channel that carries files itself (`wants_attachment_bytes`: e-mail).
    files: list[NewAttachment] = field(default_factory=list)
    reply_context: ReplyContext | None = None


@dataclass
class SendResult:
    provider_message_id: str | None
    status: str = "sent"


class SendError(Exception):
    """Base of the three outcomes a failed send can have; the message is the reason shown to the agent."""


class PermanentSendError(SendError):
    """The provider refused for good (bad recipient, outside a window, 4xx other than 408/425/429): the
    message is marked failed with this reason, no retry."""


class RetryableSendError(SendError):
    """Timeout, 5xx, 429: retried with backoff, or after `retry_after` seconds when the provider says."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ReauthorisationNeeded(SendError):
    """The credentials stopped working (revoked or expired token, Meta 190): the inbox is marked as
    needing re-authorisation and nothing more is sent through it until an admin replaces them."""


def classify_http_error(response: httpx.Response) -> SendError:
    """One place that turns a provider's HTTP answer into retry / permanent / re-authorise."""
    if response.status_code in (408, 425, 429) or response.status_code >= 500:
        retry_after: float | None = None
        header = response.headers.get("retry-after")
        if header and header.isdigit():
            retry_after = float(header)
        return RetryableSendError(f"HTTP {response.status_code}", retry_after)
    if response.status_code == 401:
        return ReauthorisationNeeded("HTTP 401: the provider no longer accepts this inbox's credentials")
    return PermanentSendError(f"HTTP {response.status_code}")


#: The largest file `download` accepts (the same bound as an attachment posted through the API).
MAX_MEDIA_BYTES = 10 * 1024 * 1024


async def download(
    http: httpx.AsyncClient, url: str, *, limit: int = MAX_MEDIA_BYTES, **request: Any
) -> tuple[bytes, str | None]:
    """GET `url` (extra `request` arguments: headers, auth) and return the body and its content type,
    stopping as soon as it exceeds `limit` bytes: a provider file is read in chunks, never whole into
    memory first. Errors come as the send error classes (`classify_http_error`), so `fetch_media` can let
    them through."""
    try:
        async with http.stream("GET", url, **request) as response:
            if not response.is_success:
                raise classify_http_error(response)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise PermanentSendError(f"the file is larger than {limit // (1024 * 1024)} MiB")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > limit:
                    raise PermanentSendError(f"the file is larger than {limit // (1024 * 1024)} MiB")
            content_type = response.headers.get("content-type")
            return bytes(data), content_type.split(";", 1)[0].strip() if content_type else None
    except httpx.HTTPError as exc:
        raise RetryableSendError(f"{type(exc).__name__}: {exc}") from exc


def require_provider_host(url: str, hosts: tuple[str, ...]) -> None:
    """Refuse a media URL outside the provider's own hosts (SSRF: a forged payload must not make us fetch
    an arbitrary URL with the provider's credentials). `hosts` entries match exactly or as a parent domain
    (`twilio.com` matches `api.twilio.com`)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidPayload("media URL is not an http(s) URL")
    if not any(host == h or host.endswith("." + h) for h in hosts):
        raise InvalidPayload(f"media URL host {host!r} is not one of the provider's hosts")


# ----------------------------------------------------------------------------------------------------------
# Receivers: channels that fetch instead of being called (IMAP)


@dataclass(frozen=True)
class Submitted:
    """What became of a receiver's submission: `accepted` (stored now) or `duplicate` (stored before)."""

    status: str
    event_id: uuid.UUID | None


class ReceiverContext(Protocol):
    """What the worker gives a receiver for one inbox. The receiver never touches the database: it
    submits what it fetched through the normal intake (raw event stored sealed, deduplicated by
    `dedupe_key` per inbox, processed by the same job as webhooks) and keeps its cursor (e.g. IMAP
    UIDVALIDITY + last UID) with `load_state`/`save_state`, stored on the inbox."""

    inbox_id: uuid.UUID
    workspace_id: uuid.UUID
    credentials: Mapping[str, Any]
    settings: Mapping[str, Any]
    #: Set when the worker stops or the inbox changes (deactivated, new credentials): return soon.
    stopping: asyncio.Event
    #: May the receiver connect to private addresses (loopback, LAN)? The operator's choice for `channels`
    #: (RELAYDESK_ALLOW_PRIVATE_TARGETS); link-local and metadata addresses never (outbound/ssrf.py).
    allow_private: bool

    async def submit(self, request: InboundRequest, *, dedupe_key: str | None, parsed: Parsed) -> Submitted:
        """Store one fetched item (body sealed) with its parse; returns once committed."""
        ...

    async def load_state(self) -> dict[str, Any]: ...

    async def save_state(self, state: dict[str, Any]) -> None: ...

    async def report_error(self, reason: str) -> None:
        """Show a problem on the inbox's health line (connection refused, login failed, ...)."""
        ...

    async def report_status(self, state: str, *, last_sync_at: dt.datetime | None = None) -> None:
        """The receiver's state (`connecting`, `connected`, `disconnected`) and its last completed sync,
        shown on the admin's inbox page and in the API's inbox health."""
        ...

    async def needs_reauthorisation(self, reason: str) -> None:
        """The credentials were refused: mark the inbox; the worker stops this receiver until fixed."""
        ...


class Receiver(Protocol):
    async def run(self, ctx: ReceiverContext) -> None:
        """Receive until `ctx.stopping` is set. Raising restarts it after a backoff (reported on the
        inbox's health line); returning while not stopping also restarts it."""
        ...


# ----------------------------------------------------------------------------------------------------------
# The spec


class ChannelSpec:
    """Subclass per channel and export one instance as `SPEC` from `channels/<x>/spec.py`.

    The defaults describe a channel that takes no webhook, has no handshake, no replay key, no pre-send
    rule, no media to fetch, no receiver and no routes; a channel overrides what it has."""

    name: ClassVar[str]
    label: ClassVar[str]
    credentials: ClassVar[tuple[FieldSpec, ...]] = ()
    settings: ClassVar[tuple[FieldSpec, ...]] = ()

    #: Media types the provider POSTs to the door; any other is refused with 415 before anything else.
    #: Empty: the channel has no webhook (the door answers 404).
    content_types: ClassVar[tuple[str, ...]] = ()
    #: Headers stored with a raw event (besides the body) because `parse` reads them (multipart boundary).
    kept_headers: ClassVar[tuple[str, ...]] = ("content-type",)
    #: The body carries bytes the channel neutralises itself (a mail in any charset, with NUL bytes): the
    #: input gate only limits its size, and `verify`/`parse` must refuse or clean anything else.
    raw_body: ClassVar[bool] = False
    #: The largest request body the door takes for this channel (None: `RELAYDESK_MAX_BODY_BYTES`). For
    #: providers that post whole files (a mail with its attachments).
    max_body_bytes: ClassVar[int | None] = None
    #: The status for a well-signed request whose body does not parse (Mailgun stops retrying on 406).
    invalid_payload_status: ClassVar[int] = 400
    #: Hours after the customer's last message during which free-form replies are allowed (None: always);
    #: enforced by the default `pre_send` and shown in the agent's composer.
    reply_window_hours: ClassVar[int | None] = None
    #: Hosts `fetch_media` may download from.
    media_hosts: ClassVar[tuple[str, ...]] = ()
    #: The outbound job opens the attachments' bytes into `OutboundMessage.files` (a channel that sends
    #: files itself instead of linking them) and the customer's latest message into `reply_context`.
    wants_attachment_bytes: ClassVar[bool] = False
    wants_reply_context: ClassVar[bool] = False

    #: Import path (`module:attribute`) of the channel's loopback fake, for tests.
    fake: ClassVar[str]
    #: Import path of a list of Litestar handlers the server mounts (a door: may use runtime and actions).
    routes: ClassVar[str | None] = None
    #: A page (one of the channel's `routes`, with `{inbox_id}` in its path) showing what the customer sees,
    #: rendered with the settings given in its query string: the admin form previews them live as they are
    #: typed (the widget's chat frame). None: the channel has nothing to preview.
    preview: ClassVar[str | None] = None
    #: Import path of a zero-argument factory returning a `Receiver`, run by the worker per active inbox.
    receiver: ClassVar[str | None] = None

    def runs_receiver(self, settings: Mapping[str, Any]) -> bool:
        """Whether an inbox with these settings needs the channel's `receiver` (e-mail: only when an IMAP
        host is set; a webhook-only inbox has nothing to fetch)."""
        return self.receiver is not None

    # -- inbound -------------------------------------------------------------------------------------------

    def handshake(self, request: InboundRequest, credentials: Mapping[str, Any]) -> Answer | None:
        """Answer a provider's GET subscription check (None: this channel has none, 404). Raise
        `InvalidSignature` when the check fails (403)."""
        return None

    def verify(self, request: InboundRequest, credentials: Mapping[str, Any], *, tolerance: int) -> None:
        """Raise `InvalidSignature` unless the provider signed this request. Compare in constant time;
        `tolerance` is the allowed clock skew in seconds for timestamped signatures."""
        raise InvalidSignature(f"the {self.name} channel takes no webhook")

    def replay_key(self, request: InboundRequest) -> str | None:
        """For timestamped signatures only: a value (the signature) that identifies these signed bytes, so
        the same request twice is refused as a replay (409). None for providers that retry with the same
        signature (Meta, Twilio): their retries are deduplicated by `dedupe_key` instead."""
        return None

    def dedupe_key(self, request: InboundRequest) -> str | None:
        """The provider's id of this event (message id, or message id + status): a redelivery is stored
        once and answered with the original's id. At most 255 characters."""
        return None

    def parse(self, request: InboundRequest) -> Parsed:
        """The request as provider-neutral envelopes; `InvalidPayload` when it is not what the provider
        sends. Called at the door (to refuse bad input before storing) and again from the stored event."""
        raise InvalidPayload(f"the {self.name} channel takes no webhook")

    def embed_code(self, base_url: str, public_id: str) -> str | None:
        """What a website pastes to use an inbox of this channel (the widget's script tag), shown on the
        admin's inbox page and in the inbox API; None for channels a provider calls instead."""
        return None

    def acknowledge(self, event_id: uuid.UUID | None, duplicate: bool) -> Answer | None:
        """The 2xx the provider wants (None: the door's JSON `{"id", "duplicate"}`, 202 or 200)."""
        return None

    async def fetch_media(
        self, http: httpx.AsyncClient, ref: MediaRef, credentials: Mapping[str, Any]
    ) -> NewAttachment:
        """Download a provider-hosted attachment over `http` (SSRF-guarded, purpose `channels`), from
        `media_hosts` only (`require_provider_host`). Errors: the send error classes."""
        raise PermanentSendError(f"the {self.name} channel has no provider-hosted media")

    # -- outbound ------------------------------------------------------------------------------------------

    def pre_send(self, message: OutboundMessage, settings: Mapping[str, Any], now: dt.datetime) -> str | None:
        """Why this message must not be sent now (shown to the agent; the message is marked failed), or
        None. The default enforces `reply_window_hours`; channels add their own rules (opt-out)."""
        hours = self.reply_window_hours
        if hours is None:
            return None
        if message.last_incoming_at is None or now - message.last_incoming_at > dt.timedelta(hours=hours):
            return (
                f"outside the {hours}-hour reply window of {self.label}: the customer has not written in "
                f"the last {hours} hours"
            )
        return None

    async def send(
        self,
        http: httpx.AsyncClient,
        message: OutboundMessage,
        credentials: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> SendResult:
        """Deliver the message; raise `RetryableSendError`, `PermanentSendError` or
        `ReauthorisationNeeded` (`classify_http_error` maps plain HTTP answers)."""
        raise PermanentSendError(f"the {self.name} channel cannot send")

    # -- derived -------------------------------------------------------------------------------------------

    @property
    def takes_webhooks(self) -> bool:
        return bool(self.content_types)

    def generated_credentials(self) -> tuple[FieldSpec, ...]:
        """The credentials Relaydesk makes (signing secrets): rotatable, revealable by an owner."""
        return tuple(f for f in self.credentials if f.generated is not None)

    def credential_field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.credentials if f.name == name), None)

    def validate_credentials(
        self, values: Mapping[str, Any], current: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Given credentials merged over `current`; a generated one cannot be typed in (rotate it)."""
        for name in values:
            spec = self.credential_field(name)
            if spec is not None and spec.generated is not None:
                raise FieldError(f"credentials.{name}", "is generated by Relaydesk; rotate it instead")
        return validate_fields(self.credentials, values, what="credentials", current=current)

    def validate_settings(
        self, values: Mapping[str, Any], current: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return validate_fields(self.settings, values, what="settings", current=current)

    def schema(self) -> dict[str, Any]:
        """What `GET /api/v1/channels` says about the channel (no inbox's values)."""
        return {
            "name": self.name,
            "label": self.label,
            "credentials": [f.schema() for f in self.credentials],
            "settings": [f.schema() for f in self.settings],
            "webhook": self.takes_webhooks,
            "handshake": type(self).handshake is not ChannelSpec.handshake,
            "reply_window_hours": self.reply_window_hours,
        }
