"""Admin pages: inboxes, people and invitations, teams, labels, canned responses, custom attributes,
workspace settings, API tokens and outgoing webhooks (the audit log is web/admin_audit_pages.py).

Each section is one GET page and one POST endpoint `/admin/{section}/{op}`; writes go through the actions,
then the browser is redirected back (POST/redirect/GET), except when a secret is shown once (new token,
invitation link, webhook secret), which is rendered directly and never stored in clear.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response, get, post
from litestar.response import Redirect

from relaydesk.actions import inboxes as inbox_actions
from relaydesk.actions import invitations, library, people, webhooks, workspaces
from relaydesk.auth import scopes as token_scopes
from relaydesk.channels.registry import implemented_channels, spec_for
from relaydesk.channels.spec import ChannelSpec, FieldSpec
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import DomainError, Forbidden, InvalidInput
from relaydesk.models.conversations import Label
from relaydesk.models.inboxes import Inbox
from relaydesk.models.library import ATTRIBUTE_TYPES, AttributeDefinition, CannedResponse
from relaydesk.models.users import ApiToken, Invitation, User
from relaydesk.models.webhooks import WebhookEndpoint
from relaydesk.models.workspaces import ROLES, Membership, Team, TeamMember
from relaydesk.privacy import storage
from relaydesk.queries.receivers import receiver_health
from relaydesk.queries.serializers import iso
from relaydesk.runtime import Runtime
from relaydesk.web import admin_hours
from relaydesk.web.render import WebContext, check_form, page, web_context

SECTIONS = [
    ("inboxes", "Inboxes"),
    ("people", "People"),
    ("teams", "Teams"),
    ("labels", "Labels"),
    ("canned", "Canned responses"),
    ("attributes", "Custom attributes"),
    ("settings", "Workspace settings"),
    ("tokens", "API tokens"),
    ("webhooks", "Outgoing webhooks"),
    # Their pages live in web/admin_ai_pages.py (their forms go to the JSON API).
    ("knowledge", "Knowledge base"),
    ("ai", "AI"),
    ("intents", "Intents"),
    # web/admin_audit_pages.py (read only, filters as GET parameters).
    ("audit", "Audit log"),
    # web/admin_contact_pages.py (profile and data-subject requests).
    ("contacts", "Contacts"),
]


def _uuid(form: dict[str, Any], key: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(form.get(key, "")))
    except ValueError:
        raise InvalidInput(f"{key} is missing or not an id") from None


def inbox_row(inbox: Inbox, base_url: str) -> dict[str, Any]:
    """What the inboxes page lists, its forms generated from the channel's spec. No secret is among it:
    an owner reveals the generated ones on purpose; typed-in credentials only say whether they are set."""
    spec = spec_for(inbox.channel_type)
    creds = storage.read_inbox_credentials(inbox)
    return {
        "id": str(inbox.id),
        "name": inbox.name,
        "channel_type": inbox.channel_type,
        "channel_label": spec.label if spec else inbox.channel_type,
        "webhook_url": f"{base_url}/inbound/{inbox.channel_type}/{inbox.public_id}"
        if spec is None or spec.takes_webhooks
        else None,
        "embed_code": spec.embed_code(base_url, inbox.public_id) if spec else None,
        "secrets": [(f.name, f.label, f.help) for f in (spec.generated_credentials() if spec else ())]
        if inbox_actions.revealable_secrets(inbox)
        else [],
        "setting_fields": list(spec.settings) if spec else [],
        "credential_fields": [(f, bool(creds.get(f.name))) for f in spec.credentials if f.generated is None]
        if spec
        else [],
        "needs_reauthorisation": inbox.reauth_since is not None,
        "reauth_reason": inbox.reauth_reason,
        "settings": inbox.settings,
        "is_active": inbox.is_active,
        "last_event_at": iso(inbox.last_event_at),
        "last_error": inbox.last_error,
        "last_error_at": iso(inbox.last_error_at),
        "failed_events": inbox.failed_events,
        "receiver": receiver_health(inbox),
        "hours": admin_hours.form_values(inbox.settings),
        "preview_url": spec.preview.format(inbox_id=inbox.id) if spec and spec.preview else None,
    }


async def _section_data(section: str, ctx: WebContext, runtime: Runtime) -> dict[str, Any]:
    ws = ctx.workspace.id
    async with runtime.db.read() as session:

        async def rows(stmt: Any) -> list[Any]:
            return list((await session.execute(stmt)).scalars())

        if section == "inboxes":
            inboxes = await rows(sa.select(Inbox).where(Inbox.workspace_id == ws).order_by(Inbox.name))
            return {
                "inboxes": [inbox_row(i, runtime.settings.base_url) for i in inboxes],
                "channel_types": implemented_channels(),
                "timezones": admin_hours.timezones(),
            }
        if section == "people":
            members = (
                await session.execute(
                    sa.select(Membership, User)
                    .join(User, User.id == Membership.user_id)
                    .where(Membership.workspace_id == ws)
                    .order_by(User.name)
                )
            ).all()
            invites = await rows(
                sa.select(Invitation)
                .where(Invitation.workspace_id == ws, Invitation.accepted_at.is_(None))
                .order_by(Invitation.created_at.desc())
            )
            return {"members": members, "invitations": invites, "roles": ROLES}
        if section == "teams":
            teams = await rows(sa.select(Team).where(Team.workspace_id == ws).order_by(Team.name))
            links = (
                await session.execute(
                    sa.select(TeamMember.team_id, TeamMember.user_id).where(TeamMember.workspace_id == ws)
                )
            ).all()
            people_rows = (
                await session.execute(
                    sa.select(User.id, User.name)
                    .join(Membership, Membership.user_id == User.id)
                    .where(Membership.workspace_id == ws, Membership.is_active.is_(True))
                    .order_by(User.name)
                )
            ).all()
            team_members: dict[uuid.UUID, set[uuid.UUID]] = {t.id: set() for t in teams}
            for team_id, user_id in links:
                team_members.setdefault(team_id, set()).add(user_id)
            return {"teams": teams, "team_members": team_members, "people": people_rows}
        if section == "labels":
            return {
                "labels": await rows(sa.select(Label).where(Label.workspace_id == ws).order_by(Label.name))
            }
        if section == "canned":
            return {
                "canned": await rows(
                    sa.select(CannedResponse)
                    .where(CannedResponse.workspace_id == ws)
                    .order_by(CannedResponse.short_code)
                )
            }
        if section == "attributes":
            return {
                "attributes": await rows(
                    sa.select(AttributeDefinition)
                    .where(AttributeDefinition.workspace_id == ws)
                    .order_by(AttributeDefinition.applies_to, AttributeDefinition.key)
                ),
                "value_types": ATTRIBUTE_TYPES,
            }
        if section == "settings":
            return {
                "settings": ctx.workspace.settings or {},
                "roles": ROLES,
                "private_targets": ", ".join(sorted(runtime.settings.private_target_purposes)),
            }
        if section == "tokens":
            stmt = (
                sa.select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.workspace_id == ws)
                .order_by(ApiToken.created_at.desc())
            )
            return {"tokens": (await session.execute(stmt)).all(), "scope_families": token_scopes.FAMILIES}
        if section == "webhooks":
            return {
                "endpoints": await rows(
                    sa.select(WebhookEndpoint)
                    .where(WebhookEndpoint.workspace_id == ws)
                    .order_by(WebhookEndpoint.created_at)
                )
            }
    raise InvalidInput("unknown admin section")


async def _render(
    request: Request, runtime: Runtime, ctx: WebContext, section: str, *, status: int = 200, **extra: Any
) -> Response[Any]:
    data = await _section_data(section, ctx, runtime)
    return page(
        request,
        f"admin/{section}.html",
        ctx=ctx,
        status=status,
        sections=SECTIONS,
        section=section,
        **data,
        **extra,
    )


async def admin_ctx(request: Request, runtime: Runtime) -> WebContext | Response[Any]:
    ctx = await web_context(request, runtime)
    if isinstance(ctx, WebContext) and not ctx.has_role("admin"):
        return page(request, "forbidden.html", ctx=ctx, status=403)
    return ctx


@get("/admin", include_in_schema=False)
async def admin_home() -> Redirect:
    return Redirect("/admin/inboxes")


@get("/admin/{section:str}", include_in_schema=False)
async def admin_section(section: str, request: Request, runtime: Runtime) -> Response[Any]:
    if section not in dict(SECTIONS):
        return Response({"error": {"code": "not_found", "message": "no such admin page"}}, status_code=404)
    ctx = await admin_ctx(request, runtime)
    if not isinstance(ctx, WebContext):
        return ctx
    return await _render(request, runtime, ctx, section)


@get("/admin/inboxes/health", include_in_schema=False)
async def inbox_health(request: Request, runtime: Runtime) -> Response[Any]:
    """The health lines, fetched by the admin page when an event says an inbox saw traffic (no polling)."""
    ctx = await admin_ctx(request, runtime)
    if not isinstance(ctx, WebContext):
        return Response({"error": {"code": "forbidden", "message": "admins only"}}, status_code=403)
    async with runtime.db.read() as session:
        inboxes = (
            await session.execute(sa.select(Inbox).where(Inbox.workspace_id == ctx.workspace.id))
        ).scalars()
        items = [
            {
                "id": str(i.id),
                "last_event_at": iso(i.last_event_at),
                "last_error": i.last_error,
                "last_error_at": iso(i.last_error_at),
                "failed_events": i.failed_events,
                "receiver": receiver_health(i),
            }
            for i in inboxes
        ]
    return Response({"items": items}, headers={"cache-control": "no-store"})


Op = Callable[[Any, WebContext, dict[str, Any], Runtime], Awaitable[dict[str, Any] | None]]


def _spec_values(
    fields: tuple[FieldSpec, ...] | list[FieldSpec], f: dict[str, Any], prefix: str
) -> dict[str, Any]:
    """The values of the spec's fields a generated form posted as `<prefix><name>`. An unticked checkbox
    posts nothing, so a bool field absent from the form is false; other absent fields are left alone."""
    values: dict[str, Any] = {}
    for field in fields:
        key = prefix + field.name
        if field.kind == "bool":
            values[field.name] = key in f
        elif key in f:
            values[field.name] = f[key]
    return values


def _typed_credentials(spec: ChannelSpec, f: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Typed-in credentials from a form; a blank one means "keep the current value" (it is never shown)."""
    fields = [field for field in spec.credentials if field.generated is None]
    return {k: v for k, v in _spec_values(fields, f, prefix).items() if v not in ("", None)}


async def _inboxes_create(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    """The create form holds every channel's fields, named `<channel>:setting:<name>` and
    `<channel>:credential:<name>`; only the chosen channel's are read."""
    channel_type = f.get("channel_type", "")
    spec = inbox_actions.channel_spec(channel_type)
    await inbox_actions.create_inbox(
        s,
        ctx.workspace.id,
        name=f.get("name", ""),
        channel_type=channel_type,
        settings=_spec_values(spec.settings, f, f"{channel_type}:setting:"),
        credentials=_typed_credentials(spec, f, f"{channel_type}:credential:"),
        actor_id=ctx.info.user.id,
    )


async def _inboxes_update(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    inbox = await get_scoped(s, Inbox, ctx.workspace.id, _uuid(f))
    spec = inbox_actions.channel_spec(inbox.channel_type)
    await inbox_actions.update_inbox(
        s,
        ctx.workspace.id,
        inbox.id,
        name=f.get("name"),
        settings=_spec_values(spec.settings, f, "setting:"),
        credentials=_typed_credentials(spec, f, "credential:") or None,
        is_active=f.get("is_active") == "on",
        actor_id=ctx.info.user.id,
    )


async def _inboxes_hours(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await admin_hours.save_from_form(s, ctx.workspace.id, _uuid(f), f, ctx.info.user.id)


def _owner_only(ctx: WebContext, what: str) -> None:
    if ctx.role != "owner":
        raise Forbidden(f"only an owner can {what}")


async def _inboxes_reveal(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    _owner_only(ctx, "see an inbox's signing secrets")
    inbox_id = _uuid(f)
    secrets = await inbox_actions.reveal_secrets(s, ctx.workspace.id, inbox_id, actor_id=ctx.info.row.user_id)
    return {"revealed": {"inbox_id": str(inbox_id), "secrets": secrets}}


async def _inboxes_rotate(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    """Rotate one secret (each separately: the integrator swaps one side at a time); the new value is shown
    once, to the owner who made it, so the integrator can be given it."""
    _owner_only(ctx, "rotate an inbox's signing secrets")
    which = f.get("which", "")
    inbox = await inbox_actions.rotate_secret(
        s, ctx.workspace.id, _uuid(f), which, actor_id=ctx.info.row.user_id
    )
    fresh = storage.read_inbox_credentials(inbox)[which]
    return {"revealed": {"inbox_id": str(inbox.id), "secrets": {which: fresh}, "rotated": which}}


async def _people_invite(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    invitation, token = await invitations.invite(
        s,
        ctx.workspace.id,
        f.get("email", ""),
        f.get("role", "agent"),
        invited_by=ctx.info.user.id,
        actor_role=ctx.role,
    )
    return {"invite_link": f"{rt.settings.base_url}/invite/{token}", "invite_email": invitation.email}


async def _people_revoke(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await invitations.revoke_invitation(s, ctx.workspace.id, _uuid(f), actor_id=ctx.info.user.id)


async def _people_role(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await workspaces.change_role(
        s, ctx.workspace.id, _uuid(f), f.get("role", ""), actor_role=ctx.role, actor_id=ctx.info.user.id
    )


async def _people_deactivate(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    membership = await get_scoped(s, Membership, ctx.workspace.id, _uuid(f))
    if membership.user_id == ctx.info.user.id:
        raise Forbidden("you cannot deactivate yourself")
    await workspaces.deactivate_member(
        s, ctx.workspace.id, membership.id, actor_role=ctx.role, actor_id=ctx.info.user.id
    )


async def _people_reactivate(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await workspaces.reactivate_member(s, ctx.workspace.id, _uuid(f), actor_id=ctx.info.user.id)


async def _teams_create(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await library.create_team(s, ctx.workspace.id, f.get("name", ""), f.get("description", ""))


async def _teams_members(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    ids = [uuid.UUID(v) for v in f.get("_members", [])]
    await library.set_team_members(s, ctx.workspace.id, _uuid(f), ids)


async def _teams_delete(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await library.delete_team(s, ctx.workspace.id, _uuid(f))


async def _labels_create(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await library.create_label(s, ctx.workspace.id, f.get("name", ""), f.get("color") or "#6b7280")


async def _labels_delete(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await library.delete_label(s, ctx.workspace.id, _uuid(f))


async def _canned_create(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await library.create_canned_response(s, ctx.workspace.id, f.get("short_code", ""), f.get("content", ""))


async def _canned_delete(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await library.delete_canned_response(s, ctx.workspace.id, _uuid(f))


async def _attributes_create(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await library.create_attribute_definition(
        s,
        ctx.workspace.id,
        applies_to=f.get("applies_to", ""),
        key=f.get("key", ""),
        label=f.get("label", ""),
        value_type=f.get("value_type", "text"),
        is_personal=f.get("is_personal") == "on",
    )


async def _attributes_delete(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await library.delete_attribute_definition(s, ctx.workspace.id, _uuid(f))


async def _settings_save(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    roles = [r for r in f.get("_require_2fa_roles", []) if r in ROLES]
    if ctx.role != "owner" and set(roles) != set((ctx.workspace.settings or {}).get("require_2fa_roles", [])):
        raise Forbidden("only an owner can change the two-factor requirement")
    await workspaces.update_workspace(
        s,
        ctx.workspace.id,
        name=f.get("name"),
        settings={"require_2fa_roles": roles},
        actor_id=ctx.info.user.id,
    )


async def _tokens_create(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    """The scope preset (`*` full, `*:read` read-only) plus any per-family scopes ticked or typed."""
    wanted = [f.get("preset", "")] if f.get("preset") else []
    wanted += f.get("_scopes", []) + [v for v in f.get("scopes", "").replace(",", " ").split() if v]
    row, raw = await people.issue_api_token(
        s,
        ctx.workspace.id,
        ctx.info.user.id,
        f.get("name", ""),
        scopes=wanted or [token_scopes.FULL],
        actor_id=ctx.info.user.id,
    )
    return {"new_token": raw, "new_token_scopes": row.scopes}


async def _tokens_revoke(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await people.revoke_api_token(s, ctx.workspace.id, _uuid(f), None, actor_id=ctx.info.user.id)


async def _webhooks_create(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    types = [t.strip() for t in f.get("event_types", "").split(",") if t.strip()] or ["*"]
    _, secret = await webhooks.create_endpoint(
        s,
        ctx.workspace.id,
        url=f.get("url", ""),
        event_types=types,
        description=f.get("description", ""),
        actor_id=ctx.info.row.user_id,
    )
    return {"new_secret": secret}


async def _webhooks_delete(s: Any, ctx: WebContext, f: dict[str, Any], rt: Runtime) -> None:
    await webhooks.delete_endpoint(s, ctx.workspace.id, _uuid(f), actor_id=ctx.info.row.user_id)


OPS: dict[tuple[str, str], Op] = {
    ("inboxes", "create"): _inboxes_create,
    ("inboxes", "update"): _inboxes_update,
    ("inboxes", "rotate"): _inboxes_rotate,
    ("inboxes", "reveal"): _inboxes_reveal,
    ("inboxes", "hours"): _inboxes_hours,
    ("people", "invite"): _people_invite,
    ("people", "revoke"): _people_revoke,
    ("people", "role"): _people_role,
    ("people", "deactivate"): _people_deactivate,
    ("people", "reactivate"): _people_reactivate,
    ("teams", "create"): _teams_create,
    ("teams", "members"): _teams_members,
    ("teams", "delete"): _teams_delete,
    ("labels", "create"): _labels_create,
    ("labels", "delete"): _labels_delete,
    ("canned", "create"): _canned_create,
    ("canned", "delete"): _canned_delete,
    ("attributes", "create"): _attributes_create,
    ("attributes", "delete"): _attributes_delete,
    ("settings", "save"): _settings_save,
    ("tokens", "create"): _tokens_create,
    ("tokens", "revoke"): _tokens_revoke,
    ("webhooks", "create"): _webhooks_create,
    ("webhooks", "delete"): _webhooks_delete,
}


@post("/admin/{section:str}/{op:str}", include_in_schema=False, status_code=303)
async def admin_op(section: str, op: str, request: Request, runtime: Runtime) -> Response[Any]:
    handler = OPS.get((section, op))
    if handler is None:
        return Response({"error": {"code": "not_found", "message": "no such admin action"}}, status_code=404)
    ctx = await admin_ctx(request, runtime)
    if not isinstance(ctx, WebContext):
        return ctx
    await check_form(request, ctx.csrf)
    raw_form = await request.form()
    form: dict[str, Any] = {k: str(v) for k, v in raw_form.items()}
    form["_members"] = raw_form.getall("members", [])
    form["_require_2fa_roles"] = raw_form.getall("require_2fa_roles", [])
    form["_scopes"] = [str(v) for v in raw_form.getall("scope", [])]
    try:
        async with runtime.db.write() as session:
            shown_once = await handler(session, ctx, form, runtime)
    except DomainError as exc:
        return await _render(request, runtime, ctx, section, status=exc.status, error=exc.message)
    if shown_once:
        fresh = await web_context(request, runtime)
        assert isinstance(fresh, WebContext)
        return await _render(request, runtime, fresh, section, status=201, **shown_once)
    return Redirect(f"/admin/{section}?done={op}", status_code=303)


ROUTES = [admin_home, inbox_health, admin_section, admin_op]
