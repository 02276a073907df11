"""Role guards: every API route declares the least role that may call it."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from relaydesk.auth.principal import Principal


def _require(minimum: str):  # type: ignore[no-untyped-def]
    def guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
        principal = connection.user
        if not isinstance(principal, Principal) or not principal.has_role(minimum):
            raise PermissionDeniedException(f"this action needs the {minimum} role")

    guard.__name__ = f"requires_{minimum}"
    return guard


requires_agent = _require("agent")
requires_admin = _require("admin")
requires_owner = _require("owner")
