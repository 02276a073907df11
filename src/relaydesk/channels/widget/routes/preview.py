"""The admin's live preview of a widget inbox: the real chat frame, rendered with the settings the admin
is typing (not yet saved), inside the admin page.

    GET /widget-preview/{inbox id}?accent_color=…&greeting=…   the frame page (preview mode)
    GET /widget-preview/{inbox id}/check?…                    {errors: [...], warnings: [...]}

Both are for a signed-in admin of the inbox's workspace (another workspace's inbox, or an inbox of another
channel, is a 404). The values are checked by the widget spec exactly as a save would check them, so the
preview shows what saving would store; the frame is the same page visitors get (`render_frame`), on our own
origin, framable only by our own pages (`frame-ancestors 'self'`), with the same CSP nonces, in preview
mode: sample messages, no visitor session, no socket, no request anywhere else.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from litestar import Request, Response, get

from relaydesk.channels.spec import FieldError
from relaydesk.channels.widget import appearance
from relaydesk.channels.widget.config import widget_config
from relaydesk.channels.widget.routes.api import render_frame
from relaydesk.channels.widget.spec import SPEC
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import InvalidInput, NotFound
from relaydesk.models.inboxes import Inbox
from relaydesk.runtime import Runtime
from relaydesk.web.render import WebContext, web_context

#: The settings a preview may carry (what changes how the chat looks and reads; never origins or secrets).
PREVIEWED = (
    "title",
    "accent_color",
    "accent_text_color",
    "greeting",
    "position",
    "locale",
    "strings",
    "prechat_fields",
    "consent_text",
    "age_confirmation",
)


async def _checked(
    request: Request, runtime: Runtime, inbox_id: uuid.UUID
) -> tuple[Any, dict[str, Any]] | Response[Any]:
    """The inbox and its settings with the previewed values applied, or the page the visitor needs."""
    ctx = await web_context(request, runtime)
    if not isinstance(ctx, WebContext):
        return ctx
    if not ctx.has_role("admin"):
        raise NotFound("no such inbox")
    async with runtime.db.read() as session:
        inbox = await get_scoped(session, Inbox, ctx.workspace.id, inbox_id)
        if inbox.channel_type != SPEC.name:
            raise NotFound("no such widget inbox")
        row = SimpleNamespace(id=inbox.id, public_id=inbox.public_id, settings=dict(inbox.settings or {}))
    values = {key: request.query_params.get(key) for key in PREVIEWED if key in request.query_params}
    if "age_confirmation" not in values and request.query_params.get("form") == "1":
        values["age_confirmation"] = ""  # an unticked checkbox is not sent by the form
    try:
        settings = SPEC.validate_settings(values, current=row.settings)
    except FieldError as exc:
        raise InvalidInput(str(exc), details={"field": exc.field}) from None
    row.settings = settings
    return row, settings


@get("/widget-preview/{inbox_id:uuid}", include_in_schema=False)
async def widget_preview(request: Request, inbox_id: uuid.UUID, runtime: Runtime) -> Response[Any]:
    checked = await _checked(request, runtime, inbox_id)
    if isinstance(checked, Response):
        return checked
    row, settings = checked
    origin = f"{request.url.scheme}://{request.url.netloc}"
    return render_frame(request, row, widget_config(settings), origin, preview=True)


@get("/widget-preview/{inbox_id:uuid}/check", include_in_schema=False)
async def widget_preview_check(request: Request, inbox_id: uuid.UUID, runtime: Runtime) -> Response[Any]:
    """What the form shows beside the preview: the error a save would give, and readability warnings."""
    try:
        checked = await _checked(request, runtime, inbox_id)
    except InvalidInput as exc:
        return Response(
            {"errors": [{"field": (exc.details or {}).get("field"), "message": exc.message}], "warnings": []}
        )
    if isinstance(checked, Response):
        return checked
    _row, settings = checked
    config = widget_config(settings)
    return Response(
        {
            "errors": [],
            "warnings": appearance.contrast_warnings(config.accent_color, config.accent_text_color),
        },
        headers={"cache-control": "no-store"},
    )


PREVIEW_ROUTES = [widget_preview, widget_preview_check]
