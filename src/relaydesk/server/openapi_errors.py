"""The OpenAPI document describes the error answers the app really sends.

Litestar documents a 400 as `{status_code, detail, extra}`, but every failure here answers
`{"error": {"code", "message", "details"}}` (`server/errors.py`). After Litestar has built the document,
`describe_errors` replaces every error response of the API's operations with a reference to one shared
`Error` response, listing the statuses each operation can answer: 401 and 403 everywhere (credentials,
role, CSRF), 400 and 404 for any operation with parameters or a body (they name rows), 409, 413 and 415 for
operations that take a body, 409 for deletions, 429 with `Retry-After` where a route throttles.
"""

from __future__ import annotations

from typing import Any

from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import OpenAPI, OpenAPIHeader, OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType

ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description='Every failure: `{"error": {"code", "message", "details"}}`.',
    required=["error"],
    properties={
        "error": Schema(
            type=OpenAPIType.OBJECT,
            required=["code", "message"],
            properties={
                "code": Schema(type=OpenAPIType.STRING, description="machine-readable class, e.g. `invalid`"),
                "message": Schema(type=OpenAPIType.STRING, description="for people"),
                "details": Schema(description="what was wrong, where known (fields, limits)"),
            },
        )
    },
)
DESCRIPTIONS = {
    400: "Invalid request: malformed JSON, wrong types, unknown fields, values out of range",
    401: "No, invalid, expired or revoked credentials",
    403: "The role does not allow it, or the CSRF token is missing",
    404: "No such row in this workspace",
    409: "Conflicts with existing data or the current state",
    413: "Body too large",
    415: "Body is not JSON",
    429: "Too many attempts; `Retry-After` says how many seconds to wait",
}
BODY_METHODS = ("post", "put", "patch")


def statuses_for(method: str, path: str, operation: Any) -> list[int]:
    statuses = {401, 403}
    if operation.parameters or operation.request_body is not None:
        statuses.update({400, 404})  # a parameter or body may name a row that is not there
    if method in BODY_METHODS:
        statuses.update({400, 409, 413, 415})
    if method == "delete":
        statuses.add(409)
    return sorted(statuses)


def describe_errors(openapi: OpenAPI, prefix: str) -> OpenAPI:
    """Point every error response of the operations under `prefix` at the shared `Error` response."""
    components = openapi.components
    components.schemas = {**(components.schemas or {}), "Error": ERROR_SCHEMA}
    responses: dict[str, OpenAPIResponse | Reference] = dict(components.responses or {})
    for status, text in DESCRIPTIONS.items():
        headers = None
        if status == 429:
            headers = {
                "Retry-After": OpenAPIHeader(
                    schema=Schema(type=OpenAPIType.INTEGER), description="seconds to wait", required=True
                )
            }
        responses[f"Error{status}"] = OpenAPIResponse(
            description=text,
            content={"application/json": OpenAPIMediaType(schema=Reference("#/components/schemas/Error"))},
            headers=headers,
        )
    components.responses = responses
    for path, item in (openapi.paths or {}).items():
        if not path.startswith(prefix):
            continue
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            kept = {k: v for k, v in (operation.responses or {}).items() if not str(k).startswith(("4", "5"))}
            for status in statuses_for(method, path, operation):
                kept[str(status)] = Reference(f"#/components/responses/Error{status}")
            operation.responses = kept
    return openapi


class ErrorShapedOpenAPI(OpenAPIPlugin):
    """Litestar's OpenAPI plugin with `describe_errors` applied to the document it builds (once, lazily)."""

    __slots__ = ()

    def _build_openapi(self) -> OpenAPI:
        return describe_errors(super()._build_openapi(), "/api/")


def document_real_errors(app: Any) -> None:
    """Make the app's OpenAPI plugin describe the real error answers.

    Litestar creates its OpenAPI plugin itself and offers no hook on the built document; the plugin keeps no
    state of its own beyond Litestar's, so its class is swapped for the subclass above (same slots).
    """
    plugin = app.plugins.get(OpenAPIPlugin)
    plugin.__class__ = ErrorShapedOpenAPI
