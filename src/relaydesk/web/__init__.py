"""The server-rendered web app: login and account security, the agent inbox, and the admin pages.

`ROUTE_HANDLERS` is appended to the application by `server/app.py`. Pages authenticate with the
session cookie themselves (they are outside the /api/v1 router and its middleware) and hand the browser
the session's CSRF token in a `<meta>` tag for the JSON API calls its scripts make.
"""

from __future__ import annotations

from litestar.static_files import create_static_files_router

from relaydesk.web import (
    admin_ai_pages,
    admin_audit_pages,
    admin_contact_pages,
    admin_pages,
    auth_pages,
    inbox_pages,
)
from relaydesk.web.render import STATIC

static_files = create_static_files_router(
    path="/static", directories=[STATIC], include_in_schema=False, cache_control=None
)

ROUTE_HANDLERS: list = [
    *auth_pages.ROUTES,
    *inbox_pages.ROUTES,
    *admin_pages.ROUTES,
    *admin_ai_pages.ROUTES,
    *admin_audit_pages.ROUTES,
    *admin_contact_pages.ROUTES,
    static_files,
]

__all__ = ["ROUTE_HANDLERS"]
