"""The event catalogue (realtime/catalogue.py): only catalogued events can be emitted, payloads match their
schemas (the whole suite runs with `check_payloads` on, see tests/support/fixtures.py), the docs table is
generated from it, and every event says who caused it."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from relaydesk.actions import conversations as conv_actions
from relaydesk.channels.api.tests.support import fixture_json, post_signed
from relaydesk.db.ids import uuid7
from relaydesk.models.conversations import Conversation
from relaydesk.models.events import Event as EventRow
from relaydesk.realtime import catalogue
from relaydesk.realtime.catalogue import AI, Event, UnknownEvent, acting_as
from relaydesk.realtime.events import emit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


async def test_an_event_type_outside_the_catalogue_is_refused(runtime, make_workspace):
    ws = await make_workspace()
    with pytest.raises(UnknownEvent, match="not in the catalogue"):
        async with runtime.db.write() as session:
            await emit(
                session, ws.id, Event("conversation.exploded", {"actor": {"kind": "system", "id": None}})
            )


@pytest.mark.parametrize(
    "payload",
    [
        {"label_id": "x"},  # no actor
        {"label_id": 7, "actor": {"kind": "system", "id": None}},  # wrong type
        {"label_id": "x", "actor": {"kind": "robot", "id": None}},  # unknown actor kind
        {"label_id": "x", "name": "VIP", "actor": {"kind": "system", "id": None}},  # field not in the schema
    ],
)
async def test_a_payload_that_does_not_match_its_schema_is_refused(runtime, make_workspace, payload):
    ws = await make_workspace()
    with pytest.raises(UnknownEvent, match="does not match its schema"):
        async with runtime.db.write() as session:
            await emit(session, ws.id, Event("label.created", payload))


def test_every_builder_makes_a_catalogued_event_matching_its_schema():
    event = catalogue.member_updated(uuid7(), active=True)
    catalogue.check(*event)
    assert "role" not in event.payload
    assert catalogue.member_updated(uuid7(), role="admin").payload["role"] == "admin"
    assert {t.family for t in catalogue.CATALOGUE.values()} >= {"message", "conversation", "contact", "ai"}


def test_the_docs_table_is_generated_from_the_catalogue():
    text = DOCS.read_text()
    assert catalogue.with_docs_table(text) == text, "run `python -m relaydesk.realtime.catalogue docs/api.md`"
    for name in catalogue.CATALOGUE:
        assert f"| `{name}` |" in text


async def _events(runtime, ws_id, type_: str) -> list[dict]:
    async with runtime.db.read() as session:
        rows = await session.execute(
            sa.select(EventRow.payload)
            .where(EventRow.workspace_id == ws_id, EventRow.type == type_)
            .order_by(EventRow.seq)
        )
        return list(rows.scalars())


async def test_events_name_their_actor(client, runtime, make_workspace, run_jobs):
    ws = await make_workspace()
    body = fixture_json("message_text.json")
    assert (await post_signed(client, ws, body)).status_code == 202
    await run_jobs()
    [incoming] = await _events(runtime, ws.id, "message.created")
    assert incoming["actor"]["kind"] == "contact"
    [created] = await _events(runtime, ws.id, "contact.created")
    assert incoming["actor"]["id"] == created["contact_id"] == created["actor"]["id"]
    conv_id = uuid.UUID(incoming["conversation_id"])

    # An agent's reply through the API is the agent's doing.
    answer = await client.post(
        f"/api/v1/conversations/{conv_id}/messages", json={"content": "On it"}, headers=ws.agent.headers
    )
    assert answer.status_code == 201, answer.text
    reply = (await _events(runtime, ws.id, "message.created"))[-1]
    assert reply["actor"] == {"kind": "user", "id": str(ws.agent.user_id)}
    assert (await _events(runtime, ws.id, "conversation.updated"))[-1]["actor"] == reply["actor"]

    # The AI's turn says it is the AI's.
    async with runtime.db.write() as session:
        with acting_as(AI):
            await conv_actions.change_status(session, ws.id, conv_id, "resolved")
    assert (await _events(runtime, ws.id, "conversation.updated"))[-1]["actor"] == {"kind": "ai", "id": None}

    # A periodic job (waking snoozed conversations) is the system.
    async with runtime.db.write() as session:
        conv = await session.get(Conversation, conv_id)
        conv.status, conv.snoozed_until = "snoozed", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    async with runtime.db.write() as session:
        assert await conv_actions.wake_snoozed(session) == 1
    woken = (await _events(runtime, ws.id, "conversation.updated"))[-1]
    assert woken["actor"] == {"kind": "system", "id": None} and woken["status"] == "open"
