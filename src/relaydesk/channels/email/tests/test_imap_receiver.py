"""The IMAP receiver against a real IMAP server (pymap on 127.0.0.1): what it fetches, when, and how it
keeps its place. The database side (intake, dedupe, threading) is in test_imap_ingest.py."""

from __future__ import annotations

import asyncio

import pytest

from relaydesk.channels.email.imap import (
    MAX_IDLE_SECONDS,
    Cursor,
    ImapAccount,
    ImapReceiver,
    Timing,
    backoff_delay,
)
from relaydesk.channels.email.tests.imap_support import (
    FAST,
    PASSWORD,
    USER,
    RecordingSink,
    account,
    imap_server,
    mail,
    receiver_for,
    running,
    until,
)


async def test_new_mail_arrives_by_idle_push_without_waiting_for_the_resync():
    async with imap_server() as server:
        sink = RecordingSink()
        # The periodic resync is 10 minutes away: only the server's IDLE push can bring the mail in.
        async with running(receiver_for(account(server), sink, FAST)) as receiver:
            await until(lambda: receiver.syncs >= 1)
            assert sink.stored == []
            await asyncio.sleep(0.2)  # the receiver is in IDLE now
            await server.deliver(USER, mail(1))
            await until(lambda: len(sink.stored) == 1, timeout=30)  # the resync is 10 minutes away
            assert sink.message_ids() == ["<customer-1@mail.example.com>"]
            assert receiver.status.state == "connected" and receiver.status.last_sync_at is not None


async def test_idle_is_left_and_the_mailbox_searched_again_at_every_resync():
    """Even with IDLE, the receiver searches on its own schedule: a push the server never sent delays a
    mail by one resync period at most."""
    async with imap_server() as server:
        sink = RecordingSink()
        timing = Timing(resync_seconds=0.3, backoff_base=0.05, backoff_cap=0.3)
        async with running(receiver_for(account(server), sink, timing)) as receiver:
            await until(lambda: receiver.syncs >= 4)
            assert receiver.status.state == "connected"


async def test_a_server_without_idle_is_polled():
    async with imap_server(idle=False) as server:
        sink = RecordingSink()
        timing = Timing(resync_seconds=600, poll_seconds=0.2, backoff_base=0.05, backoff_cap=0.3)
        async with running(receiver_for(account(server), sink, timing)) as receiver:
            await until(lambda: receiver.syncs >= 1)
            assert not receiver._can_idle
            await server.deliver(USER, mail(1))
            await until(lambda: len(sink.stored) == 1)


async def test_fetching_never_marks_the_customers_mail_read():
    async with imap_server() as server:
        uids = [await server.deliver(USER, mail(n)) for n in range(3)]
        sink = RecordingSink()
        async with running(receiver_for(account(server), sink, FAST)):
            await until(lambda: len(sink.stored) == 3)
        for uid in uids:
            assert server.seen_flag() not in await server.flags(USER, uid)


async def test_batches_are_bounded_and_the_cursor_follows_each_stored_batch():
    async with imap_server() as server:
        uids = [await server.deliver(USER, mail(n)) for n in range(7)]
        sink = RecordingSink()
        timing = Timing(batch_size=3, resync_seconds=600, backoff_base=0.05, backoff_cap=0.3)
        async with running(receiver_for(account(server), sink, timing)):
            await until(lambda: len(sink.stored) == 7)
        assert sink.batches == [3, 3, 1]
        assert sink.cursor_saves == 3
        cursor = Cursor.from_json(sink.cursor)
        assert cursor == Cursor("INBOX", await server.uidvalidity(USER), uids[-1])
        # In mailbox order, each once.
        assert sink.message_ids() == [f"<customer-{n}@mail.example.com>" for n in range(7)]


async def test_batches_are_bounded_in_bytes_and_an_oversized_mail_is_left_in_the_mailbox():
    async with imap_server() as server:
        small = [mail(n) for n in range(4)]
        big = mail(99, body="x" * 6000)
        for raw in (small[0], small[1], big, small[2], small[3]):
            await server.deliver(USER, raw)
        last = await server.deliver(USER, mail(5))
        sink = RecordingSink()
        size = max(len(raw) for raw in small)
        timing = Timing(
            resync_seconds=600,
            backoff_base=0.05,
            backoff_cap=0.3,
            max_message_bytes=3000,
            max_batch_bytes=2 * size + 10,
        )
        async with running(receiver_for(account(server), sink, timing)) as receiver:
            await until(lambda: receiver.syncs >= 1)
        assert sink.batches == [2, 2, 1]  # two small mails per fetch at most, by the sizes the server states
        assert "<customer-99@mail.example.com>" not in sink.message_ids()
        assert Cursor.from_json(sink.cursor).last_uid == last  # type: ignore[union-attr]
        assert "over 3000 bytes were not fetched" in (receiver.status.last_error or "")


async def test_a_failed_store_does_not_move_the_cursor_and_the_batch_is_fetched_again():
    async with imap_server() as server:
        for n in range(2):
            await server.deliver(USER, mail(n))
        sink = RecordingSink()
        sink.fail_stores = 1
        async with running(receiver_for(account(server), sink, FAST)) as receiver:
            await until(lambda: len(sink.stored) == 2)
        assert sink.cursor_saves == 1  # only after the store that succeeded
        assert any(s.last_error and "database unavailable" in s.last_error for s in sink.statuses)
        assert receiver.status.state == "stopped"


async def test_a_restarted_server_is_reconnected_to_and_fetching_resumes_from_the_cursor():
    async with imap_server() as server:
        for n in range(3):
            await server.deliver(USER, mail(n))
        sink = RecordingSink()
        async with running(receiver_for(account(server), sink, FAST)) as receiver:
            await until(lambda: len(sink.stored) == 3)
            await server.restart(downtime=0.3)  # every connection cut; refused while down
            await server.deliver(USER, mail(3))
            await until(lambda: len(sink.stored) == 4)
            await until(lambda: receiver.status.state == "connected")
        # Nothing fetched twice: the reconnect searched from the stored cursor.
        assert sink.message_ids() == [f"<customer-{n}@mail.example.com>" for n in range(4)]
        states = [s.state for s in sink.statuses]
        assert "disconnected" in states and states.index("disconnected") < len(states) - 1
        assert any(s.last_error for s in sink.statuses if s.state == "disconnected")


async def test_a_receiver_restarted_with_a_stored_cursor_fetches_only_what_is_new():
    async with imap_server() as server:
        for n in range(3):
            await server.deliver(USER, mail(n))
        sink = RecordingSink()
        async with running(receiver_for(account(server), sink, FAST)):
            await until(lambda: len(sink.stored) == 3)
        await server.deliver(USER, mail(3))
        async with running(receiver_for(account(server), sink, FAST)) as second:
            await until(lambda: second.syncs >= 1)
        assert sink.message_ids()[3:] == ["<customer-3@mail.example.com>"]


async def test_a_changed_uidvalidity_resyncs_the_mailbox_from_the_start():
    async with imap_server() as server:
        box = "Support"
        old = [mail(n) for n in range(3)]
        for raw in old:
            await server.deliver(USER, raw, box)
        sink = RecordingSink()
        async with running(receiver_for(account(server, mailbox=box), sink, FAST)):
            await until(lambda: len(sink.stored) == 3)
        first = Cursor.from_json(sink.cursor)
        # The server rebuilds the mailbox: the new mail gets the LOWEST new UID, so a receiver that kept
        # its old cursor under the new UIDVALIDITY would skip it.
        await server.renumber(USER, box, [mail(9), *old])
        async with running(receiver_for(account(server, mailbox=box), sink, FAST)):
            await until(lambda: len(sink.stored) == 7)
        second = Cursor.from_json(sink.cursor)
        assert first is not None and second is not None and second.uidvalidity != first.uidvalidity
        # Everything is fetched again (the dedupe by Message-ID, in the sink, keeps the copies out).
        assert "<customer-9@mail.example.com>" in sink.message_ids()[3:]
        assert sorted(sink.message_ids()[3:]) == sorted(
            f"<customer-{n}@mail.example.com>" for n in (0, 1, 2, 9)
        )


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
async def test_tls_and_starttls_logins_verify_the_server_certificate(tls):
    async with imap_server(tls) as server:
        await server.deliver(USER, mail(1))
        sink = RecordingSink()
        async with running(receiver_for(account(server), sink, FAST)):
            await until(lambda: len(sink.stored) == 1)
        # Without trusting the server's CA, the TLS handshake fails and the error is shown.
        sink = RecordingSink()
        async with running(receiver_for(account(server, ca_file=None), sink, FAST)) as receiver:
            await until(lambda: receiver.status.last_error is not None)
        assert sink.stored == []
        assert "TLS" in (receiver.status.last_error or "") or "certificate" in (
            receiver.status.last_error or ""
        )


async def test_a_server_that_does_not_offer_starttls_gets_no_password():
    """A STARTTLS account never falls back to clear text (a stripped STARTTLS is a downgrade attack)."""
    async with imap_server("none") as server:
        await server.deliver(USER, mail(1))
        sink = RecordingSink()
        async with running(receiver_for(account(server, security="starttls"), sink, FAST)) as receiver:
            await until(lambda: receiver.status.last_error is not None)
        assert sink.stored == []
        assert "does not offer STARTTLS" in (receiver.status.last_error or "")


async def test_a_wrong_password_is_shown_then_given_up_on_and_nothing_is_fetched():
    async with imap_server() as server:
        await server.deliver(USER, mail(1))
        sink = RecordingSink()
        timing = Timing(backoff_base=0.01, backoff_cap=0.05, max_auth_failures=3)
        receiver = receiver_for(account(server, password="wrong"), sink, timing)
        await asyncio.wait_for(receiver.run(), 10)  # ends by itself: no endless retries of a bad password
        assert sink.stored == []
        assert "login refused" in (receiver.status.last_error or "")
        assert len(sink.refused) == 1 and "login refused" in sink.refused[0]
        assert receiver.status.state == "stopped"
        assert PASSWORD not in repr(account(server)) and "wrong" not in repr(receiver.account)


async def test_a_loopback_or_lan_imap_host_is_refused_unless_the_operator_allows_private_targets():
    async with imap_server() as server:
        await server.deliver(USER, mail(1))
        for host in ("127.0.0.1", "localhost"):
            sink = RecordingSink()
            receiver = ImapReceiver(account(server, host=host), sink, FAST)  # allow_private defaults to False
            async with running(receiver):
                await until(lambda: receiver.status.last_error is not None)
            assert sink.stored == []
            assert "not a public address" in (receiver.status.last_error or "")


def test_clear_text_imap_is_refused_for_a_host_that_is_not_loopback():
    with pytest.raises(ValueError, match="loopback"):
        ImapAccount("imap.example.com", 143, USER, PASSWORD, security="plain")
    with pytest.raises(ValueError, match="security"):
        ImapAccount("imap.example.com", 143, USER, PASSWORD, security="ssl")  # type: ignore[arg-type]


def test_backoff_grows_exponentially_is_capped_and_jittered():
    lows = [backoff_delay(n, 1.0, 60.0, rand=lambda: 0.0) for n in range(1, 10)]
    highs = [backoff_delay(n, 1.0, 60.0, rand=lambda: 1.0) for n in range(1, 10)]
    assert lows[:4] == [0.5, 1.0, 2.0, 4.0] and highs[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(highs) == 60.0 and lows[-1] == 30.0  # capped; jitter spreads within the upper half


def test_idle_is_renewed_within_29_minutes_whatever_the_resync_period():
    assert Timing(resync_seconds=3600).idle_seconds == MAX_IDLE_SECONDS == 29 * 60
    assert Timing(resync_seconds=120).idle_seconds == 120
