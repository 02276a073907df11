"""API token scopes: what a token may do, per resource family, read-only or read-and-write.

A scope is `<family>:read` or `<family>:write` (write includes read), or one of the presets `*:read`
(read everything) and `*` (everything: what a token had before scopes existed). Every API route declares
its family (`SCOPE_FAMILY` of its module in api/v1, or `opt={"scope": ...}` on the handler); reads are
GET/HEAD and the few POSTs marked `opt={"scope_access": "read"}` (searches, trials); everything else
writes. `requires_token_scope` in auth/guards.py is the one check, on the API router; browser sessions
are not scoped (their role rules apply).
"""

from __future__ import annotations

from collections.abc import Iterable

from relaydesk.errors import InvalidInput

FULL = "*"
READ_ONLY = "*:read"
READ = "read"
WRITE = "write"

# Resource families and what they hold; the admin page and `relaydesk token create --help` list them.
FAMILIES: dict[str, str] = {
    "conversations": "conversations, messages, attachments, message search",
    "contacts": "contacts and their identities",
    "inboxes": "inboxes, their secrets and the channel list",
    "knowledge": "knowledge-base articles and search",
    "webhooks": "outgoing webhook endpoints",
    "audit": "the audit trail",
    "members": "members, invitations and teams",
    "ai": "AI settings, decisions, intents",
    "settings": "workspace settings, labels, canned responses, custom attributes",
    "tokens": "API tokens",
    "jobs": "background jobs",
    "events": "the realtime event stream and its replay",
    "me": "who the token belongs to",
}

PRESETS: dict[str, str] = {FULL: "full access", READ_ONLY: "read-only, every family"}


def all_scopes() -> list[str]:
    """Every valid scope string, presets first (what the admin form and the CLI offer)."""
    return [FULL, READ_ONLY] + [f"{f}:{a}" for f in FAMILIES for a in (READ, WRITE)]


def normalise(values: Iterable[str]) -> list[str]:
    """Validate and tidy a requested scope list: unknown scopes are refused with the valid ones named;
    `*` absorbs everything, `*:read` absorbs every `x:read`, `x:write` absorbs `x:read`."""
    wanted = {v.strip() for v in values if v and v.strip()}
    if not wanted:
        raise InvalidInput("choose at least one scope (`*` for full access, `*:read` for read-only)")
    unknown = sorted(wanted - set(all_scopes()))
    if unknown:
        raise InvalidInput(
            f"unknown scope {', '.join(unknown)}; use *, *:read or <family>:read|write with family one of "
            + ", ".join(FAMILIES),
            details={"unknown": unknown},
        )
    if FULL in wanted:
        return [FULL]
    keep = sorted(
        s
        for s in wanted
        if not (
            s.endswith(":read") and s != READ_ONLY and (READ_ONLY in wanted or f"{s[:-5]}:write" in wanted)
        )
    )
    # Presets first so a listing reads naturally.
    return sorted(keep, key=lambda s: (s != READ_ONLY, s))


def allows(scopes: Iterable[str], family: str, access: str) -> bool:
    """Whether a token holding `scopes` may `access` ("read"/"write") the `family`."""
    held = set(scopes)
    if FULL in held or f"{family}:{WRITE}" in held:
        return True
    return access == READ and (READ_ONLY in held or f"{family}:{READ}" in held)


def covers(granted: Iterable[str], requested: Iterable[str]) -> bool:
    """Whether every scope in `requested` is within `granted`: a token may only mint tokens no stronger
    than itself."""
    held = list(granted)
    for scope in requested:
        if scope == FULL:
            ok = FULL in held
        elif scope == READ_ONLY:
            ok = FULL in held or READ_ONLY in held or all(allows(held, f, READ) for f in FAMILIES)
        else:
            family, _, access = scope.partition(":")
            ok = allows(held, family, access)
        if not ok:
            return False
    return True


def is_read_only(scopes: Iterable[str]) -> bool:
    return not any(s == FULL or s.endswith(":write") for s in scopes)
