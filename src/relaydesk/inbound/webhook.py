"""`/inbound/{channel}/{inbox public id}`: the only door for provider traffic, driven by the channel's spec.

POST, in this order: refuse a body not labelled with a media type the channel posts (415), find the inbox,
verify the signature (`spec.verify`, on the raw bytes, the public URL and the form fields), validate the
payload fully (`spec.dedupe_key`, `spec.parse`), then hand the sealed raw event to the intake, which stores
it (with whatever else arrives meanwhile, in one transaction) together with its processing job, and answer
(`spec.acknowledge`, else our JSON). A forged or malformed request is refused before anything is written; a
duplicate (same dedupe key) is acknowledged without a second row; a replay of a timestamp-signed request
(same `spec.replay_key`) is refused with 409.

GET answers a provider's subscription handshake (`spec.handshake`, Meta's `hub.challenge`): 404 for a
channel without one, 403 when the check fails.

The door knows no channel: every provider detail is in `channels/<x>/spec.py`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Request, Response, get, post
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from relaydesk.channels.registry import spec_for
from relaydesk.channels.spec import (
    Answer,
    ChannelSpec,
    InboundRequest,
    InvalidPayload,
    InvalidSignature,
    form_fields,
)
from relaydesk.db.base import utcnow
from relaydesk.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    UnsupportedMediaType,
)
from relaydesk.inbound.handover import Arrival, KnownInbox
from relaydesk.privacy import storage
from relaydesk.runtime import Runtime
from relaydesk.server.input_guards import BINARY_BODY, BODY_LIMIT


def _spec(channel: str) -> ChannelSpec:
    spec = spec_for(channel)
    if spec is None:
        raise NotFound("no such channel")
    return spec


async def _inbox(runtime: Runtime, channel: str, public_id: str) -> KnownInbox:
    inbox = await runtime.intake.inboxes.get(runtime.db, channel, public_id)
    if inbox is None:
        raise NotFound("no such inbox")
    return inbox


def _request(request: Request[Any, Any, Any], runtime: Runtime, body: bytes) -> InboundRequest:
    """The request as the provider sent it; the URL is the public one (the base URL the operator set),
    which is what a provider that signs the URL (Twilio) signed, whatever proxy sits in between."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = runtime.settings.base_url + request.url.path + (f"?{query}" if query else "")
    return InboundRequest(
        method=request.method,
        url=url,
        query={k: v for k, v in request.query_params.items()},
        headers=headers,
        body=body,
        received_at=utcnow(),
        form=form_fields(headers.get("content-type", ""), body) if body else (),
    )


def _answer(answer: Answer) -> Response[bytes]:
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type)


class _PayloadRefused(DomainError):
    """`InvalidInput` with the status the channel asks for (Mailgun stops retrying on 406)."""

    code = "invalid"


def _body_limit(scope: Any) -> int | None:
    """This channel's own body limit (`ChannelSpec.max_body_bytes`), else the server's."""
    spec = spec_for(str((scope.get("path_params") or {}).get("channel", "")))
    return spec.max_body_bytes if spec is not None else None


def _raw_body(scope: Any) -> bool:
    """Whether the input gate leaves this request's body to its channel (`ChannelSpec.raw_body`)."""
    spec = spec_for(str((scope.get("path_params") or {}).get("channel", "")))
    return spec is not None and spec.raw_body


def _refusal(spec: ChannelSpec, exc: InvalidPayload) -> DomainError:
    """A body the channel does not take: 400, or the status the provider stops retrying on (Mailgun 406)."""
    if spec.invalid_payload_status == 400:
        return InvalidInput(str(exc))
    refused = _PayloadRefused(str(exc))
    refused.status = spec.invalid_payload_status
    return refused


@post(
    "/inbound/{channel:str}/{public_id:str}",
    opt={"auth": False, BINARY_BODY: _raw_body, BODY_LIMIT: _body_limit},
    include_in_schema=False,
)
async def receive_webhook(request: Request, channel: str, public_id: str, runtime: Runtime) -> Response:
    spec = _spec(channel)
    if not spec.takes_webhooks:
        raise NotFound("this channel takes no webhook")
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in spec.content_types:
        raise UnsupportedMediaType(f"send the body as {' or '.join(spec.content_types)}")
    body = await request.body()
    inbox = await _inbox(runtime, channel, public_id)
    try:
        raw = _request(request, runtime, body)
    except InvalidPayload as exc:
        raise _refusal(spec, exc) from None
    try:
        spec.verify(raw, inbox.credentials, tolerance=runtime.settings.signature_tolerance_seconds)
    except InvalidSignature as exc:
        raise NotAuthenticated(str(exc)) from None
    except InvalidPayload as exc:  # a body too broken to find the signature in (a form that is no form)
        raise _refusal(spec, exc) from None
    try:
        dedupe_key = spec.dedupe_key(raw)
        parsed = spec.parse(raw)
    except InvalidPayload as exc:
        raise _refusal(spec, exc) from None
    replay = spec.replay_key(raw)
    outcome = await runtime.intake.submit(
        Arrival(
            inbox=inbox,
            channel=channel,
            dedupe_key=dedupe_key,
            signature_hash=hashlib.sha256(replay.encode()).hexdigest() if replay else None,
            sealed_body=storage.seal_raw_body(inbox.workspace_id, body),
            headers={k: raw.headers[k] for k in spec.kept_headers if k in raw.headers},
            received_at=raw.received_at,
            parsed=parsed,
        )
    )
    if outcome.status == "replay":
        raise Conflict("this signed request was already received (replay refused)")
    duplicate = outcome.status == "duplicate"
    custom = spec.acknowledge(outcome.event_id, duplicate)
    if custom is not None:
        return _answer(custom)
    return Response(
        {"id": str(outcome.event_id), "duplicate": duplicate},
        status_code=HTTP_200_OK if duplicate else HTTP_202_ACCEPTED,
    )


@get("/inbound/{channel:str}/{public_id:str}", opt={"auth": False}, include_in_schema=False)
async def webhook_handshake(request: Request, channel: str, public_id: str, runtime: Runtime) -> Response:
    spec = _spec(channel)
    inbox = await _inbox(runtime, channel, public_id)
    try:
        answer = spec.handshake(_request(request, runtime, b""), inbox.credentials)
    except InvalidSignature as exc:
        raise Forbidden(str(exc)) from None
    if answer is None:
        raise NotFound("this channel has no subscription handshake")
    return _answer(answer)


WEBHOOK_ROUTES = [receive_webhook, webhook_handshake]
