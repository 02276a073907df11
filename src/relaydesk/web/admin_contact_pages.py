"""The admin's contact pages: `/admin/contacts` (find a contact by name, e-mail or phone) and
`/admin/contacts/{id}` (the profile, and the data-subject requests about the person: ask for an export,
follow it, download it once; restrict processing or lift it; record an objection to automated decisions).

Forms post to `/admin/contacts/{id}/exports`, `.../exports/{export_id}/download`, `.../restriction` and
`.../objection` with the CSRF token; they go through actions/exports.py and actions/subject_rights.py like
the API and the CLI. Reading a profile is audited
(`contact.viewed`) as in the API. Another workspace's contact is a 404 page.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response, get, post
from litestar.response import Redirect

from relaydesk.actions import exports, subject_rights
from relaydesk.actions.ai import contact_ai_off
from relaydesk.actions.subject_requests import Requester
from relaydesk.db.base import utcnow
from relaydesk.db.scoping import get_scoped
from relaydesk.errors import DomainError
from relaydesk.models.contacts import Contact
from relaydesk.models.privacy_requests import SubjectRequest
from relaydesk.privacy import audit, storage
from relaydesk.privacy.audit_chain import ActorKind
from relaydesk.runtime import Runtime
from relaydesk.web.admin_pages import SECTIONS, admin_ctx
from relaydesk.web.render import WebContext, check_form, page

SECTION = "contacts"
PAGE_SIZE = 50


def _requester(ctx: WebContext) -> Requester:
    return Requester(kind=ActorKind.USER, user_id=ctx.info.user.id)


def _not_found(request: Request, ctx: WebContext) -> Response[Any]:
    return page(
        request,
        "admin/contact.html",
        ctx=ctx,
        status=404,
        sections=SECTIONS,
        section=SECTION,
        contact=None,
        error="No such contact in this workspace.",
    )


@get("/admin/contacts", include_in_schema=False)
async def contacts_page(request: Request, runtime: Runtime) -> Response[Any]:
    ctx = await admin_ctx(request, runtime)
    if not isinstance(ctx, WebContext):
        return ctx
    q = str(request.query_params.get("q", ""))[:200].strip()
    async with runtime.db.read() as session:
        if q:
            ids = await storage.search_contacts(session, ctx.workspace.id, q, before=None, limit=PAGE_SIZE)
            stmt = sa.select(Contact).where(Contact.workspace_id == ctx.workspace.id, Contact.id.in_(ids))
        else:
            stmt = (
                sa.select(Contact)
                .where(Contact.workspace_id == ctx.workspace.id)
                .order_by(Contact.id.desc())
                .limit(PAGE_SIZE)
            )
        rows = list((await session.execute(stmt)).scalars())
        found = [(c, storage.read_contact(c)) for c in sorted(rows, key=lambda c: c.id, reverse=True)]
    return page(
        request, "admin/contacts.html", ctx=ctx, sections=SECTIONS, section=SECTION, q=q, contacts=found
    )


@get("/admin/contacts/{contact_id:uuid}", include_in_schema=False)
async def contact_page(contact_id: uuid.UUID, request: Request, runtime: Runtime) -> Response[Any]:
    ctx = await admin_ctx(request, runtime)
    if not isinstance(ctx, WebContext):
        return ctx
    return await _render(request, runtime, ctx, contact_id)


async def _render(
    request: Request,
    runtime: Runtime,
    ctx: WebContext,
    contact_id: uuid.UUID,
    *,
    status: int = 200,
    error: str | None = None,
) -> Response[Any]:
    async with runtime.db.write() as session:
        try:
            contact = await get_scoped(session, Contact, ctx.workspace.id, contact_id)
        except DomainError:
            return _not_found(request, ctx)
        pii = storage.read_contact(contact)
        by_request = {r.id: e for e, r in await exports.list_exports(session, ctx.workspace.id, contact_id)}
        requests = list(
            (
                await session.execute(
                    sa.select(SubjectRequest)
                    .where(
                        SubjectRequest.workspace_id == ctx.workspace.id,
                        SubjectRequest.contact_id == contact_id,
                    )
                    .order_by(SubjectRequest.received_at.desc(), SubjectRequest.id.desc())
                )
            ).scalars()
        )
        ai_off = await contact_ai_off(session, ctx.workspace.id, contact_id)
        await audit.record(
            session,
            ctx.workspace.id,
            "contact.viewed",
            actor_id=ctx.info.user.id,
            target_type="contact",
            target_id=contact_id,
        )
    return page(
        request,
        "admin/contact.html",
        ctx=ctx,
        status=status,
        sections=SECTIONS,
        section=SECTION,
        contact=contact,
        pii=pii,
        shredded=storage.is_shredded(contact),
        requests=[(r, by_request.get(r.id)) for r in requests],
        ai_off=ai_off,
        me=ctx.info.user.id,
        now=utcnow(),
        done=request.query_params.get("done"),
        error=error,
    )


@post(
    "/admin/contacts/{contact_id:uuid}/exports/{export_id:uuid}/download",
    include_in_schema=False,
    status_code=200,
)
async def contact_export_download(
    contact_id: uuid.UUID, export_id: uuid.UUID, request: Request, runtime: Runtime
) -> Response[Any]:
    ctx = await admin_ctx(request, runtime)
    if not isinstance(ctx, WebContext):
        return ctx
    await check_form(request, ctx.csrf)
    try:
        async with runtime.db.write() as session:
            data = await exports.download_export(
                session, ctx.workspace.id, contact_id, export_id, _requester(ctx)
            )
    except DomainError as exc:
        if exc.status == 404:
            return _not_found(request, ctx)
        return await _render(request, runtime, ctx, contact_id, status=exc.status, error=exc.message)
    return Response(
        data,
        media_type="application/zip",
        headers={
            "content-disposition": f'attachment; filename="contact-export-{export_id}.zip"',
            "cache-control": "private, no-store",
        },
    )


async def _contact_form(
    contact_id: uuid.UUID, request: Request, runtime: Runtime, done: str, act: Any
) -> Response[Any]:
    """A form on the contact page: CSRF-checked, carried out in one write transaction, then back to the
    page (POST/redirect/GET); a refusal is shown on the page with its status."""
    ctx = await admin_ctx(request, runtime)
    if not isinstance(ctx, WebContext):
        return ctx
    form = await check_form(request, ctx.csrf)
    try:
        async with runtime.db.write() as session:
            await act(session, ctx, form)
    except DomainError as exc:
        if exc.status == 404:
            return _not_found(request, ctx)
        return await _render(request, runtime, ctx, contact_id, status=exc.status, error=exc.message)
    return Redirect(f"/admin/contacts/{contact_id}?done={done}", status_code=303)


@post("/admin/contacts/{contact_id:uuid}/exports", include_in_schema=False, status_code=303)
async def contact_export_create(contact_id: uuid.UUID, request: Request, runtime: Runtime) -> Response[Any]:
    async def act(session: Any, ctx: WebContext, _form: dict[str, Any]) -> None:
        await exports.request_export(session, ctx.workspace.id, contact_id, _requester(ctx))

    return await _contact_form(contact_id, request, runtime, "export", act)


@post("/admin/contacts/{contact_id:uuid}/restriction", include_in_schema=False, status_code=303)
async def contact_restriction(contact_id: uuid.UUID, request: Request, runtime: Runtime) -> Response[Any]:
    async def act(session: Any, ctx: WebContext, form: dict[str, Any]) -> None:
        restricted = str(form.get("restricted", "")) == "1"
        await subject_rights.set_restriction(
            session, ctx.workspace.id, contact_id, restricted, _requester(ctx)
        )

    return await _contact_form(contact_id, request, runtime, "restriction", act)


@post("/admin/contacts/{contact_id:uuid}/objection", include_in_schema=False, status_code=303)
async def contact_objection(contact_id: uuid.UUID, request: Request, runtime: Runtime) -> Response[Any]:
    async def act(session: Any, ctx: WebContext, _form: dict[str, Any]) -> None:
        await subject_rights.object_to_automated_decisions(
            session, ctx.workspace.id, contact_id, _requester(ctx)
        )

    return await _contact_form(contact_id, request, runtime, "objection", act)


ROUTES = [
    contacts_page,
    contact_page,
    contact_export_create,
    contact_export_download,
    contact_restriction,
    contact_objection,
]
