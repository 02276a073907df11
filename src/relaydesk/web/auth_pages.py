"""Login, second factor, logout, account security (2FA, password), workspace switch, invitation accept.

Every POST carries a synchroniser token: the session's CSRF token, or before login a random token that
must match the `rd_prelogin` cookie (login CSRF). GET handlers never change state.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect

from relaydesk.actions.invitations import accept_invitation, find_invitation
from relaydesk.auth import login
from relaydesk.errors import DomainError, Forbidden, InvalidInput, NotAuthenticated, Throttled
from relaydesk.runtime import Runtime
from relaydesk.web.render import (
    PRELOGIN_COOKIE,
    WebContext,
    check_form,
    clear_session_cookie,
    client_ip,
    new_prelogin_token,
    page,
    raw_session,
    same_origin,
    set_prelogin_cookie,
    set_session_cookie,
    web_context,
)


def _safe_next(value: Any) -> str:
    target = str(value or "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


def _login_page(
    request: Request,
    runtime: Runtime,
    *,
    error: str | None = None,
    status: int = 200,
    email: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    token = request.cookies.get(PRELOGIN_COOKIE) or new_prelogin_token()
    response = page(
        request,
        "login.html",
        status=status,
        headers=headers,
        csrf=token,
        error=error,
        email=email,
        next=_safe_next(request.query_params.get("next")),
    )
    set_prelogin_cookie(response, runtime, token)
    return response


@get("/", include_in_schema=False)
async def home() -> Redirect:
    return Redirect("/inbox")


@get("/login", include_in_schema=False)
async def login_form(request: Request, runtime: Runtime) -> Response:
    info = await login.load_session(runtime, raw_session(request, runtime))
    if info is not None and info.stage == "full":
        return Redirect("/inbox")
    return _login_page(request, runtime)


@post("/login", include_in_schema=False, status_code=303)
async def login_submit(request: Request, runtime: Runtime) -> Response:
    form = dict(await request.form())
    cookie = request.cookies.get(PRELOGIN_COOKIE, "")
    sent = str(form.get("csrf_token", ""))
    email = str(form.get("email", ""))[:320]
    if not same_origin(request) or not cookie or not hmac.compare_digest(sent, cookie):
        return _login_page(
            request, runtime, error="This form expired; please try again.", status=403, email=email
        )
    try:
        raw, stage = await login.password_login(
            runtime,
            email,
            str(form.get("password", ""))[:1024],
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            replaces=raw_session(request, runtime),
        )
    except Throttled as exc:
        return _login_page(request, runtime, error=exc.message, status=429, email=email, headers=exc.headers)
    except NotAuthenticated as exc:
        return _login_page(request, runtime, error=exc.message, status=401, email=email)
    target = {"mfa": "/login/2fa", "enrol": "/account/security"}.get(stage, _safe_next(form.get("next")))
    response = Redirect(target, status_code=303)
    set_session_cookie(response, runtime, raw)
    return response


@get("/login/2fa", include_in_schema=False)
async def mfa_form(request: Request, runtime: Runtime) -> Response:
    info = await login.load_session(runtime, raw_session(request, runtime))
    if info is None or info.stage != "mfa":
        return Redirect("/login")
    return page(request, "mfa.html", csrf=info.row.csrf_token)


@post("/login/2fa", include_in_schema=False, status_code=303)
async def mfa_submit(request: Request, runtime: Runtime) -> Response:
    info = await login.load_session(runtime, raw_session(request, runtime))
    if info is None or info.stage != "mfa":
        return Redirect("/login", status_code=303)
    form = await check_form(request, info.row.csrf_token)
    try:
        raw, stage = await login.second_factor(
            runtime,
            info,
            str(form.get("code", ""))[:64],
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
    except (NotAuthenticated, Throttled, InvalidInput) as exc:
        throttled = isinstance(exc, Throttled)
        return page(
            request,
            "mfa.html",
            csrf=info.row.csrf_token,
            error=exc.message,
            status=429 if throttled else 401,
            headers=exc.headers if isinstance(exc, Throttled) else None,
        )
    response = Redirect("/account/security" if stage == "enrol" else "/inbox", status_code=303)
    set_session_cookie(response, runtime, raw)
    return response


@post("/logout", include_in_schema=False, status_code=303)
async def logout_submit(request: Request, runtime: Runtime) -> Response:
    raw = raw_session(request, runtime)
    info = await login.load_session(runtime, raw)
    if info is not None:
        await check_form(request, info.row.csrf_token)
        await login.logout(runtime, raw, ip=client_ip(request))
    response = Redirect("/login", status_code=303)
    clear_session_cookie(response, runtime)
    return response


async def _security_page(
    request: Request,
    ctx: WebContext,
    *,
    error: str | None = None,
    notice: str | None = None,
    codes: list[str] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    pending = await login.pending_enrolment(ctx.info)
    return page(
        request,
        "security.html",
        ctx=ctx,
        status=status,
        headers=headers,
        error=error,
        notice=notice,
        codes=codes,
        enrolling=pending,
        totp_on=ctx.info.user.totp_enabled_at is not None,
        reauth_ok=ctx.info.recently_reauthenticated(),
        codes_left=await login.recovery_codes_left(request.app.state.runtime, ctx.info.user.id),
        required=login.requires_two_factor(ctx.workspace, ctx.role),
    )


@get("/account/security", include_in_schema=False)
async def security_page(request: Request, runtime: Runtime) -> Response:
    ctx = await web_context(request, runtime, stage="enrol", for_workspace=False)
    if not isinstance(ctx, WebContext):
        return ctx
    return await _security_page(request, ctx)


@post("/account/security/{action:str}", include_in_schema=False, status_code=200)
async def security_action(action: str, request: Request, runtime: Runtime) -> Response:
    ctx = await web_context(request, runtime, stage="enrol", for_workspace=False)
    if not isinstance(ctx, WebContext):
        return ctx
    form = await check_form(request, ctx.csrf)
    ip, agent = client_ip(request), request.headers.get("user-agent")
    try:
        if action == "reauth":
            await login.reauthenticate(runtime, ctx.info, str(form.get("password", ""))[:1024], ip=ip)
            return await _security_page(request, ctx, notice="Password confirmed for the next 10 minutes.")
        if action == "start-2fa":
            await login.begin_enrolment(runtime, ctx.info)
            fresh = await web_context(request, runtime, stage="enrol", for_workspace=False)
            assert isinstance(fresh, WebContext)
            return await _security_page(request, fresh)
        if action == "confirm-2fa":
            codes, raw = await login.confirm_enrolment(
                runtime, ctx.info, str(form.get("code", ""))[:16], ip=ip, user_agent=agent
            )
            fresh_info = await login.load_session(runtime, raw)
            assert fresh_info is not None
            ctx.info = fresh_info
            response = await _security_page(
                request, ctx, codes=codes, notice="Two-factor authentication is on."
            )
            set_session_cookie(response, runtime, raw)
            return response
        if action == "disable-2fa":
            await login.disable_two_factor(runtime, ctx.info, ip=ip)
            fresh = await web_context(request, runtime, for_workspace=False)
            assert isinstance(fresh, WebContext)
            return await _security_page(request, fresh, notice="Two-factor authentication is off.")
        if action == "password":
            if form.get("password") != form.get("password_again"):
                raise InvalidInput("The two passwords differ.")
            raw = await login.change_password(
                runtime, ctx.info, str(form.get("password", ""))[:1024], ip=ip, user_agent=agent
            )
            response = Redirect("/account/security?changed=1", status_code=303)
            set_session_cookie(response, runtime, raw)
            return response
    except Throttled as exc:
        return await _security_page(request, ctx, error=exc.message, status=429, headers=exc.headers)
    except NotAuthenticated as exc:
        return await _security_page(request, ctx, error=exc.message, status=401)
    except (InvalidInput, Forbidden) as exc:
        return await _security_page(request, ctx, error=exc.message, status=exc.status)
    return await _security_page(request, ctx, error="Unknown action.", status=404)


@post("/workspace/switch", include_in_schema=False, status_code=303)
async def switch_workspace(request: Request, runtime: Runtime) -> Response:
    ctx = await web_context(request, runtime, for_workspace=False)
    if not isinstance(ctx, WebContext):
        return ctx
    form = await check_form(request, ctx.csrf)
    try:
        target = uuid.UUID(str(form.get("workspace_id", "")))
    except ValueError:
        raise InvalidInput("choose a workspace") from None
    raw = await login.switch_workspace(
        runtime, ctx.info, target, ip=client_ip(request), user_agent=request.headers.get("user-agent")
    )
    response = Redirect("/inbox", status_code=303)
    set_session_cookie(response, runtime, raw)
    return response


@get("/invite/{token:str}", include_in_schema=False)
async def invite_form(token: str, request: Request, runtime: Runtime) -> Response:
    try:
        async with runtime.db.read() as session:
            invitation, workspace = await find_invitation(session, token)
    except DomainError as exc:
        return page(request, "invite.html", error=exc.message, invitation=None, status=404)
    csrf = request.cookies.get(PRELOGIN_COOKIE) or new_prelogin_token()
    response = page(request, "invite.html", csrf=csrf, invitation=invitation, workspace=workspace)
    set_prelogin_cookie(response, runtime, csrf)
    return response


@post("/invite/{token:str}", include_in_schema=False, status_code=303)
async def invite_accept(token: str, request: Request, runtime: Runtime) -> Response:
    cookie = request.cookies.get(PRELOGIN_COOKIE, "")
    form = await check_form(request, cookie)
    try:
        async with runtime.db.write() as session:
            invitation, workspace = await find_invitation(session, token)
            user = await accept_invitation(
                session, token, name=str(form.get("name", ""))[:200], password=str(form.get("password", ""))
            )
            email = user.email
    except DomainError as exc:
        try:
            async with runtime.db.read() as session:
                invitation, workspace = await find_invitation(session, token)
        except DomainError:
            return page(request, "invite.html", error=exc.message, invitation=None, status=404)
        return page(
            request,
            "invite.html",
            csrf=cookie,
            invitation=invitation,
            workspace=workspace,
            error=exc.message,
            status=exc.status,
        )
    try:
        raw, stage = await login.password_login(
            runtime,
            email,
            str(form.get("password", "")),
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            workspace_id=invitation.workspace_id,
        )
    except DomainError:
        return Redirect("/login", status_code=303)
    target = {"mfa": "/login/2fa", "enrol": "/account/security"}.get(stage, "/inbox")
    response = Redirect(target, status_code=303)
    set_session_cookie(response, runtime, raw)
    return response


ROUTES = [
    home,
    login_form,
    login_submit,
    mfa_form,
    mfa_submit,
    logout_submit,
    security_page,
    security_action,
    switch_workspace,
    invite_form,
    invite_accept,
]
