"""One error format for every failure: `{"error": {"code", "message", "details"}}` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import IntegrityError

from relaydesk.errors import DomainError, Throttled

log = logging.getLogger("relaydesk.errors")

_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def _domain(_: Request, exc: DomainError) -> Response:
    headers = exc.headers if isinstance(exc, Throttled) else None
    return Response(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)


def _validation(_: Request, exc: ValidationException) -> Response:
    details = exc.extra if isinstance(exc.extra, list | dict) else None
    return Response(error_body("invalid", exc.detail or "invalid request", details), status_code=400)


def _http(_: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status >= 500:
        return Response(error_body("server_error", "internal error"), status_code=status)
    return Response(
        error_body(_CODES.get(status, "error"), exc.detail or "request failed"),
        status_code=status,
        headers=exc.headers or None,
    )


def _integrity(_: Request, exc: IntegrityError) -> Response:
    log.info("integrity error: %s", exc.orig)
    return Response(error_body("conflict", "conflicts with existing data"), status_code=HTTP_409_CONFLICT)


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Response(error_body("server_error", "internal error"), status_code=HTTP_500_INTERNAL_SERVER_ERROR)


EXCEPTION_HANDLERS = {
    DomainError: _domain,
    ValidationException: _validation,
    HTTPException: _http,
    IntegrityError: _integrity,
    Exception: _unexpected,
}
