"""Login throttling with an injected clock, and the Redis store against a real Redis when one runs."""

from __future__ import annotations

import socket
import uuid

import pytest

from relaydesk.auth.throttle import (
    InMemoryCounterStore,
    LoginThrottle,
    RedisCounterStore,
    ThrottleDecision,
    ThrottlePolicy,
)

PEPPER = b"p" * 32
POLICY = ThrottlePolicy(
    account_free_failures=3, ip_free_failures=10, window_seconds=600, base_delay=2, max_delay=60
)


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def throttle(clock: Clock) -> LoginThrottle:
    return LoginThrottle(InMemoryCounterStore(clock), PEPPER, POLICY)


async def test_locks_after_n_failures_with_exponential_backoff(throttle: LoginThrottle, clock: Clock) -> None:
    for _ in range(3):
        assert (await throttle.record_failure("a@example.com", "198.51.100.1")).allowed
    fourth = await throttle.record_failure("a@example.com", "198.51.100.1")
    assert fourth == ThrottleDecision(allowed=False, retry_after=2)
    assert not (await throttle.check("A@Example.com ", "198.51.100.99")).allowed  # same account, other IP

    clock.now += 2
    assert (await throttle.check("a@example.com", "198.51.100.1")).allowed
    assert (await throttle.record_failure("a@example.com", "198.51.100.1")).retry_after == 4
    clock.now += 4
    assert (await throttle.record_failure("a@example.com", "198.51.100.1")).retry_after == 8
    for _ in range(10):
        clock.now += 60
        decision = await throttle.record_failure("a@example.com", "198.51.100.1")
    assert decision.retry_after == 60  # capped: slowed down, never locked out for good


async def test_resets_after_the_window(throttle: LoginThrottle, clock: Clock) -> None:
    for _ in range(4):
        await throttle.record_failure("a@example.com", "198.51.100.1")
    assert not (await throttle.check("a@example.com", "198.51.100.1")).allowed
    clock.now += 601
    assert (await throttle.check("a@example.com", "198.51.100.1")).allowed
    assert (await throttle.record_failure("a@example.com", "198.51.100.1")).allowed  # counting from zero


async def test_success_resets_the_account_but_not_the_ip(clock: Clock) -> None:
    throttle = LoginThrottle(
        InMemoryCounterStore(clock), PEPPER, ThrottlePolicy(account_free_failures=3, ip_free_failures=4)
    )
    for _ in range(3):
        await throttle.record_failure("a@example.com", "198.51.100.1")
    await throttle.record_success("a@example.com", "198.51.100.1")
    assert (await throttle.record_failure("a@example.com", "198.51.100.1")).allowed  # account back to 1
    assert not (await throttle.record_failure("b@example.com", "198.51.100.1")).allowed  # IP at 5 > 4


async def test_per_ip_limit_catches_spraying_many_accounts(throttle: LoginThrottle) -> None:
    for n in range(10):
        assert (await throttle.record_failure(f"user{n}@example.com", "203.0.113.5")).allowed
    blocked = await throttle.record_failure("user10@example.com", "203.0.113.5")
    assert not blocked.allowed
    assert not (await throttle.check("fresh@example.com", "203.0.113.5")).allowed
    assert (await throttle.check("fresh@example.com", "203.0.113.6")).allowed


async def test_ipv6_counted_per_64(throttle: LoginThrottle) -> None:
    for n in range(11):
        await throttle.record_failure(f"u{n}@example.com", f"2001:db8:1:2::{n + 1:x}")
    assert not (await throttle.check("x@example.com", "2001:db8:1:2:ffff::1")).allowed
    assert (await throttle.check("x@example.com", "2001:db8:1:3::1")).allowed
    assert throttle.ip_key("::ffff:198.51.100.1") == throttle.ip_key("198.51.100.1")


async def test_unknown_and_known_accounts_get_identical_answers(clock: Clock) -> None:
    """The throttle never learns whether an account exists, so its answers cannot reveal it."""
    known = LoginThrottle(InMemoryCounterStore(clock), PEPPER, POLICY)
    unknown = LoginThrottle(InMemoryCounterStore(clock), PEPPER, POLICY)
    known_answers = [await known.record_failure("real.user@example.com", "198.51.100.1") for _ in range(6)]
    unknown_answers = [await unknown.record_failure("nobody@example.com", "198.51.100.1") for _ in range(6)]
    assert known_answers == unknown_answers
    assert [d.allowed for d in known_answers] == [True, True, True, False, False, False]


def test_keys_hold_no_plaintext() -> None:
    throttle = LoginThrottle(InMemoryCounterStore(), PEPPER)
    key = throttle.account_key("alice@example.com") + throttle.ip_key("198.51.100.1")
    assert "alice" not in key and "198.51" not in key
    assert throttle.account_key("alice@example.com") != LoginThrottle(
        InMemoryCounterStore(), b"q" * 32
    ).account_key("alice@example.com")
    with pytest.raises(ValueError):
        LoginThrottle(InMemoryCounterStore(), b"short")


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")
async def test_redis_store_against_real_redis() -> None:
    import redis.asyncio as redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    prefix = f"rd:test:throttle:{uuid.uuid4().hex}:"
    store = RedisCounterStore(client, prefix=prefix)
    try:
        assert await store.get("k") == 0
        assert [await store.incr("k", 30) for _ in range(3)] == [1, 2, 3]
        assert await store.get("k") == 3
        assert 29_000 < await client.pttl(prefix + "n:k") <= 30_000
        assert await store.lock_remaining("k") == 0
        await store.lock("k", 5)
        assert 4 < await store.lock_remaining("k") <= 5
        await store.clear("k")
        assert await store.get("k") == 0 and await store.lock_remaining("k") == 0

        throttle = LoginThrottle(store, PEPPER, POLICY)
        answers = [await throttle.record_failure("a@example.com", "198.51.100.1") for _ in range(4)]
        assert [d.allowed for d in answers] == [True, True, True, False]
        assert 1 < answers[-1].retry_after <= 2
        assert not (await throttle.check("a@example.com", "198.51.100.2")).allowed
        assert await client.keys(prefix + "*a@example*") == []
    finally:
        keys = await client.keys(prefix + "*")
        if keys:
            await client.delete(*keys)
        await client.aclose()
