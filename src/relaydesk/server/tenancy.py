"""Scope each request's database work to its workspace (db/tenancy.py).

Two pieces:

* `TenantBoundaryMiddleware` (application-wide, outermost) starts every HTTP request and WebSocket with
  no tenant and restores the previous value when it ends. Code that learns its workspace part-way through
  a request — the server-rendered pages resolve their own session (`web/render.web_context`) — can then
  call `db.tenancy.enter` without leaking the scope into the next request handled by the same task (the
  in-process test client runs requests in the caller's task).
* `TenantScopeMiddleware` sits inside the API's authentication middleware, so `scope["user"]` is the
  resolved principal: every API request and the realtime WebSocket run under their workspace's policies.
  Tasks the socket starts copy the context, so they stay scoped too.
"""

from __future__ import annotations

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from relaydesk.db.tenancy import TenantScope, current_scope


class TenantBoundaryMiddleware(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        token = current_scope.set(None)
        try:
            await next_app(scope, receive, send)
        finally:
            current_scope.reset(token)


class TenantScopeMiddleware(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal = scope.get("user")
        workspace_id = getattr(principal, "workspace_id", None)
        if workspace_id is None:
            await next_app(scope, receive, send)
            return
        token = current_scope.set(TenantScope(workspace_id, getattr(principal, "user_id", None)))
        try:
            await next_app(scope, receive, send)
        finally:
            current_scope.reset(token)
