"""HTML rendering, cookies and the checks every web page shares.

The web app renders Jinja2 itself instead of registering a template engine on the Litestar app: the app
factory stays unaware of the web layer, and every page goes through `page()`, which always supplies the
CSP nonce, the CSRF token and the signed-in person, so no template can forget them.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import MediaType, Request, Response
from litestar.response import Redirect

from relaydesk.auth.login import SessionInfo, load_session
from relaydesk.auth.principal import ROLE_RANK
from relaydesk.auth.sessions import cookie_name
from relaydesk.db import tenancy
from relaydesk.db.tenancy import outside_tenant
from relaydesk.errors import Forbidden
from relaydesk.models.workspaces import Membership, Workspace
from relaydesk.runtime import Runtime
from relaydesk.server.headers import csp_nonce

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PRELOGIN_COOKIE = "rd_prelogin"

env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "0.0.0.0"  # noqa: S104 (an address, not a bind)


def nonce(request: Request) -> str:
    return csp_nonce(request.scope)


@dataclass
class WebContext:
    """The signed-in person on a page: session, current workspace, role and the other workspaces."""

    info: SessionInfo
    workspace: Workspace
    role: str
    workspaces: list[dict[str, Any]] = field(default_factory=list)

    @property
    def csrf(self) -> str:
        return self.info.row.csrf_token

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[minimum]


def page(
    request: Request,
    template: str,
    *,
    ctx: WebContext | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> Response[str]:
    html = env.get_template(template).render(
        nonce=nonce(request),
        ctx=ctx,
        csrf=ctx.csrf if ctx else values.pop("csrf", ""),
        path=request.url.path,
        **values,
    )
    return Response(
        html,
        media_type=MediaType.HTML,  # Litestar adds the charset itself
        status_code=status,
        headers={"cache-control": "no-store", **(headers or {})},
    )


def set_session_cookie(response: Response[Any], runtime: Runtime, raw: str) -> None:
    secure = runtime.settings.secure_cookies
    response.set_cookie(
        cookie_name(runtime.settings), raw, path="/", httponly=True, samesite="lax", secure=secure
    )


def set_prelogin_cookie(response: Response[Any], runtime: Runtime, token: str) -> None:
    """The CSRF cookie of the forms shown before a session exists (login, invitation); `Secure` like the
    session cookie when the deployment is served over HTTPS."""
    response.set_cookie(
        PRELOGIN_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="strict",
        max_age=3600,
        secure=runtime.settings.secure_cookies,
    )


def clear_session_cookie(response: Response[Any], runtime: Runtime) -> None:
    response.set_cookie(
        cookie_name(runtime.settings),
        "",
        max_age=0,
        path="/",
        httponly=True,
        samesite="lax",
        secure=runtime.settings.secure_cookies,
    )


def raw_session(request: Request, runtime: Runtime) -> str | None:
    return request.cookies.get(cookie_name(runtime.settings))


def same_origin(request: Request) -> bool:
    """Browsers send Origin on every cross-site POST; when present it must be ours."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # old browsers; the synchroniser token still has to match
    return urlsplit(origin).netloc == request.headers.get("host")


async def check_form(request: Request, expected: str) -> dict[str, Any]:
    """Parse a form POST and refuse it unless it comes from our page (origin + synchroniser token)."""
    form = dict(await request.form())
    sent = str(form.get("csrf_token", ""))
    if not same_origin(request) or not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden("this form has expired or came from another site; reload the page and try again")
    return form


def new_prelogin_token() -> str:
    return secrets.token_urlsafe(24)


async def web_context(
    request: Request, runtime: Runtime, *, stage: str = "full", for_workspace: bool = True
) -> WebContext | Response[Any]:
    """The page's WebContext, or the redirect the visitor needs (login, second factor, 2FA enrolment).

    The session and the person's memberships span workspaces, so they are read as system work; then, unless
    `for_workspace=False` (account pages acting for the person in all their workspaces), the rest of the
    request runs under the current workspace's row-level security policies (db/tenancy.py)."""
    with outside_tenant():
        ctx = await _resolve(request, runtime, stage=stage)
    if for_workspace and isinstance(ctx, WebContext):
        tenancy.enter(ctx.workspace.id, ctx.info.user.id)
    return ctx


async def _resolve(request: Request, runtime: Runtime, *, stage: str) -> WebContext | Response[Any]:
    info = await load_session(runtime, raw_session(request, runtime))
    if info is None:
        target = request.url.path
        return Redirect("/login", query_params={"next": target} if target not in ("/", "/login") else None)
    if info.stage == "mfa":
        return Redirect("/login/2fa")
    if info.stage == "enrol" and stage != "enrol":
        return Redirect("/account/security")
    async with runtime.db.read() as session:
        rows = (
            await session.execute(
                sa.select(Membership, Workspace)
                .join(Workspace, Workspace.id == Membership.workspace_id)
                .where(Membership.user_id == info.user.id, Membership.is_active.is_(True))
                .order_by(Workspace.name)
            )
        ).all()
    current = next(((m, w) for m, w in rows if w.id == info.row.workspace_id), None)
    if current is None:
        return Redirect("/login")
    return WebContext(
        info=info,
        workspace=current[1],
        role=current[0].role,
        workspaces=[{"id": str(w.id), "name": w.name, "role": m.role} for m, w in rows],
    )
