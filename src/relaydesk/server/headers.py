"""Security headers on every answer, with a CSP nonce per request for our own scripts and styles.

They are added by a `before_send` hook, which Litestar runs at the outermost layer: the framework's own
answers (404 for an unknown path, 405, 401 from the auth middleware, 500, static files) get them exactly
like our handlers' pages. A response that already carries a Content-Security-Policy (a route needing a
stricter one, or the widget's frame, which names the sites that may embed it) keeps it. Templates read the nonce through `csp_nonce(scope)`; inline scripts without it
do not run.
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope


def csp(nonce: str) -> str:
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data: blob:; "
        "connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def csp_nonce(scope: Scope | dict[str, Any]) -> str:
    """This request's nonce, made on first use so the page and the header always agree."""
    state = scope.setdefault("state", {})  # type: ignore[union-attr]
    nonce = state.get("csp_nonce")
    if not nonce:
        nonce = state["csp_nonce"] = secrets.token_urlsafe(16)
    return str(nonce)


async def add_security_headers(message: Message, scope: Scope) -> None:
    """`before_send` hook: complete the start of every HTTP answer with the security headers."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    headers["x-content-type-options"] = "nosniff"
    headers["referrer-policy"] = "same-origin"
    headers["cross-origin-opener-policy"] = "same-origin"
    if "content-security-policy" not in headers:
        headers["content-security-policy"] = csp(csp_nonce(scope))
    # A page that names who may frame it (the widget's chat frame) is governed by its CSP
    # `frame-ancestors`; every other answer refuses framing in old browsers too.
    if "frame-ancestors 'none'" in headers["content-security-policy"]:
        headers["x-frame-options"] = "DENY"
    runtime = getattr(scope["app"].state, "runtime", None)
    if runtime is not None and runtime.settings.secure_cookies:
        headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
