"""Fixtures for the widget's tests: a widget inbox, Relaydesk served on loopback, a host site, visitors."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from relaydesk.channels.loopback import Loopback
from relaydesk.channels.widget.fake import HostSite, VisitorClient
from relaydesk.jobs.dispatcher import Dispatcher
from relaydesk.privacy import storage
from relaydesk.runtime import Runtime
from relaydesk.server.app import create_app


@dataclass
class WidgetInboxFixture:
    id: uuid.UUID
    workspace_id: uuid.UUID
    public_id: str
    identity_secret: str
    token_secret: str


async def make_widget_inbox(
    runtime: Runtime, workspace_id: uuid.UUID, *, name: str = "Website", **settings: Any
) -> WidgetInboxFixture:
    from relaydesk.actions.inboxes import create_inbox

    async with runtime.db.write() as session:
        inbox = await create_inbox(session, workspace_id, name=name, channel_type="widget", settings=settings)
        creds = storage.read_inbox_credentials(inbox)
    return WidgetInboxFixture(
        inbox.id, workspace_id, inbox.public_id, creds["identity_secret"], creds["visitor_token_secret"]
    )


@dataclass
class Served:
    url: str
    runtime: Runtime


@pytest.fixture
async def relaydesk_server(runtime: Runtime) -> AsyncIterator[Served]:
    """Relaydesk on 127.0.0.1 (its own origin), with a job dispatcher as in `serve`. The widget's rate
    counters start from zero: every test's visitors come from 127.0.0.1."""
    from relaydesk.channels.widget.routes import rate

    rate.reset()
    app = create_app(runtime=runtime, manage_runtime=False)
    server = Loopback(app, ws="websockets-sansio")
    port = await server.start()
    previous = runtime.dispatcher
    dispatcher = Dispatcher(runtime.services, concurrency=4, poll_interval=0.2)
    runtime.dispatcher = dispatcher
    await dispatcher.start()
    try:
        yield Served(f"http://127.0.0.1:{port}", runtime)
    finally:
        await dispatcher.stop()
        runtime.dispatcher = previous
        await server.stop()


@pytest.fixture
async def host_site() -> AsyncIterator[tuple[Loopback, list[HostSite]]]:
    """Start host sites on other ports (other origins) with `start(relaydesk_url, public_id)`."""
    servers: list[Loopback] = []

    async def start(relaydesk: str, public_id: str, **kwargs: Any) -> tuple[HostSite, str]:
        site = HostSite(relaydesk, public_id, **kwargs)
        server = Loopback(site)
        port = await server.start()
        servers.append(server)
        return site, f"http://127.0.0.1:{port}"

    yield start  # type: ignore[misc]
    for server in servers:
        await server.stop()


@pytest.fixture
async def visitors() -> AsyncIterator[Any]:
    made: list[VisitorClient] = []

    def make(base_url: str, public_id: str, host: str) -> VisitorClient:
        client = VisitorClient(base_url, public_id, host)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
