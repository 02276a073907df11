"""The agents' WebSocket against a real server: auth, live events, resume, typing, workspace isolation."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import websockets

from relaydesk.auth.sessions import COOKIE_NAME, start_session
from relaydesk.channels.api.tests.support import fixture_json, post_signed
from relaydesk.db.base import utcnow
from relaydesk.db.ids import uuid7
from relaydesk.realtime import bus as bus_module
from relaydesk.realtime import catalogue
from relaydesk.realtime.events import emit
from tests.realtime.support import LiveServer, connect


@pytest.fixture
async def server(runtime):
    live = await LiveServer(runtime).start()
    yield live
    await live.stop()


async def _customer_writes(client, ws, run_jobs, n: int) -> None:
    body = fixture_json("message_text.json")
    body["id"] = f"crm-{n}"
    body["text"] = f"message {n}"
    assert (await post_signed(client, ws, body)).status_code == 202
    await run_jobs()


async def _refused(url: str, headers: dict[str, str]) -> int:
    """The close code (or HTTP status) a refused socket gets."""
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=5) as conn:
            await conn.recv()
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else -1
    except websockets.InvalidStatus as exc:
        return exc.response.status_code
    raise AssertionError("the socket was accepted")


async def test_authentication_is_required(runtime, server, make_workspace):
    ws = await make_workspace()
    # Refused before the handshake completes (uvicorn answers the upgrade with 403) or closed with 4401.
    assert await _refused(server.ws_url, {}) in (403, 4401)
    assert await _refused(server.ws_url, {"Authorization": "Bearer rd_not-a-real-token"}) in (403, 4401)
    assert await _refused(server.ws_url, {"Authorization": "Basic dXNlcjpwYXNz"}) in (403, 4401)
    sock = await connect(server.ws_url, headers=ws.agent.headers)
    assert isinstance(sock.hello["seq"], int)
    await sock.close()


async def test_session_cookie_needs_the_same_origin(runtime, server, make_workspace):
    ws = await make_workspace()
    async with runtime.db.write() as session:
        raw = await start_session(
            session, runtime.settings, ws.agent.user_id, ws.id, ip=None, user_agent="tests"
        )
    cookie = {"Cookie": f"{COOKIE_NAME}={raw}"}
    own_origin = f"http://127.0.0.1:{server.port}"
    sock = await connect(server.ws_url, headers={**cookie, "Origin": own_origin})
    assert sock.hello["type"] == "hello"
    await sock.close()
    # Closing before accept refuses the upgrade itself: the browser sees HTTP 403.
    assert await _refused(server.ws_url, {**cookie, "Origin": "https://evil.example"}) == 403
    assert await _refused(server.ws_url, cookie) == 403  # no Origin at all: not from our pages


async def test_events_arrive_after_a_write(client, runtime, server, make_workspace, run_jobs):
    ws = await make_workspace()
    sock = await connect(server.ws_url, headers=ws.agent.headers)
    start = sock.hello["seq"]
    await _customer_writes(client, ws, run_jobs, 1)
    events = await sock.nothing_pending()
    assert [e["seq"] for e in events] == list(range(start + 1, start + 1 + len(events)))
    assert "message.created" in [e["type"] for e in events]
    created = next(e for e in events if e["type"] == "message.created")
    assert created["workspace_id"] == str(ws.id)
    assert "content" not in created["payload"] and "message 1" not in json.dumps(created)  # ids, not text
    await sock.close()


async def test_resume_replays_exactly_the_missed_events(client, runtime, server, make_workspace, run_jobs):
    ws = await make_workspace()
    sock = await connect(server.ws_url, headers=ws.agent.headers)
    await _customer_writes(client, ws, run_jobs, 1)
    seen = await sock.nothing_pending()
    last = seen[-1]["seq"]
    await sock.close()

    await _customer_writes(client, ws, run_jobs, 2)  # while disconnected
    await _customer_writes(client, ws, run_jobs, 3)
    missed = (await client.get(f"/api/v1/events?after={last}", headers=ws.agent.headers)).json()["items"]
    assert len(missed) >= 4

    again = await connect(f"{server.ws_url}?after={last}", headers=ws.agent.headers)
    assert [e["seq"] for e in again.replayed] == [e["seq"] for e in missed]
    assert [e["seq"] for e in again.replayed] == list(range(last + 1, last + 1 + len(missed)))
    assert again.replayed == missed  # the same wire shape as the catch-up API
    assert again.hello["seq"] == missed[-1]["seq"]
    await _customer_writes(client, ws, run_jobs, 4)  # live again, continuing the sequence, no repeats
    live = await again.nothing_pending()
    assert [e["seq"] for e in live] == list(range(missed[-1]["seq"] + 1, missed[-1]["seq"] + 1 + len(live)))
    await again.close()

    # Connecting without `after` starts at "now": nothing is replayed.
    fresh = await connect(server.ws_url, headers=ws.agent.headers)
    assert fresh.replayed == [] and fresh.hello["seq"] == live[-1]["seq"]
    await fresh.close()

    # A client remembering a sequence number from the future (a restored database) starts from now and
    # still gets live events, instead of skipping them all as "already seen".
    future = await connect(f"{server.ws_url}?after=1000000", headers=ws.agent.headers)
    assert future.replayed == [] and future.hello["seq"] == live[-1]["seq"]
    await _customer_writes(client, ws, run_jobs, 5)
    assert [e["seq"] for e in await future.nothing_pending()][:1] == [live[-1]["seq"] + 1]
    await future.close()


async def test_a_gap_on_the_bus_is_filled_from_the_database(runtime, server, make_workspace):
    """Events lost on the bus (never published) arrive anyway, in order, when a later one reveals the gap."""
    ws = await make_workspace()
    sock = await connect(server.ws_url, headers=ws.agent.headers)
    start = sock.hello["seq"]
    async with runtime.db.write() as session:
        for n in range(3):
            await emit(session, ws.id, catalogue.label_created(uuid7()))
        session.info.pop("relaydesk.events")  # the bus drops them
    async with runtime.db.write() as session:
        await emit(session, ws.id, catalogue.label_updated(uuid7()))
    events = await sock.events(4)
    assert [e["seq"] for e in events] == [start + 1, start + 2, start + 3, start + 4]
    assert [e["type"] for e in events] == ["label.created"] * 3 + ["label.updated"]
    assert await sock.nothing_pending() == []
    await sock.close()


async def test_an_overflowing_queue_catches_up_without_loss(runtime, server, make_workspace, monkeypatch):
    monkeypatch.setattr(bus_module, "QUEUE_SIZE", 2)
    ws = await make_workspace()
    sock = await connect(server.ws_url, headers=ws.agent.headers)
    start = sock.hello["seq"]
    async with runtime.db.write() as session:
        for n in range(25):
            await emit(session, ws.id, catalogue.label_created(uuid7()))
    events = await sock.events(25)
    assert [e["seq"] for e in events] == list(range(start + 1, start + 26))
    assert await sock.nothing_pending() == []
    await sock.close()


async def test_a_bus_resync_wakes_an_idle_socket(runtime, server, make_workspace):
    """After the bus reconnects, sockets re-read the database even if no new event comes."""
    ws = await make_workspace()
    sock = await connect(server.ws_url, headers=ws.agent.headers)
    async with runtime.db.write() as session:
        await emit(session, ws.id, catalogue.label_deleted(uuid7()))
        session.info.pop("relaydesk.events")
    runtime.bus._resync_all()
    (event,) = await sock.events(1)
    assert event["type"] == "label.deleted" and event["seq"] == sock.hello["seq"] + 1
    await sock.close()


async def test_typing_goes_to_other_agents_only(runtime, server, make_workspace):
    ws = await make_workspace()
    typist = await connect(server.ws_url, headers=ws.agent.headers)
    colleague = await connect(server.ws_url, headers=ws.admin.headers)
    conversation_id = "01a20000-0000-7000-8000-000000000001"
    await typist.conn.send(json.dumps({"type": "typing", "conversation_id": conversation_id, "on": True}))
    typing = await colleague.next()
    assert typing["type"] == "typing" and typing["seq"] is None
    assert typing["payload"] == {
        "conversation_id": conversation_id,
        "user_id": str(ws.agent.user_id),
        "name": typing["payload"]["name"],
        "on": True,
    }
    assert await typist.nothing_pending() == []  # not echoed to the typist
    await typist.conn.send(json.dumps({"type": "typing", "conversation_id": "not-a-uuid"}))
    assert await colleague.nothing_pending() == []  # malformed typing is ignored
    # Typing is ephemeral: nothing stored, the sequence does not move.
    assert (await client_events(runtime, ws)) == []
    await typist.close()
    await colleague.close()


async def client_events(runtime, ws) -> list:
    from relaydesk.realtime.events import events_since

    async with runtime.db.read() as session:
        return [e for e in await events_since(session, ws.id, 0) if e["type"] == "typing"]


async def test_other_workspaces_events_never_arrive(client, runtime, server, make_workspace, run_jobs):
    ours = await make_workspace()
    theirs = await make_workspace("Other")
    sock = await connect(server.ws_url, headers=ours.agent.headers)
    spy = await connect(f"{server.ws_url}?after=0", headers=theirs.agent.headers)
    assert all(e["workspace_id"] == str(theirs.id) for e in spy.replayed)
    await _customer_writes(client, ours, run_jobs, 1)
    mine = await sock.nothing_pending()
    assert mine and all(e["workspace_id"] == str(ours.id) for e in mine)
    conversation_id = next(e["payload"]["conversation_id"] for e in mine if e["type"] == "message.created")
    await sock.conn.send(json.dumps({"type": "typing", "conversation_id": conversation_id}))
    assert await spy.nothing_pending() == []  # neither events nor typing cross workspaces
    await sock.close()
    await spy.close()


async def _closed_with(sock, timeout: float = 5.0) -> int | None:
    """Read until the server closes the socket; the close code, or None if it stayed open."""
    try:
        while True:
            await sock.next(timeout=timeout)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return None


async def test_deactivation_closes_the_members_open_socket_at_once(client, runtime, server, make_workspace):
    from relaydesk.models import Membership

    ws = await make_workspace()
    sock = await connect(server.ws_url, headers=ws.agent.headers)
    async with runtime.db.read() as session:
        membership_id = (
            await session.execute(sa.select(Membership.id).where(Membership.user_id == ws.agent.user_id))
        ).scalar_one()
    resp = await client.post(f"/api/v1/members/{membership_id}/deactivate", headers=ws.admin.headers)
    assert resp.status_code == 200, resp.text
    assert await _closed_with(sock) == 4401


async def test_a_revoked_token_loses_its_socket_on_the_next_check(
    runtime, server, make_workspace, monkeypatch
):
    from relaydesk.models import ApiToken
    from relaydesk.realtime import gateway

    monkeypatch.setattr(gateway, "REVALIDATE_SECONDS", 0.2)
    ws = await make_workspace()
    sock = await connect(server.ws_url, headers=ws.agent.headers)
    async with runtime.db.write() as session:
        await session.execute(
            sa.update(ApiToken).where(ApiToken.user_id == ws.agent.user_id).values(revoked_at=utcnow())
        )
    assert await _closed_with(sock) == 4401
