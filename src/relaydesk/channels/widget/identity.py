"""Who a widget visitor is: the opaque visitor token, and the host site's proof of a logged-in user.

Pure functions, no database: the routes (routes.py) call them with the inbox's sealed credentials opened.

**Visitor token.** `rdv1.<payload>.<mac>`: base64url JSON `{"i": inbox public id, "v": visitor key,
"h": host origin, "e": expiry (unix s), "p": persistent}` and an HMAC-SHA256 over it under the inbox's
`visitor_token_secret`. It is opaque to the visitor (nothing in it is secret, but nothing in it can be
changed), bound to one inbox (its own secret, and `i` checked), expires, and is only ever sent in the
`X-Relaydesk-Visitor` header or the WebSocket's first frame, never in a URL. Rotating the secret ends
every visitor session of the inbox.

**Identity.** A host site proves a logged-in user with `user_hash = hex(HMAC-SHA256(identity_secret,
user_id))`, or an HS256 JWT `{"sub": user_id, "exp": ...}` under the same secret, both computed on its
server. A wrong or malformed proof is always refused (a forgery); a missing one only when the inbox
enforces verification (otherwise the visitor stays anonymous and the id is not trusted).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

TOKEN_PREFIX = "rdv1"
TOKEN_HEADER = "x-relaydesk-visitor"
#: A visitor who keeps their token (no Do Not Track / Global Privacy Control) stays the same visitor this
#: long; with DNT/GPC the token lives in the page's memory only and expires after a working day.
PERSISTENT_TOKEN_SECONDS = 30 * 24 * 3600
SESSION_TOKEN_SECONDS = 12 * 3600
MAX_TOKEN_CHARS = 2048
MAX_USER_ID_CHARS = 200
MAX_JWT_CHARS = 4096
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
_USER_ID = re.compile(r"[\x21-\x7e]{1,200}")  # printable ASCII, no spaces: ids, e-mail addresses, UUIDs


class InvalidToken(Exception):
    """The visitor token is missing, malformed, forged, expired or for another inbox: 401."""


class IdentityRefused(Exception):
    """The host site's identity proof is wrong, malformed or (when enforced) missing: 403."""


@dataclass(frozen=True)
class Visitor:
    """A verified visitor token's content."""

    inbox_public_id: str
    key: str  # "anon:<random>" or "user:<host site's user id>"
    host_origin: str
    expires_at: int
    persistent: bool

    @property
    def identified(self) -> bool:
        return self.key.startswith("user:")

    @property
    def user_id(self) -> str | None:
        return self.key[5:] if self.identified else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), f"{TOKEN_PREFIX}.{payload}".encode(), hashlib.sha256).digest())


def new_anonymous_key() -> str:
    return "anon:" + secrets.token_urlsafe(16)


def user_key(user_id: str) -> str:
    return "user:" + user_id


def issue_token(
    secret: str,
    inbox_public_id: str,
    key: str,
    host_origin: str,
    *,
    persistent: bool,
    now: float | None = None,
) -> tuple[str, Visitor]:
    lifetime = PERSISTENT_TOKEN_SECONDS if persistent else SESSION_TOKEN_SECONDS
    visitor = Visitor(inbox_public_id, key, host_origin, int((now or time.time()) + lifetime), persistent)
    payload = _b64(
        json.dumps(
            {"i": inbox_public_id, "v": key, "h": host_origin, "e": visitor.expires_at, "p": persistent},
            separators=(",", ":"),
        ).encode()
    )
    return f"{TOKEN_PREFIX}.{payload}.{_mac(secret, payload)}", visitor


def read_token(secret: str, inbox_public_id: str, token: str | None, *, now: float | None = None) -> Visitor:
    """The visitor a token names, or `InvalidToken` with the reason (the MAC is compared in constant time)."""
    if not token:
        raise InvalidToken(f"send the visitor token in the {TOKEN_HEADER} header")
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise InvalidToken("the visitor token is malformed")
    prefix, payload, mac = token.split(".")
    if prefix != TOKEN_PREFIX:
        raise InvalidToken("the visitor token is malformed")
    if not hmac.compare_digest(mac.encode(), _mac(secret, payload).encode()):
        raise InvalidToken("the visitor token is not valid for this widget")
    try:
        data = json.loads(_unb64(payload))
        visitor = Visitor(str(data["i"]), str(data["v"]), str(data["h"]), int(data["e"]), bool(data["p"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidToken("the visitor token is malformed") from None
    if visitor.inbox_public_id != inbox_public_id:
        raise InvalidToken("the visitor token belongs to another widget")
    if visitor.expires_at < (now or time.time()):
        raise InvalidToken("the visitor token has expired; start a new session")
    return visitor


def user_hash(identity_secret: str, user_id: str) -> str:
    """What the host site's server computes: hex HMAC-SHA256 of the user id under the identity secret."""
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verified_user(identity_secret: str, proof: dict[str, Any], *, enforce: bool) -> str | None:
    """The host site's user id when its proof holds; None for an unsigned identity the inbox tolerates.

    `proof`: `{"user_id", "user_hash"}` or `{"jwt"}`. Raises `IdentityRefused` for a wrong or malformed
    proof, and for a missing one when `enforce`."""
    token = proof.get("jwt")
    if token is not None:
        if not isinstance(token, str) or len(token) > MAX_JWT_CHARS:
            raise IdentityRefused("jwt must be a string of at most 4096 characters")
        try:
            claims = jwt.decode(
                token, identity_secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.PyJWTError as exc:
            raise IdentityRefused(f"the identity JWT is not valid: {exc}") from None
        user_id = claims.get("sub")
        if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
            raise IdentityRefused("the identity JWT's sub must be a user id of 1-200 printable characters")
        return user_id
    user_id = proof.get("user_id")
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        raise IdentityRefused("user_id must be 1-200 printable characters without spaces")
    given = proof.get("user_hash")
    if given is None:
        if enforce:
            raise IdentityRefused("this widget requires a verified identity: send user_hash or jwt")
        return None
    if not isinstance(given, str) or not hmac.compare_digest(
        given.strip().lower().encode(), user_hash(identity_secret, user_id).encode()
    ):
        raise IdentityRefused("user_hash does not match user_id")
    return user_id


def normalise_origin(value: str) -> str | None:
    """`scheme://host[:port]` of an origin or URL, lower-cased; None when it is not an http(s) origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:
        try:
            host = f"[{ipaddress.IPv6Address(host)}]"
        except ValueError:
            return None
    elif not _HOST.fullmatch(host):
        return None  # the origin goes into a CSP header: nothing but a host name may pass
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def origin_allowed(origin: str, allowed: list[str]) -> bool:
    """An exact origin match against the inbox's `allowed_origins` (no wildcards: a widget belongs on the
    sites its admin named)."""
    wanted = normalise_origin(origin)
    return wanted is not None and any(normalise_origin(a) == wanted for a in allowed)
