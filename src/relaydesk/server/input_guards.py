"""One gate for every request's input, before any route decodes it: size, nesting, storable text, int range.

Why one place: the same four faults reached the database or the decoder through dozens of routes. A body
nested 2,000 levels deep makes the JSON decoders recurse until `RecursionError` (a 500); a NUL byte is
valid JSON and a valid query string but PostgreSQL refuses it in a text column (a 500, or worse an inbound
event acknowledged and then never processable); an integer beyond 64 bits overflows the column it is
compared with. Routes cannot be trusted to each remember these, so the gate runs on every HTTP and
WebSocket request after routing (it knows the route's body limit, its path parameters and the types of its
query parameters) and before the handler:

* body larger than the route's limit: 413, refused on the announced `Content-Length` before reading, or as
  soon as the streamed bytes pass it (the only check of a route that declares `BINARY_BODY`, a file upload);
* JSON nested deeper than `MAX_DEPTH`: 400 (checked on the raw bytes, without recursion);
* NUL or a lone UTF-16 surrogate (text no database column can store) in a JSON string or key, a form field,
  a query parameter or a path parameter: 400 naming the field;
* an integer outside the signed 64-bit range in a JSON body, a query parameter declared `int`, or a path
  parameter: 400 naming the field.

Every refusal is the usual `{"error": {...}}` answer, sent through the outer middleware so it carries the
same headers as any other answer. A WebSocket handshake is refused with the same HTTP answer where the
server supports it (uvicorn does), else by closing with code 4400 and the reason.
The body, once read, is handed to the framework's request state, so handlers read it without a second
pass.
"""

from __future__ import annotations

import itertools
import json
import re
import types
import typing
from typing import Any

from litestar._multipart import parse_content_header, parse_multipart_form
from litestar._parsers import parse_query_string, parse_url_encoded_form_data
from litestar.datastructures import UploadFile
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from relaydesk.server.errors import error_body

#: Route option (`opt={BINARY_BODY: True}`) of a handler whose body is a file, not text: its bytes are
#: only size-limited here, and the handler checks them (the widget's upload checks type and size). A
#: callable `(scope) -> bool` decides per request (the webhook door: per channel, `ChannelSpec.raw_body`).
BINARY_BODY = "binary_body"
#: Route option: a callable `(scope) -> int | None` giving this request's body limit in bytes, where one
#: route serves bodies of different sizes (the webhook door: `ChannelSpec.max_body_bytes`); None keeps
#: the route's limit (`RELAYDESK_MAX_BODY_BYTES`).
BODY_LIMIT = "body_limit"
#: Deepest JSON nesting any route accepts (the deepest real document, inbox settings, is a few levels).
MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# What may hide unstorable text or a huge integer in a JSON body; only then is the body decoded here.
_SUSPECT_JSON = re.compile(rb"\x00|\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\d{19,}")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class Refused(Exception):
    """Input the gate refuses: `status` and a message naming the field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def unstorable(text: str) -> bool:
    """True for text no database can store as it is: NUL, or a lone surrogate (not valid UTF-8)."""
    return _UNSTORABLE.search(text) is not None


def check_text(value: str, field: str) -> None:
    if unstorable(value):
        raise Refused(400, "invalid", f"{field} contains a NUL byte or invalid unicode", field)


def check_int(value: int, field: str) -> None:
    if not INT64_MIN <= value <= INT64_MAX:
        raise Refused(400, "invalid", f"{field} is out of range", field)


def json_depth(body: bytes) -> int:
    """The deepest bracket nesting of a JSON document, counted without recursion (strings skipped)."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return 0
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets), initial=0))


def check_json(body: bytes | str) -> None:
    """Refuse a JSON document too deep to decode safely, or one carrying unstorable text or an integer
    no column holds. Malformed JSON is left to the real decoder (which answers it with a 400)."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if json_depth(raw) > MAX_DEPTH:
        raise Refused(400, "invalid", f"the JSON document is nested deeper than {MAX_DEPTH} levels")
    if _SUSPECT_JSON.search(raw) is None:
        return
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        if b"\x00" in raw:
            raise Refused(400, "invalid", "the request body contains a NUL byte") from None
        return  # malformed: the route's own decoder refuses it
    _walk(document, "")


def _walk(value: Any, path: str) -> None:
    if isinstance(value, str):
        check_text(value, path or "body")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        check_int(value, path or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            check_text(key, f"a key of {path or 'the body'}")
            _walk(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]")


def _int_parameters(route_handler: Any) -> frozenset[str]:
    """Names (as sent) of the handler's query parameters declared `int` (or `int | None`)."""
    cached = getattr(route_handler, "_relaydesk_int_params", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    names: set[str] = set()
    try:
        parameters = route_handler.parsed_fn_signature.parameters
    except AttributeError:
        parameters = {}
    for name, field in parameters.items():
        annotation = field.annotation
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        options = (
            typing.get_args(annotation)
            if typing.get_origin(annotation) in (typing.Union, types.UnionType)
            else (annotation,)
        )
        if any(option is int for option in options):
            kwarg = field.kwarg_definition
            names.add(getattr(kwarg, "query", None) or name)
    result = frozenset(names)
    try:
        route_handler._relaydesk_int_params = result
    except AttributeError:
        pass
    return result


def check_query(scope: Scope) -> None:
    query = scope.get("query_string", b"")
    int_names = _int_parameters(scope.get("route_handler"))
    for key, value in parse_query_string(query) if query else ():
        check_text(key, "a query parameter name")
        check_text(value, key)
        if key in int_names:
            try:
                number = int(value)
            except ValueError:
                continue  # not a number: the framework's own validation answers it
            check_int(number, key)


def check_path(scope: Scope) -> None:
    for key, value in (scope.get("path_params") or {}).items():
        if isinstance(value, str):
            check_text(value, key)
        elif isinstance(value, int) and not isinstance(value, bool):
            check_int(value, key)


async def check_form(content_type: str, body: bytes, scope: Scope) -> None:
    media, options = parse_content_header(content_type)
    if media == "application/x-www-form-urlencoded":
        try:
            fields = parse_url_encoded_form_data(body)
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "invalid", "a form field is not valid UTF-8") from None
        items: list[tuple[str, Any]] = [(k, v) for k, values in fields.items() for v in _as_list(values)]
    else:
        boundary = options.get("boundary")
        if not boundary:
            return  # the framework refuses it when the route reads the form

        async def once() -> Any:
            yield body

        try:
            parsed = await parse_multipart_form(once(), boundary.encode("latin-1"))
        except HTTPException:
            return  # malformed: the framework answers it when the route reads the form
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "invalid", "a form field is not valid UTF-8") from None
        items = [(k, v) for k, values in parsed.items() for v in _as_list(values)]
    for key, value in items:
        check_text(key, "a form field name")
        if isinstance(value, str):
            check_text(value, key)
        elif isinstance(value, UploadFile):
            continue


def _as_list(values: Any) -> list[Any]:
    return values if isinstance(values, list) else [values]


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.decode("latin-1")
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_body(scope: Scope, receive: Receive, limit: int | None) -> bytes:
    announced = _content_length(scope)
    if limit is not None and announced is not None and announced > limit:
        raise Refused(413, "too_large", f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refused(400, "bad_request", "the client went away before sending the whole body")
        chunk = message.get("body", b"")
        if chunk:
            total += len(chunk)
            if limit is not None and total > limit:
                raise Refused(413, "too_large", f"the request body is larger than {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def inspect_http(scope: Scope, receive: Receive) -> None:
    """Every check of one HTTP request; raises `Refused`. Leaves the body in the framework's state."""
    check_path(scope)
    check_query(scope)
    route_handler = scope.get("route_handler")
    resolve = getattr(route_handler, "resolve_request_max_body_size", None)
    limit = resolve() if resolve is not None else None
    per_request = (getattr(route_handler, "opt", None) or {}).get(BODY_LIMIT)
    if callable(per_request):
        limit = per_request(scope) or limit
    body = await _read_body(scope, receive, limit)
    ScopeState.from_scope(scope).body = body
    if not body:
        return
    binary = (getattr(route_handler, "opt", None) or {}).get(BINARY_BODY)
    if binary and (not callable(binary) or binary(scope)):
        return  # the route takes raw bytes (a file upload, a mail) and checks them itself
    content_type = _content_type(scope)
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("application/x-www-form-urlencoded", "multipart/form-data"):
        await check_form(content_type, body, scope)
    else:
        # Whatever the label, handlers decode bodies as JSON, so every other body is checked as JSON.
        check_json(body)


class InputGuardMiddleware(ASGIMiddleware):
    """Runs `inspect_http` (and the query/path checks of WebSocket handshakes) before the handler."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        try:
            if scope["type"] == "http":
                await inspect_http(scope, receive)
            elif scope["type"] == "websocket":
                check_path(scope)
                check_query(scope)
        except Refused as refused:
            await _refuse(scope, send, refused)
            return
        await next_app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, refused: Refused) -> None:
    details = {"field": refused.field} if refused.field else None
    payload = json.dumps(error_body(refused.code, refused.message, details)).encode()
    prefix = "http"
    if scope["type"] == "websocket":
        if "websocket.http.response" not in (scope.get("extensions") or {}):
            await send({"type": "websocket.close", "code": 4400, "reason": refused.message[:120]})
            return
        prefix = "websocket.http"  # the server lets us refuse the handshake with a real HTTP answer
    await send(
        {
            "type": f"{prefix}.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": f"{prefix}.response.body", "body": payload})
