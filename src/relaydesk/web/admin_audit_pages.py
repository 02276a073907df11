"""The admin's audit log page, `/admin/audit`: the workspace's audit trail newest first, with filters.

It reads through `queries.audit.audit_page`, the query behind `GET /api/v1/audit-events`, so both show
the same rows. Filters are GET parameters of a plain form (works without JavaScript): `action` (exact, or
a prefix when it ends in `.` or `*`, e.g. `auth.`), `actor` (a person's id), `outcome`, `target_type`,
`target_id`, `from` / `to` (UTC dates, both inclusive) and `cursor` (the "Older" link). A refused value
is shown on the page with status 400, and nothing is listed.

Rows hold ids, never content (privacy/audit.py); the page turns user ids into the workspace member's name
and e-mail and API token ids into the token's name, looked up in this workspace only. It does not verify
the chain (that reads every row): it shows the newest seq and points to `relaydesk audit verify`. Reading
the page is not itself audited (docs/encryption.md §6).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from litestar import Request, Response, get

from relaydesk.errors import InvalidInput
from relaydesk.models.audit import AuditEvent
from relaydesk.models.users import ApiToken, User
from relaydesk.models.workspaces import Membership
from relaydesk.privacy import audit
from relaydesk.privacy.audit_chain import Outcome
from relaydesk.queries.audit import AuditFilters, audit_page
from relaydesk.runtime import Runtime
from relaydesk.web.admin_pages import SECTIONS, admin_ctx
from relaydesk.web.render import WebContext, page

PAGE_SIZE = 50
FIELDS = ("action", "actor", "outcome", "target_type", "target_id", "from", "to")
LIMITS = {"action": 80, "target_type": 40, "target_id": 64}
OUTCOMES = [o.value for o in Outcome]


def _date(value: str, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date like 2026-01-31") from None


def parse_filters(params: dict[str, str]) -> AuditFilters:
    """The page's GET parameters as the shared query's filters; InvalidInput names the refused one."""
    for key, limit in LIMITS.items():
        if len(params[key]) > limit:
            raise InvalidInput(f"{key.replace('_', ' ')} needs at most {limit} characters")
    action = params["action"]
    prefix = action.rstrip("*") if action.endswith(("*", ".")) else None
    if prefix is not None and not prefix:
        raise InvalidInput("action needs a name or a prefix such as auth.")
    actor = params["actor"]
    if actor:
        try:
            actor = str(uuid.UUID(actor))
        except ValueError:
            raise InvalidInput("actor must be a person of this workspace") from None
    outcome = params["outcome"]
    if outcome and outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}")
    since, until = _date(params["from"], "from"), _date(params["to"], "to")
    if since and until and since > until:
        raise InvalidInput("from is after to")
    return AuditFilters(
        actor_id=actor or None,
        action=None if prefix is not None else action or None,
        action_prefix=prefix,
        outcome=outcome or None,
        target_type=params["target_type"] or None,
        target_id=params["target_id"] or None,
        since=dt.datetime.combine(since, dt.time(), dt.UTC) if since else None,
        until=dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC) if until else None,
    )


def _ids(values: set[str | None]) -> set[uuid.UUID]:
    out = set()
    for value in values:
        try:
            out.add(uuid.UUID(str(value)))
        except ValueError:
            continue
    return out


def _metadata(details: dict[str, Any] | None) -> str:
    def shown(v: Any) -> str:
        if isinstance(v, list):
            return ",".join(shown(x) for x in v)
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return " ".join(f"{k}={shown(v)}" for k, v in sorted((details or {}).items()))


async def _people(session: Any, ws: uuid.UUID, ids: set[uuid.UUID]) -> dict[str, dict[str, str]]:
    """Members of this workspace (active or not) by id: who a user id in its trail is."""
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(User.id, User.name, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == ws, User.id.in_(ids))
    )
    return {str(i): {"name": n, "email": e} for i, n, e in rows.all()}


async def _tokens(session: Any, ws: uuid.UUID, ids: set[uuid.UUID]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(ApiToken.id, ApiToken.name).where(ApiToken.workspace_id == ws, ApiToken.id.in_(ids))
    )
    return {str(i): n for i, n in rows.all()}


def _actor(row: AuditEvent, people: dict[str, dict[str, str]], tokens: dict[str, str]) -> dict[str, Any]:
    """How the page names an actor: the person, "API token <name>", "AI agent" or "system"."""
    person = people.get(row.actor_id or "")
    if row.actor_kind == "user":
        if person:
            return {"label": person["name"], "detail": person["email"], "user_id": row.actor_id}
        return {"label": "user", "detail": row.actor_id}
    if row.actor_kind == "api_token":
        if row.actor_id in tokens:
            return {"label": f"API token {tokens[row.actor_id]}", "detail": None}
        if person:  # token requests may record the token's owner as the actor
            return {
                "label": f"API token of {person['name']}",
                "detail": person["email"],
                "user_id": row.actor_id,
            }
        return {"label": "API token", "detail": row.actor_id}
    if row.actor_kind == "ai_agent":
        return {"label": "AI agent", "detail": None}
    return {"label": "system", "detail": row.actor_id}


@get("/admin/audit", include_in_schema=False)
async def audit_log(request: Request, runtime: Runtime) -> Response[Any]:
    ctx = await admin_ctx(request, runtime)
    if not isinstance(ctx, WebContext):
        return ctx
    params = {k: request.query_params.get(k, "").strip() for k in FIELDS}
    cursor = request.query_params.get("cursor", "").strip() or None
    ws = ctx.workspace.id
    error = None
    events: list[dict[str, Any]] = []
    next_cursor = None
    async with runtime.db.read() as session:
        try:
            rows, next_cursor = await audit_page(
                session, ws, parse_filters(params), cursor=cursor, limit=PAGE_SIZE
            )
        except InvalidInput as exc:
            rows, error = [], exc.message
        user_ids = {r.actor_id for r in rows if r.actor_kind in ("user", "api_token")}
        user_ids |= {r.target_id for r in rows if r.target_type == "user"}
        people = await _people(session, ws, _ids(user_ids))
        tokens = await _tokens(session, ws, _ids({r.actor_id for r in rows if r.actor_kind == "api_token"}))
        members = (
            await session.execute(
                sa.select(User.id, User.name)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.workspace_id == ws)
                .order_by(User.name)
            )
        ).all()
        head = await audit.chain_head(session, ws)
        checkpoint = await audit.latest_checkpoint(session, ws)
    for r in rows:
        target_person = people.get(r.target_id or "") if r.target_type == "user" else None
        events.append(
            {
                "seq": r.seq,
                "occurred_at": r.occurred_at.astimezone(dt.UTC),
                "actor": _actor(r, people, tokens),
                "action": r.action,
                "target_type": r.target_type,
                "target_id": r.target_id,
                "target_person": target_person,
                "outcome": r.outcome,
                "ip": r.ip,
                "request_id": r.request_id,
                "metadata": _metadata(r.details),
            }
        )
    kept = {k: v for k, v in params.items() if v}
    return page(
        request,
        "admin/audit.html",
        ctx=ctx,
        status=400 if error else 200,
        sections=SECTIONS,
        section="audit",
        error=error,
        events=events,
        filters=params,
        filtered=bool(kept),
        members=[(str(i), n) for i, n in members],
        outcomes=OUTCOMES,
        older=f"/admin/audit?{urlencode({**kept, 'cursor': next_cursor})}" if next_cursor else None,
        newest=f"/admin/audit?{urlencode(kept)}" if cursor else None,
        head=head,
        checkpoint=checkpoint,
    )


ROUTES = [audit_log]
