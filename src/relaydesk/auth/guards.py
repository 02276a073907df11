"""Role guards (every API route declares the least role that may call it) and the token scope guard."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from relaydesk.auth import scopes
from relaydesk.auth.principal import Principal
from relaydesk.errors import Forbidden


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


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def route_scope(handler: BaseRouteHandler, method: str | None) -> tuple[str | None, str]:
    """(family, access) a route needs from a token: the family it declares, and "read" for safe methods
    (and POSTs marked `scope_access="read"`), "write" otherwise."""
    opt = handler.opt or {}
    family = opt.get("scope")
    access = opt.get("scope_access") or (scopes.READ if (method or "GET") in SAFE_METHODS else scopes.WRITE)
    return family, access


def requires_token_scope(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The one scope check, set on the whole API router. Browser sessions pass (their role guards
    apply); a token must hold a scope for the route's family and access, and a route that declares no
    family is closed to tokens (tests/api/test_token_scopes.py makes sure none is left undeclared)."""
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal) or principal.via != "token":
        return
    family, access = route_scope(handler, connection.scope.get("method"))
    if family is None or family not in scopes.FAMILIES:
        raise Forbidden("this route is not open to API tokens (it declares no scope family)")
    if not scopes.allows(principal.scopes, family, access):
        needed = f"{family}:{access}"
        kind = "read-only" if scopes.is_read_only(principal.scopes) else "not allowed"
        raise Forbidden(
            f"this API token is {kind} for {family}: the scope {needed} is needed",
            details={"needed": needed, "token_scopes": list(principal.scopes)},
        )
