"""Helpers for driving the API channel the way an integrator does: signed requests, replies, drains.

Shared by the channel's own tests and by tests/jobs, tests/outbound and tests/realtime, which all need a
conversation with an outgoing message to deliver. The integrator itself (both halves) is the channel's
loopback fake, `channels/api/fake.py`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from relaydesk.channels.api.fake import post_signed_request
from relaydesk.models import InboundEvent, Job, Message
from relaydesk.runtime import Runtime

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_bytes(name: str, **replace: str) -> bytes:
    """A payload example from fixtures/, with placeholders such as the Relaydesk message id filled in."""
    text = (FIXTURES / name).read_text()
    for key, value in replace.items():
        text = text.replace(key, value)
    return text.encode()


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes(name))


async def post_signed(
    client: httpx.AsyncClient,
    ws: Any,
    body: bytes | dict[str, Any],
    *,
    secret: str | None = None,
    timestamp: int | None = None,
    public_id: str | None = None,
) -> httpx.Response:
    return await post_signed_request(
        client, public_id or ws.api_inbox_public_id, secret or ws.inbound_secret, body, timestamp=timestamp
    )


async def stored_counts(runtime: Runtime, workspace_id: uuid.UUID) -> dict[str, int]:
    """Rows an inbound request may create: a refused request must leave all three unchanged."""
    async with runtime.db.read() as session:
        counts = {}
        for name, model in (("inbound_events", InboundEvent), ("messages", Message)):
            counts[name] = (
                await session.execute(
                    sa.select(sa.func.count()).select_from(model).where(model.workspace_id == workspace_id)
                )
            ).scalar_one()
        counts["jobs"] = (await session.execute(sa.select(sa.func.count()).select_from(Job))).scalar_one()
    return counts


async def start_conversation(
    client: httpx.AsyncClient, ws: Any, run_jobs: Any, *, message_id: str = "crm-msg-1001"
) -> str:
    """A customer writes in (signed, processed); returns the conversation id."""
    body = fixture_json("message_text.json")
    body["id"] = message_id
    resp = await post_signed(client, ws, body)
    assert resp.status_code in (200, 202), resp.text
    await run_jobs()
    convs = (await client.get("/api/v1/conversations", headers=ws.agent.headers)).json()["items"]
    assert convs, "the inbound message did not create a conversation"
    return str(convs[0]["id"])


async def agent_reply(
    client: httpx.AsyncClient, ws: Any, conversation_id: str, text: str = "On its way"
) -> str:
    """An agent answers; returns the new outgoing message id (its delivery job is now pending)."""
    resp = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"content": text}, headers=ws.agent.headers
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def message_json(client: httpx.AsyncClient, ws: Any, conversation_id: str, message_id: str) -> dict:
    items = (
        await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=ws.agent.headers)
    ).json()["items"]
    return next(m for m in items if m["id"] == message_id)


async def job_for(runtime: Runtime, kind: str, message_id: str) -> Job:
    async with runtime.db.read() as session:
        return (
            await session.execute(
                sa.select(Job).where(Job.kind == kind, Job.payload["message_id"].as_string() == message_id)
            )
        ).scalar_one()


async def run_once(runtime: Runtime) -> int:
    """One claim-and-run round (no retries), so a test can look at the state between attempts."""
    assert runtime.dispatcher is not None
    jobs = await runtime.dispatcher.claim(runtime.dispatcher.concurrency)
    await asyncio.gather(*(runtime.dispatcher._execute(job) for job in jobs))
    return len(jobs)


async def drain(runtime: Runtime, until: Any, timeout: float = 20.0) -> None:
    """Run ready jobs repeatedly (retries become ready after their backoff) until `until()` is true."""
    assert runtime.dispatcher is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await runtime.dispatcher.run_until_idle(timeout=timeout)
        if await until():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached while draining jobs")
