"""The e-mail channel's page-shaped read: an HTML mail, sanitised at receipt, viewed by an agent.

`GET /inbox/messages/{id}/email` answers the message's `message.html` attachment (sanitize.py) for a
sandboxed frame in the thread view, with `cid:` images inlined from their attachments. Remote images stay
blocked unless the agent asks (`?images=1`). The answer's own Content-Security-Policy is the second wall:
`sandbox` (no script, no form, no same-origin access even if the sanitiser missed something), no
connection, no style, and images only inline (or, once asked, from anywhere over http(s)).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response, get

from relaydesk.channels.email.sanitize import viewable_html
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import NotFound
from relaydesk.models.messages import Attachment, Message
from relaydesk.privacy import storage
from relaydesk.runtime import Runtime
from relaydesk.web.render import WebContext, web_context

MAX_INLINE_IMAGE_BYTES = 5 * 1024 * 1024


def frame_policy(show_images: bool) -> str:
    images = "data: https: http:" if show_images else "data:"
    return f"default-src 'none'; img-src {images}; sandbox; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"


@get("/inbox/messages/{message_id:uuid}/email", include_in_schema=False)
async def email_view(
    message_id: uuid.UUID, request: Request, runtime: Runtime, images: int = 0
) -> Response[Any]:
    ctx = await web_context(request, runtime)
    if not isinstance(ctx, WebContext):
        return ctx
    async with runtime.db.read() as session:
        message = await get_scoped(session, Message, ctx.workspace.id, message_id)
        attrs = (message.content_attributes or {}).get("email") or {}
        index = attrs.get("html")
        if not isinstance(index, int):
            raise NotFound("this message has no HTML body")
        attachments = list(
            (
                await session.execute(
                    sa.select(Attachment)
                    .where(Attachment.workspace_id == ctx.workspace.id, Attachment.message_id == message.id)
                    .order_by(Attachment.created_at, Attachment.id)
                    .options(sa.orm.undefer(Attachment.data))
                )
            ).scalars()
        )
        if index >= len(attachments):
            raise NotFound("this message has no HTML body")
        safe = storage.read_attachment(attachments[index]).decode("utf-8", "replace")
        # Inline images travel inside the document as data: URLs: the sandboxed frame has an opaque
        # origin, so a request back to us would carry no session (and need none of our routes opened).
        inline = {}
        for cid, i in (attrs.get("inline") or {}).items():
            if not (isinstance(i, int) and 0 <= i < len(attachments)):
                continue
            image = attachments[i]
            if image.content_type.startswith("image/") and image.size <= MAX_INLINE_IMAGE_BYTES:
                data = base64.b64encode(storage.read_attachment(image)).decode()
                inline[cid] = f"data:{image.content_type};base64,{data}"
    body = viewable_html(safe, inline, show_images=bool(images))
    document = f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}</body></html>'
    return Response(
        document,
        media_type="text/html; charset=utf-8",
        headers={
            "content-security-policy": frame_policy(bool(images)),
            "cache-control": "private, no-store",
        },
    )


ROUTES = [email_view]
