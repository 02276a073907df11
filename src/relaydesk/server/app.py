"""Build the Litestar application around a Runtime."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router, get
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from relaydesk import __version__
from relaydesk.api.v1 import ROUTE_HANDLERS as API_HANDLERS
from relaydesk.auth.guards import requires_token_scope
from relaydesk.auth.middleware import AuthMiddleware
from relaydesk.auth.principal import Principal
from relaydesk.channels.registry import implemented_channels, load
from relaydesk.config import Settings, load_settings
from relaydesk.inbound.webhook import WEBHOOK_ROUTES
from relaydesk.runtime import Runtime, build_runtime
from relaydesk.server.api_docs import SelfHostedSwagger, swagger_assets
from relaydesk.server.errors import EXCEPTION_HANDLERS
from relaydesk.server.headers import add_security_headers
from relaydesk.server.input_guards import InputGuardMiddleware
from relaydesk.server.openapi_errors import document_real_errors
from relaydesk.server.tenancy import TenantBoundaryMiddleware, TenantScopeMiddleware

log = logging.getLogger(__name__)

OPENAPI_PATH = "/api/v1/schema"


@get("/health", include_in_schema=False, sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness for load balancers, and the trivial endpoint the ingest benchmark uses as its ceiling."""
    return {"status": "ok", "version": __version__}


def create_app(
    settings: Settings | None = None, runtime: Runtime | None = None, *, manage_runtime: bool = True
) -> Litestar:
    """`manage_runtime=False` leaves starting and stopping the runtime to the caller (tests share one)."""
    settings = settings or (runtime.settings if runtime else load_settings())
    runtime = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if not manage_runtime:
            yield
            return
        await runtime.start(with_dispatcher=settings.inprocess_worker)
        # Everything loaded at start-up (modules, routes, compiled statements) lives as long as the
        # process: keep it out of the cyclic collector's full passes, whose pauses land on requests.
        gc.freeze()
        try:
            yield
        finally:
            await runtime.stop()

    def provide_runtime() -> Runtime:
        return runtime

    async def provide_principal(request: object) -> Principal:
        return request.user  # type: ignore[attr-defined,no-any-return]

    api = Router(
        path="/api/v1",
        route_handlers=API_HANDLERS,
        middleware=[DefineMiddleware(AuthMiddleware, exclude=[OPENAPI_PATH]), TenantScopeMiddleware()],
        dependencies={"principal": Provide(provide_principal)},
        # One scope check for every API route (API tokens only; sessions keep their role rules).
        guards=[requires_token_scope],
    )
    route_handlers: list = [health, *WEBHOOK_ROUTES, api, swagger_assets(OPENAPI_PATH)]
    # Channels that are not webhook-shaped mount their own doors (the widget's visitor API).
    for spec in implemented_channels():
        if spec.routes:
            route_handlers.extend(load(spec.routes))
    if settings.demo:
        from relaydesk.demo import integrator_webhook

        route_handlers.append(integrator_webhook)
    try:
        from relaydesk.web import ROUTE_HANDLERS as WEB_HANDLERS

        route_handlers.extend(WEB_HANDLERS)
    except ImportError:
        pass

    app = Litestar(
        route_handlers=route_handlers,
        dependencies={"runtime": Provide(provide_runtime, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[TenantBoundaryMiddleware(), InputGuardMiddleware()],
        before_send=[add_security_headers],
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Relaydesk API",
            version=__version__,
            path=OPENAPI_PATH,
            render_plugins=[SelfHostedSwagger(OPENAPI_PATH)],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", description="rd_... token")
                }
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
    )
    document_real_errors(app)
    app.state.runtime = runtime
    return app


def app_from_env() -> Litestar:
    """ASGI factory for `uvicorn --factory relaydesk.server.app:app_from_env`."""
    return create_app(load_settings())


__all__ = ["AppConfig", "create_app"]
