"""How fast one source may use the widget: the visitor API is public, so a script could mint sessions or
post messages (each a contact, a conversation, an agent's attention) as fast as the server answers.

Fixed one-minute windows, counted in the login throttle's stores (auth/throttle.py: in memory, or Redis
shared by every process when the deployment has one), under keys that are HMACs with a server pepper, so
the store holds no IP address and no visitor id. Over a limit: 429 with `Retry-After`, nothing stored.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from relaydesk.auth.throttle import InMemoryCounterStore, RedisCounterStore
from relaydesk.errors import Throttled
from relaydesk.server.keys import load_master_key

WINDOW_SECONDS = 60.0
#: Per client address, a few visitors' worth (an office behind one NAT), of `widget_messages_per_minute`.
ADDRESS_FACTOR = 4

_limiters: dict[int, Any] = {}


class Limiter:
    def __init__(self, store: Any, pepper: bytes) -> None:
        self.store = store
        self.pepper = pepper

    async def hit(self, kind: str, value: str, limit: int) -> None:
        window = int(time.time() // WINDOW_SECONDS)
        digest = hmac.new(self.pepper, f"{kind}\n{value}".encode(), hashlib.sha256).hexdigest()[:32]
        count = await self.store.incr(f"widget:{kind}:{window}:{digest}", WINDOW_SECONDS)
        if count > limit:
            raise Throttled.after(WINDOW_SECONDS - time.time() % WINDOW_SECONDS)


def limiter_for(runtime: Any) -> Limiter:
    found = _limiters.get(id(runtime))
    if found is None:
        pepper = hmac.new(load_master_key(runtime.settings), b"widget-rate", hashlib.sha256).digest()
        if runtime.settings.redis_url:
            import redis.asyncio as redis

            store: Any = RedisCounterStore(redis.from_url(runtime.settings.redis_url))
        else:
            store = InMemoryCounterStore()
        found = _limiters[id(runtime)] = Limiter(store, pepper)
    return found


async def new_session(runtime: Any, address: str) -> None:
    """A page load that opens the chat starts one session (a reload with a kept token renews it)."""
    await limiter_for(runtime).hit("session", address, runtime.settings.widget_messages_per_minute)


async def new_message(runtime: Any, address: str, visitor_key: str) -> None:
    per_visitor = runtime.settings.widget_messages_per_minute
    limiter = limiter_for(runtime)
    await limiter.hit("visitor", visitor_key, per_visitor)
    await limiter.hit("address", address, per_visitor * ADDRESS_FACTOR)


def reset() -> None:
    """Forget every counter (tests that start many sessions from 127.0.0.1)."""
    _limiters.clear()
