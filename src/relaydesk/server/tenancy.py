"""Scope each authenticated API request's database work to its workspace (db/tenancy.py).

Placed inside the authentication middleware, so `scope["user"]` is the resolved principal; the context
variable is reset when the request ends, so nothing leaks into the next request handled by the same task
(the in-process test client runs requests in the caller's task).
"""

from __future__ import annotations

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from relaydesk.db.tenancy import current_workspace


class TenantScopeMiddleware(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        workspace_id = getattr(scope.get("user"), "workspace_id", None)
        if workspace_id is None:
            await next_app(scope, receive, send)
            return
        token = current_workspace.set(workspace_id)
        try:
            await next_app(scope, receive, send)
        finally:
            current_workspace.reset(token)
