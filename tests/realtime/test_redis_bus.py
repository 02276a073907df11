"""The Redis bus across processes: in-process pairs of buses, a reconnect, and two real `relaydesk serve`s."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid

import httpx
import pytest
import redis.asyncio as redis

from relaydesk.channels.api.client import signed_request_headers
from relaydesk.channels.api.tests.support import fixture_bytes
from relaydesk.realtime.bus import RESYNC, RedisBus
from tests.realtime.support import connect
from tests.support.processes import RelaydeskProcess

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _redis_up() -> bool:
    client = redis.from_url(REDIS_URL)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


@pytest.fixture
async def buses():
    if not await _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    pair = [RedisBus(REDIS_URL), RedisBus(REDIS_URL)]
    for bus in pair:
        await bus.start()
    yield pair
    for bus in pair:
        await bus.stop()


def _event(workspace_id: str, seq: int) -> dict:
    return {"workspace_id": workspace_id, "seq": seq, "type": "test", "payload": {}, "at": "now"}


async def test_events_cross_buses_per_workspace(buses):
    a, b = buses
    ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    sub = b.subscribe(ours)
    other = b.subscribe(theirs)
    await a.publish([_event(ours, 1), _event(theirs, 7), _event(ours, 2)])
    got = [await asyncio.wait_for(sub.queue.get(), 5) for _ in range(2)]
    assert [e["seq"] for e in got] == [1, 2]
    assert (await asyncio.wait_for(other.queue.get(), 5))["seq"] == 7
    assert sub.queue.empty() and other.queue.empty()
    sub.close()
    other.close()


async def test_bus_reconnects_and_tells_subscribers_to_resync(buses):
    a, b = buses
    workspace = str(uuid.uuid4())
    sub = b.subscribe(workspace)
    admin = redis.from_url(REDIS_URL)
    try:
        clients = await admin.client_list()
        ours = [c for c in clients if c.get("name") == b.client_name]
        assert ours, "the bus's connections should carry its client name"
        for c in ours:  # only this bus's connections: the Redis server is shared
            await admin.client_kill_filter(_id=c["id"])
    finally:
        await admin.aclose()
    assert await asyncio.wait_for(sub.queue.get(), 10) is RESYNC
    assert sub.overflowed  # the socket will read the database before anything else
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # publish until the re-subscribed listener hears it
        await a.publish([_event(workspace, 1)])
        try:
            event = await asyncio.wait_for(sub.queue.get(), 0.5)
        except TimeoutError:
            continue
        assert event["seq"] == 1
        break
    else:
        raise AssertionError("bus did not reconnect")
    sub.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve(RelaydeskProcess):
    """A `relaydesk serve` subprocess on its own port."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.port = _free_port()
        super().__init__("serve", ["--port", str(self.port), *args], {**env, "RELAYDESK_HOST": "127.0.0.1"})

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout: float = 40.0) -> Serve:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if (await http.get(self.base + "/health")).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"serve did not start:\n{self.log}")


async def _stamp_head(url: str) -> None:
    """The test database was built from the models; tell Alembic so `serve` does not migrate it again."""
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    from relaydesk.db.migrate import alembic_config

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:

            def stamp(sync_conn) -> None:  # type: ignore[no-untyped-def]
                cfg = alembic_config(url)
                cfg.attributes["connection"] = sync_conn
                command.stamp(cfg, "head")

            await conn.run_sync(stamp)
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_event_raised_in_one_app_process_reaches_a_socket_on_another(
    runtime, settings, make_workspace, backend
):
    if backend != "postgresql":
        pytest.skip("several app processes need PostgreSQL (SQLite is the one-process mode)")
    if not await _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    await _stamp_head(settings.database_url)
    ws = await make_workspace()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYDESK_")}
    env.update(
        RELAYDESK_DATABASE_URL=settings.database_url,
        RELAYDESK_MASTER_KEY=settings.master_key,
        RELAYDESK_REDIS_URL=REDIS_URL,
        RELAYDESK_LOG_LEVEL="WARNING",
    )
    a = Serve(env)  # receives the webhook and runs its job in-process
    b = Serve(env, "--no-worker")  # only holds the socket
    try:
        await a.ready()
        await b.ready()
        sock = await connect(f"ws://127.0.0.1:{b.port}/api/v1/realtime", headers=ws.agent.headers)
        body = fixture_bytes("message_text.json")
        async with httpx.AsyncClient() as http:
            sent_at = time.monotonic()
            resp = await http.post(
                f"{a.base}/inbound/api/{ws.api_inbox_public_id}",
                content=body,
                headers=signed_request_headers(ws.inbound_secret, body),
            )
            assert resp.status_code == 202, resp.text
        events = []
        while not any(e["type"] == "message.created" for e in events):
            events.append(await sock.next(timeout=10))
        elapsed = time.monotonic() - sent_at
        assert [e["seq"] for e in events] == list(
            range(sock.hello["seq"] + 1, sock.hello["seq"] + 1 + len(events))
        )
        assert all(e["workspace_id"] == str(ws.id) for e in events)
        assert elapsed < 5, elapsed  # the bus, not a poll: normally well under a second
        await sock.close()
    finally:
        a.stop()
        b.stop()
