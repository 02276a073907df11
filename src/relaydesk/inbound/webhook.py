"""`POST /inbound/{channel}/{inbox public id}`: the only door for provider traffic.

Order matters: refuse a body not labelled with a media type the channel posts (415), find the inbox, verify the signature on the raw bytes, validate the payload fully, then
hand the sealed raw event to the intake, which stores it (with whatever else arrives meanwhile, in one
transaction) together with its processing job, and answer. A forged or malformed request is refused
before anything is written; a duplicate (same provider id) is acknowledged without a second row; a
byte-identical replay of a signed request is refused.
"""

from __future__ import annotations

import hashlib

from litestar import Request, Response, post
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from relaydesk.channels.base import InvalidPayload, InvalidSignature, RawRequest
from relaydesk.channels.registry import adapter_for
from relaydesk.db.base import utcnow
from relaydesk.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, UnsupportedMediaType
from relaydesk.inbound.intake import Arrival
from relaydesk.privacy import storage
from relaydesk.runtime import Runtime


@post("/inbound/{channel:str}/{public_id:str}", opt={"auth": False}, include_in_schema=False)
async def receive_webhook(request: Request, channel: str, public_id: str, runtime: Runtime) -> Response:
    adapter = adapter_for(channel)
    if adapter is None:
        raise NotFound("no such channel")
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in adapter.content_types:
        raise UnsupportedMediaType(f"send the body as {' or '.join(adapter.content_types)}")
    body = await request.body()
    intake = runtime.intake
    inbox = await intake.inboxes.get(runtime.db, channel, public_id)
    if inbox is None:
        raise NotFound("no such inbox")
    raw = RawRequest(
        headers={k.lower(): v for k, v in request.headers.items()}, body=body, received_at=utcnow()
    )
    try:
        adapter.verify(raw, inbox.credentials, tolerance=runtime.settings.signature_tolerance_seconds)
    except InvalidSignature as exc:
        raise NotAuthenticated(str(exc)) from None
    try:
        dedupe_key = adapter.dedupe_key(raw)
        parsed = adapter.parse(body)
    except InvalidPayload as exc:
        raise InvalidInput(str(exc)) from None
    # Only timestamped signatures make a byte-identical request a replay; providers that retry with the
    # same signature (Meta, Twilio) rely on the dedupe key instead.
    signature = raw.headers.get("x-relaydesk-signature", "")
    outcome = await intake.submit(
        Arrival(
            inbox=inbox,
            channel=channel,
            dedupe_key=dedupe_key,
            signature_hash=hashlib.sha256(signature.encode()).hexdigest() if signature else None,
            sealed_body=storage.seal_raw_body(inbox.workspace_id, body),
            received_at=raw.received_at,
            parsed=parsed,
        )
    )
    if outcome.status == "replay":
        raise Conflict("this signed request was already received (replay refused)")
    if outcome.status == "duplicate":
        return Response({"id": str(outcome.event_id), "duplicate": True}, status_code=HTTP_200_OK)
    return Response({"id": str(outcome.event_id), "duplicate": False}, status_code=HTTP_202_ACCEPTED)
