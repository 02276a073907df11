"""A customer's own send time (`timestamp` in the inbound payload) is kept, shown and orders the thread."""

from __future__ import annotations

import datetime as dt

from relaydesk.actions.incoming import MAX_SEND_DELAY, thread_time
from relaydesk.channels.api.tests.support import post_signed
from relaydesk.db.base import utcnow

API = "/api/v1"


def _iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def test_thread_time_trusts_a_plausible_send_time_only():
    received = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
    earlier = received - dt.timedelta(hours=3)
    assert thread_time(None, received) == received
    assert thread_time(earlier, received) == earlier
    assert thread_time(received - MAX_SEND_DELAY, received) == received - MAX_SEND_DELAY
    # Older than anyone redelivers: a broken clock, not a delay.
    assert thread_time(received - MAX_SEND_DELAY - dt.timedelta(seconds=1), received) == received
    # A sender clock ahead of ours (a little or a lot): never later than the receipt.
    assert thread_time(received + dt.timedelta(seconds=30), received) == received
    assert thread_time(received + dt.timedelta(days=400), received) == received


async def _write(client, ws, mid: str, text: str, timestamp: str | None) -> None:  # type: ignore[no-untyped-def]
    body = {"id": mid, "contact": {"id": "c-1", "name": "Ada"}, "text": text}
    if timestamp is not None:
        body["timestamp"] = timestamp
    assert (await post_signed(client, ws, body)).status_code == 202


async def _thread(client, ws, conv_id: str, **params) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.get(
        f"{API}/conversations/{conv_id}/messages", params=params, headers=ws.agent.headers
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_send_time_is_kept_and_orders_the_thread(client, make_workspace, run_jobs):
    ws = await make_workspace()
    now = utcnow()
    # Arrival order: second, first (queued at the integrator), no time, a clock far ahead, an ancient one.
    await _write(client, ws, "m-2", "second", _iso(now - dt.timedelta(minutes=10)))
    await run_jobs()
    await _write(client, ws, "m-1", "first", _iso(now - dt.timedelta(minutes=20)))
    await run_jobs()
    await _write(client, ws, "m-3", "no time given", None)
    await run_jobs()
    await _write(client, ws, "m-4", "clock ahead", "2099-01-01T00:00:00Z")
    await run_jobs()
    await _write(client, ws, "m-5", "clock stuck in 2001", "2001-01-01T00:00:00+02:00")
    await run_jobs()

    convs = (await client.get(f"{API}/conversations", headers=ws.agent.headers)).json()["items"]
    conv_id = convs[0]["id"]
    items = (await _thread(client, ws, conv_id))["items"]
    assert [m["content"] for m in items] == [
        "first",
        "second",
        "no time given",
        "clock ahead",
        "clock stuck in 2001",
    ]
    by_text = {m["content"]: m for m in items}
    first = by_text["first"]
    sent = dt.datetime.fromisoformat(first["sent_at"])
    assert abs(sent - (now - dt.timedelta(minutes=20))) < dt.timedelta(milliseconds=1)
    assert first["ordered_at"] == first["sent_at"] and first["created_at"] != first["sent_at"]
    assert by_text["no time given"]["sent_at"] is None
    assert by_text["no time given"]["ordered_at"] == by_text["no time given"]["created_at"]
    # Implausible times are kept and shown as given, but do not move the message.
    assert by_text["clock ahead"]["sent_at"].startswith("2099-01-01T00:00:00")
    assert by_text["clock ahead"]["ordered_at"] == by_text["clock ahead"]["created_at"]
    assert by_text["clock stuck in 2001"]["sent_at"].startswith("2000-12-31T22:00:00")
    assert by_text["clock stuck in 2001"]["ordered_at"] == by_text["clock stuck in 2001"]["created_at"]

    # Paging walks the same order, newest page first.
    seen: list[str] = []
    cursor = None
    while True:
        page = await _thread(client, ws, conv_id, limit=2, **({"cursor": cursor} if cursor else {}))
        seen = [m["content"] for m in page["items"]] + seen
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [m["content"] for m in items]
    bad = await client.get(
        f"{API}/conversations/{conv_id}/messages",
        params={"cursor": "bm90IGEgY3Vyc29y"},
        headers=ws.agent.headers,
    )
    assert bad.status_code == 400
