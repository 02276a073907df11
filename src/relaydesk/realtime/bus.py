"""Pub/sub fast path for events: in-memory in one process, Redis across processes.

Delivery may be lossy (a Redis hiccup, a slow consumer): sockets resume from the database by sequence
number, so the bus never has to be reliable, only fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections import defaultdict
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
# Queue marker telling a consumer to catch up from the database; never sent to clients.
RESYNC: dict[str, Any] = {"type": "resync", "seq": None}


class Subscription:
    def __init__(self, bus: Bus, workspace_id: str) -> None:
        self.bus = bus
        self.workspace_id = workspace_id
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        # Set when the queue overflowed: the consumer must catch up from the database.
        self.overflowed = False

    def deliver(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    def resync(self) -> None:
        """Events may have been lost (bus reconnected): make the consumer read the database now.

        Setting the flag alone is not enough: a consumer waiting on an empty queue would only notice at
        the next event, which may never come; the marker wakes it.
        """
        self.overflowed = True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(RESYNC)

    def close(self) -> None:
        self.bus.unsubscribe(self)


class Bus:
    """In-memory bus; also the local fan-out used by the Redis bus."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def subscribe(self, workspace_id: uuid.UUID | str) -> Subscription:
        sub = Subscription(self, str(workspace_id))
        self._subs[sub.workspace_id].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.workspace_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.workspace_id]

    def _fan_out(self, event: dict[str, Any]) -> None:
        for sub in list(self._subs.get(event["workspace_id"], ())):
            sub.deliver(event)

    async def publish(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._fan_out(event)

    def _resync_all(self) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.resync()


class RedisBus(Bus):
    """Publishes to one Redis channel per workspace; a single pattern subscription per process fans out."""

    PREFIX = "relaydesk:events:"

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis.asyncio as redis

        # A recognisable name in `CLIENT LIST`, per process: operators (and tests) can tell the buses apart.
        self.client_name = f"relaydesk-bus-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._redis = redis.from_url(url, client_name=self.client_name)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="redis-bus")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()

    async def publish(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.publish(self.PREFIX + event["workspace_id"], json.dumps(event))
                await pipe.execute()
        except Exception:  # the database stays the truth; clients catch up by sequence
            log.warning("redis publish failed; delivering locally only", exc_info=True)
            for event in events:
                self._fan_out(event)

    async def _listen(self) -> None:
        connected_before = False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(self.PREFIX + "*")
                if connected_before:
                    # Whatever was published while we were away is gone from Redis: every socket re-reads
                    # the database instead of waiting for the next event to reveal the gap.
                    self._resync_all()
                connected_before = True
                self._ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        self._fan_out(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("redis bus connection lost; reconnecting", exc_info=True)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def make_bus(redis_url: str) -> Bus:
    return RedisBus(redis_url) if redis_url else Bus()
