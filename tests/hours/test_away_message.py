"""The away message: set through the inbox API, sent once per conversation per closed spell as an
automatic message, never to mail that no automatic message may answer, and not while the inbox is open."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from relaydesk.actions import business_hours, incoming
from relaydesk.channels.api.tests.support import fixture_json, post_signed
from relaydesk.channels.envelopes import IncomingMessage
from relaydesk.models import Inbox, Job, Message

WEEKDAYS = {d: ["09:00-17:00"] for d in business_hours.DAYS[:5]}


async def _messages(runtime, workspace_id) -> list[Message]:
    async with runtime.db.read() as session:
        rows = (
            await session.execute(
                sa.select(Message)
                .where(Message.workspace_id == workspace_id)
                .order_by(Message.created_at, Message.id)
            )
        ).scalars()
        return list(rows)


async def test_hours_are_set_through_the_inbox_api_and_refused_with_the_field_named(client, make_workspace):
    ws = await make_workspace()
    url = f"/api/v1/inboxes/{ws.api_inbox_id}"
    doc = {"timezone": "Europe/Berlin", "weekly": {"mon": "09:00-17:00"}, "away_message": "Back Monday."}
    resp = await client.patch(url, json={"settings": {"business_hours": doc}}, headers=ws.admin.headers)
    assert resp.status_code == 200, resp.text
    stored = resp.json()["settings"]["business_hours"]
    assert stored["weekly"] == {"mon": ["09:00-17:00"]} and stored["enabled"] is True
    bad = {"timezone": "Europe/Berlin", "weekly": {"mon": ["17:00-09:00"]}}
    resp = await client.patch(url, json={"settings": {"business_hours": bad}}, headers=ws.admin.headers)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["details"]["field"] == "settings.business_hours.weekly.mon"
    assert "ends before it starts" in error["message"]
    # Nothing stored by the refused update; an agent may not change hours at all.
    shown = (await client.get(url, headers=ws.admin.headers)).json()["settings"]["business_hours"]
    assert shown == stored
    resp = await client.patch(url, json={"settings": {"business_hours": doc}}, headers=ws.agent.headers)
    assert resp.status_code == 403
    # null removes them: always open.
    resp = await client.patch(url, json={"settings": {"business_hours": None}}, headers=ws.admin.headers)
    assert resp.status_code == 200 and "business_hours" not in resp.json()["settings"]


async def test_a_customer_writing_while_closed_gets_one_away_message(
    client, runtime, make_workspace, run_jobs
):
    """The whole path with the real clock: a signed API-channel message on a day the inbox is closed."""
    ws = await make_workspace()
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=14))).date()
    closed = [(today + dt.timedelta(days=d)).isoformat() for d in range(-2, 3)]
    doc = {
        "timezone": "UTC",
        "weekly": {d: ["00:00-24:00"] for d in business_hours.DAYS},
        "closed_dates": closed,
    }
    resp = await client.patch(
        f"/api/v1/inboxes/{ws.api_inbox_id}",
        json={"settings": {"business_hours": doc | {"away_message": "We are closed for the holidays."}}},
        headers=ws.admin.headers,
    )
    assert resp.status_code == 200, resp.text
    for n in range(3):
        body = fixture_json("message_text.json") | {"id": f"crm-{n}"}
        assert (await post_signed(client, ws, body)).status_code == 202
        await run_jobs()
    messages = await _messages(runtime, ws.id)
    away = [m for m in messages if m.message_type == "outgoing"]
    assert len(messages) == 4 and len(away) == 1
    assert away[0].sender_kind == "system"
    assert away[0].content_attributes["automatic"] == business_hours.AUTOMATIC_KIND
    conv_url = f"/api/v1/conversations/{away[0].conversation_id}"
    thread = (await client.get(f"{conv_url}/messages", headers=ws.agent.headers)).json()["items"]
    assert [m["content"] for m in thread if m["message_type"] == "outgoing"] == [
        "We are closed for the holidays."
    ]
    conv = (await client.get(conv_url, headers=ws.agent.headers)).json()
    # An automatic message is no answer: the customer is still waiting for a person.
    assert conv["waiting_since"] is not None and conv["first_reply_at"] is None
    async with runtime.db.read() as session:
        from relaydesk.models import Event

        actors = [
            e.payload["actor"]["kind"]
            for e in (await session.execute(sa.select(Event).where(Event.workspace_id == ws.id))).scalars()
            if e.type == "message.created" and e.payload["message_id"] == str(away[0].id)
        ]
    assert actors == ["automation"]


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC)
        monkeypatch.setattr(incoming, "utcnow", lambda: self.now)
        monkeypatch.setattr(business_hours, "utcnow", lambda: self.now)


async def _write(runtime, inbox_id, external_id: str, n: int, **kw) -> uuid.UUID:
    async with runtime.db.write() as session:
        inbox = await session.get(Inbox, inbox_id)
        message, created = await incoming.receive_incoming(
            session,
            inbox,
            IncomingMessage(
                external_contact_id=external_id, provider_message_id=f"{external_id}-{n}", text="hi", **kw
            ),
        )
        assert created
        return message.conversation_id


async def test_one_away_message_per_conversation_per_closed_spell(
    runtime, make_workspace, run_jobs, monkeypatch
):
    ws = await make_workspace()
    clock = Clock(monkeypatch)
    async with runtime.db.write() as session:
        inbox = await session.get(Inbox, ws.api_inbox_id)
        inbox.settings = {
            **inbox.settings,
            "business_hours": business_hours.validate({"timezone": "Europe/Berlin", "weekly": WEEKDAYS}),
        }

    async def away_count(conv_id: uuid.UUID) -> int:
        await run_jobs()
        return sum(
            1
            for m in await _messages(runtime, ws.id)
            if m.conversation_id == conv_id and m.content_attributes.get("automatic") == "away_message"
        )

    # Saturday: closed. Two customers, two messages each: one away message per conversation.
    ada = await _write(runtime, ws.api_inbox_id, "ada", 1)
    await _write(runtime, ws.api_inbox_id, "ada", 2)
    bob = await _write(runtime, ws.api_inbox_id, "bob", 1)
    assert await away_count(ada) == 1 and await away_count(bob) == 1
    # Sunday, still the same closed spell (it ends Monday 09:00 local).
    clock.now = dt.datetime(2026, 3, 29, 18, 0, tzinfo=dt.UTC)
    await _write(runtime, ws.api_inbox_id, "ada", 3)
    assert await away_count(ada) == 1
    # Tuesday 12:00 local: open, no away message.
    clock.now = dt.datetime(2026, 3, 31, 10, 0, tzinfo=dt.UTC)
    await _write(runtime, ws.api_inbox_id, "ada", 4)
    assert await away_count(ada) == 1
    # Tuesday 22:00 local: a new closed spell, a second away message.
    clock.now = dt.datetime(2026, 3, 31, 20, 0, tzinfo=dt.UTC)
    await _write(runtime, ws.api_inbox_id, "ada", 5)
    assert await away_count(ada) == 2
    # An out-of-office answer (RFC 3834) in a third spell asks for none.
    clock.now = dt.datetime(2026, 4, 4, 10, 0, tzinfo=dt.UTC)
    cleo = await _write(runtime, ws.api_inbox_id, "cleo", 1, no_auto_reply="Auto-Submitted: auto-replied")
    assert await away_count(cleo) == 0
    async with runtime.db.read() as session:
        keys = (
            await session.execute(sa.select(Job.idempotency_key).where(Job.kind == "hours.away_message"))
        ).scalars()
        assert len(list(keys)) == 3


async def test_an_away_job_that_runs_after_the_opening_sends_nothing(
    runtime, make_workspace, run_jobs, monkeypatch
):
    """A backlog drained on Monday morning must not tell customers "we are away" while agents are in."""
    ws = await make_workspace()
    clock = Clock(monkeypatch)
    async with runtime.db.write() as session:
        inbox = await session.get(Inbox, ws.api_inbox_id)
        inbox.settings = {
            **inbox.settings,
            "business_hours": business_hours.validate({"timezone": "Europe/Berlin", "weekly": WEEKDAYS}),
        }
    conv = await _write(runtime, ws.api_inbox_id, "ada", 1)
    clock.now = dt.datetime(2026, 3, 30, 7, 30, tzinfo=dt.UTC)  # Monday 09:30 CEST
    await run_jobs()
    assert not [
        m
        for m in await _messages(runtime, ws.id)
        if m.conversation_id == conv and m.message_type == "outgoing"
    ]
