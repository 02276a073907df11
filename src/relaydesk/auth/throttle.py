"""Login throttling per account and per IP, with exponential backoff (ASVS 6.3.1, NIST 800-63B 5.2.2).

Anti-enumeration (ASVS 6.3.8): the account counter is keyed by the identifier the client *typed*, not by a
user row, and the caller records failures for unknown identifiers exactly as for known ones. Decisions
therefore depend only on what the client sent, never on whether the account exists.

Anti-lockout (ASVS 6.1.1): an account is never locked for good. After `account_free_failures` failures
each further failure doubles a delay, capped at `max_delay`; an attacker can slow a victim's logins but
not shut them out, and the per-IP limit slows one source spraying many accounts. Counters expire after
`window_seconds` without a new failure.

Counter keys are HMACs of the identifier and the IP (IPv6 grouped by /64) under a server pepper, so the
counter store (Redis) holds no e-mail addresses or IPs.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class CounterStore(Protocol):
    """Expiring counters and locks; the in-memory one serves one process, Redis serves many."""

    async def incr(self, key: str, ttl: float) -> int:
        """Add one and push the expiry to `ttl` seconds from now; return the new count."""
        ...

    async def get(self, key: str) -> int: ...

    async def lock(self, key: str, seconds: float) -> None:
        """Refuse attempts on `key` for `seconds` (replacing any shorter or longer lock)."""
        ...

    async def lock_remaining(self, key: str) -> float:
        """Seconds left on the lock, 0 if none."""
        ...

    async def clear(self, key: str) -> None:
        """Forget the counter and the lock."""
        ...


class InMemoryCounterStore:
    """Single-process store with an injectable clock, so tests step time instead of sleeping."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, float] = {}

    async def incr(self, key: str, ttl: float) -> int:
        count = await self.get(key) + 1
        self._counts[key] = (count, self._clock() + ttl)
        return count

    async def get(self, key: str) -> int:
        entry = self._counts.get(key)
        if entry is None:
            return 0
        if entry[1] <= self._clock():
            del self._counts[key]
            return 0
        return entry[0]

    async def lock(self, key: str, seconds: float) -> None:
        self._locks[key] = self._clock() + seconds

    async def lock_remaining(self, key: str) -> float:
        until = self._locks.get(key)
        if until is None:
            return 0.0
        remaining = until - self._clock()
        if remaining <= 0:
            del self._locks[key]
            return 0.0
        return remaining

    async def clear(self, key: str) -> None:
        self._counts.pop(key, None)
        self._locks.pop(key, None)


class RedisCounterStore:
    """`redis.asyncio` store: INCR + PEXPIRE in one MULTI, locks as keys with a PX expiry."""

    def __init__(self, client: Any, prefix: str = "rd:throttle:") -> None:
        self._redis = client
        self._prefix = prefix

    async def incr(self, key: str, ttl: float) -> int:
        name = self._prefix + "n:" + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.pexpire(name, max(1, math.ceil(ttl * 1000)))
            count, _ = await pipe.execute()
        return int(count)

    async def get(self, key: str) -> int:
        value = await self._redis.get(self._prefix + "n:" + key)
        return int(value) if value is not None else 0

    async def lock(self, key: str, seconds: float) -> None:
        await self._redis.set(self._prefix + "l:" + key, b"1", px=max(1, math.ceil(seconds * 1000)))

    async def lock_remaining(self, key: str) -> float:
        ms = await self._redis.pttl(self._prefix + "l:" + key)
        return ms / 1000 if ms and ms > 0 else 0.0

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._prefix + "n:" + key, self._prefix + "l:" + key)


@dataclass(frozen=True)
class ThrottlePolicy:
    account_free_failures: int = 5
    ip_free_failures: int = 50
    window_seconds: float = 3600.0
    base_delay: float = 2.0
    max_delay: float = 900.0

    def delay_after(self, failures: int, free: int) -> float:
        """0 within the free allowance, then base, 2x base, 4x base, ... capped at max_delay."""
        if failures <= free:
            return 0.0
        exponent = min(failures - free - 1, 32)  # bounded so huge counts cannot overflow
        return min(self.max_delay, self.base_delay * 2.0**exponent)


@dataclass(frozen=True)
class ThrottleDecision:
    allowed: bool
    retry_after: float  # seconds; 0 when allowed. Send as Retry-After, identical for unknown users.


class LoginThrottle:
    """Call `check` before verifying a password, then `record_failure` or `record_success` after."""

    def __init__(self, store: CounterStore, pepper: bytes, policy: ThrottlePolicy | None = None) -> None:
        if len(pepper) < 16:
            raise ValueError("pepper must be at least 16 bytes (derive it from the master key)")
        self._store = store
        self._pepper = pepper
        self._policy = policy or ThrottlePolicy()

    def _key(self, kind: str, value: str) -> str:
        digest = hmac.new(self._pepper, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()[:32]
        return f"{kind}:{digest}"

    def account_key(self, identifier: str) -> str:
        return self._key("acct", unicodedata.normalize("NFKC", identifier).strip().casefold())

    def ip_key(self, ip: str) -> str:
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return self._key("ip", ip.strip())  # keep throttling even if the proxy hands us junk
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if isinstance(address, ipaddress.IPv6Address):
            # One subscriber usually owns a whole /64, so per-address counting would be trivially dodged.
            return self._key("ip", str(ipaddress.IPv6Network((address, 64), strict=False)))
        return self._key("ip", str(address))

    async def check(self, identifier: str, ip: str) -> ThrottleDecision:
        wait = max(
            await self._store.lock_remaining(self.account_key(identifier)),
            await self._store.lock_remaining(self.ip_key(ip)),
        )
        return ThrottleDecision(allowed=wait <= 0, retry_after=wait)

    async def record_failure(self, identifier: str, ip: str) -> ThrottleDecision:
        """Count a failed attempt (unknown identifiers too) and return the resulting decision."""
        policy = self._policy
        for key, free in (
            (self.account_key(identifier), policy.account_free_failures),
            (self.ip_key(ip), policy.ip_free_failures),
        ):
            failures = await self._store.incr(key, policy.window_seconds)
            delay = policy.delay_after(failures, free)
            if delay > 0:
                await self._store.lock(key, delay)
        return await self.check(identifier, ip)

    async def record_success(self, identifier: str, ip: str) -> None:
        """Reset the account's counter. The IP's stays: one valid login must not launder a spraying run."""
        await self._store.clear(self.account_key(identifier))
