"""`POST /inbound/{channel}/{inbox public id}`: the only door for provider traffic.

Order matters: find the inbox, verify the signature on the raw bytes, validate the payload fully, then
store the raw event and its processing job in one transaction and answer. A forged or malformed
request is refused before anything is written; a duplicate (same provider id) is acknowledged without a
second row; a byte-identical replay of a signed request is refused.
"""

from __future__ import annotations

import hashlib
import uuid

import sqlalchemy as sa
from litestar import Request, Response, post
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED
from sqlalchemy.exc import IntegrityError

from relaydesk.channels.base import InvalidPayload, InvalidSignature, RawRequest
from relaydesk.channels.registry import adapter_for
from relaydesk.db.base import utcnow
from relaydesk.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from relaydesk.jobs.outbox import enqueue
from relaydesk.models.inbound import InboundEvent
from relaydesk.models.inboxes import Inbox
from relaydesk.privacy import storage
from relaydesk.runtime import Runtime


async def _find_inbox(runtime: Runtime, channel: str, public_id: str) -> Inbox:
    async with runtime.db.read() as session:
        inbox = (
            await session.execute(
                sa.select(Inbox).where(
                    Inbox.public_id == public_id, Inbox.channel_type == channel, Inbox.is_active.is_(True)
                )
            )
        ).scalar_one_or_none()
    if inbox is None:
        raise NotFound("no such inbox")
    return inbox


@post("/inbound/{channel:str}/{public_id:str}", opt={"auth": False}, include_in_schema=False)
async def receive_webhook(request: Request, channel: str, public_id: str, runtime: Runtime) -> Response:
    adapter = adapter_for(channel)
    if adapter is None:
        raise NotFound("no such channel")
    body = await request.body()
    inbox = await _find_inbox(runtime, channel, public_id)
    raw = RawRequest(
        headers={k.lower(): v for k, v in request.headers.items()}, body=body, received_at=utcnow()
    )
    try:
        adapter.verify(
            raw, storage.read_inbox_credentials(inbox), tolerance=runtime.settings.signature_tolerance_seconds
        )
    except InvalidSignature as exc:
        raise NotAuthenticated(str(exc)) from None
    try:
        dedupe_key = adapter.dedupe_key(raw)
        adapter.parse(body)
    except InvalidPayload as exc:
        raise InvalidInput(str(exc)) from None
    # Only timestamped signatures make a byte-identical request a replay; providers that retry with the
    # same signature (Meta, Twilio) rely on the dedupe key instead.
    signature = raw.headers.get("x-relaydesk-signature", "")
    signature_hash = hashlib.sha256(signature.encode()).hexdigest() if signature else None
    event_id = uuid.uuid4()
    try:
        async with runtime.db.write() as session:
            event = InboundEvent(
                workspace_id=inbox.workspace_id,
                inbox_id=inbox.id,
                channel_type=channel,
                dedupe_key=dedupe_key,
                signature_hash=signature_hash,
                headers={},
                body=storage.seal_raw_body(inbox.workspace_id, body),
            )
            session.add(event)
            await session.flush()
            event_id = event.id
            await enqueue(
                session,
                "inbound.process",
                {"inbound_event_id": str(event.id)},
                workspace_id=inbox.workspace_id,
            )
    except IntegrityError:
        async with runtime.db.read() as session:
            replay = (
                signature_hash is not None
                and (
                    await session.execute(
                        sa.select(InboundEvent.id).where(
                            InboundEvent.inbox_id == inbox.id, InboundEvent.signature_hash == signature_hash
                        )
                    )
                ).first()
            )
            if replay:
                raise Conflict("this signed request was already received (replay refused)") from None
            original = (
                await session.execute(
                    sa.select(InboundEvent.id).where(
                        InboundEvent.inbox_id == inbox.id, InboundEvent.dedupe_key == dedupe_key
                    )
                )
            ).scalar_one()
        return Response({"id": str(original), "duplicate": True}, status_code=HTTP_200_OK)
    return Response({"id": str(event_id), "duplicate": False}, status_code=HTTP_202_ACCEPTED)
