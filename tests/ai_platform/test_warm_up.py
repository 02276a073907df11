"""A job process loads the AI models at start when some inbox uses the AI, and not otherwise."""

from __future__ import annotations

import asyncio

import relaydesk.ai
from relaydesk.actions import ai as ai_actions
from relaydesk.jobs.dispatcher import Dispatcher


def _warm_up_task(dispatcher: Dispatcher) -> asyncio.Task[None]:
    """The AI warm-up among the start hooks (others, like the channels' receivers, run until stopped)."""
    [task] = [t for t in dispatcher.start_tasks if t.get_name() == "start-warm_up_models"]
    return task


async def _started(runtime, monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    calls: list[str] = []
    monkeypatch.setattr(relaydesk.ai, "warm_up", lambda: calls.append("warm_up"))
    dispatcher = Dispatcher(runtime.services, worker_id="warm-up-check")
    await dispatcher.start()
    # The AI warm-up is a start hook (jobs/handlers/ai.py).
    await asyncio.wait_for(asyncio.shield(_warm_up_task(dispatcher)), timeout=10)
    await dispatcher.stop()
    return calls


async def test_models_load_at_start_once_an_inbox_uses_the_ai(
    runtime, make_workspace, enable_ai, monkeypatch
):
    ws = await make_workspace()
    await enable_ai(ws)
    async with runtime.db.read() as session:
        assert await ai_actions.in_use(session)
    assert await _started(runtime, monkeypatch) == ["warm_up"]


async def test_nothing_loads_where_no_inbox_uses_the_ai(runtime, monkeypatch):
    async def nobody(_session):  # type: ignore[no-untyped-def]
        return False

    monkeypatch.setattr(ai_actions, "in_use", nobody)
    assert await _started(runtime, monkeypatch) == []


async def test_a_failing_warm_up_never_stops_the_dispatcher(runtime, make_workspace, enable_ai, monkeypatch):
    await enable_ai(await make_workspace())

    def broken() -> None:
        raise RuntimeError("model file missing")

    monkeypatch.setattr(relaydesk.ai, "warm_up", broken)
    dispatcher = Dispatcher(runtime.services, worker_id="warm-up-broken")
    await dispatcher.start()
    await asyncio.wait_for(asyncio.shield(_warm_up_task(dispatcher)), timeout=10)  # logged
    assert dispatcher._task is not None and not dispatcher._task.done()
    await dispatcher.stop()
