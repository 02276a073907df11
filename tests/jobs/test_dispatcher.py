"""The dispatcher's contract, on the real database: retries with backoff, dead letters, leases, takeover."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa

from relaydesk.db.base import utcnow
from relaydesk.jobs.dispatcher import Dispatcher, backoff_seconds
from relaydesk.jobs.outbox import enqueue
from relaydesk.jobs.registry import JobContext, PermanentError, RetryLater, handler
from relaydesk.models import Job

RUNS: Counter[str] = Counter()
DEAD: list[str] = []
FAIL_TIMES: dict[str, int] = {}


@handler("test.flaky")
async def _flaky(ctx: JobContext) -> None:
    token = ctx.payload["token"]
    RUNS[token] += 1
    if RUNS[token] <= FAIL_TIMES.get(token, 0):
        raise RuntimeError(f"failure {RUNS[token]}")


@handler("test.flaky:dead")
async def _flaky_dead(ctx: JobContext) -> None:
    DEAD.append(ctx.payload["token"])


@handler("test.permanent")
async def _permanent(ctx: JobContext) -> None:
    RUNS[ctx.payload["token"]] += 1
    raise PermanentError("the payload can never work")


@handler("test.later")
async def _later(ctx: JobContext) -> None:
    RUNS[ctx.payload["token"]] += 1
    if RUNS[ctx.payload["token"]] == 1:
        raise RetryLater("provider said wait", 90)


@handler("test.slow")
async def _slow(ctx: JobContext) -> None:
    RUNS[ctx.payload["token"]] += 1
    await asyncio.sleep(ctx.payload["seconds"])


async def _add(runtime, kind: str, **payload) -> tuple[uuid.UUID, str]:
    token = uuid.uuid4().hex
    max_attempts = payload.pop("max_attempts", None)
    async with runtime.db.write() as session:
        job_id = await enqueue(
            session, kind, {"token": token, **payload}, workspace_id=None, max_attempts=max_attempts
        )
    return job_id, token


async def _job(runtime, job_id: uuid.UUID) -> Job:
    async with runtime.db.read() as session:
        return await session.get(Job, job_id)


async def _run_once(runtime) -> None:
    """One claim-and-run round, so a test can look at the state between retries."""
    for job in await runtime.dispatcher.claim(10):
        await runtime.dispatcher._execute(job)


async def _until_settled(runtime, job_id: uuid.UUID, timeout: float = 10.0) -> Job:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        await runtime.dispatcher.run_until_idle()
        job = await _job(runtime, job_id)
        if job.state in ("done", "dead"):
            return job
        await asyncio.sleep(0.01)
    raise AssertionError("job did not settle")


def test_backoff_is_exponential_jittered_and_capped():
    for attempts in range(1, 12):
        full = min(60.0, 2.0 * 2 ** (attempts - 1))
        samples = [backoff_seconds(attempts, 2.0, 60.0) for _ in range(200)]
        assert all(full / 2 <= s <= full for s in samples), attempts
        assert len(set(samples)) > 1  # jittered, so retries of many jobs do not stampede together
    assert max(backoff_seconds(30, 2.0, 60.0) for _ in range(50)) <= 60.0


async def test_failures_are_retried_until_done(runtime):
    job_id, token = await _add(runtime, "test.flaky")
    FAIL_TIMES[token] = 2
    await _run_once(runtime)
    job = await _job(runtime, job_id)
    assert (job.state, job.attempts, job.last_error) == ("pending", 1, "RuntimeError: failure 1")
    assert job.locked_by is None and job.run_at > job.created_at
    job = await _until_settled(runtime, job_id)
    assert (job.state, job.attempts, job.last_error) == ("done", 3, None)
    assert job.finished_at is not None and RUNS[token] == 3


async def test_dead_letter_after_configured_attempts_runs_the_dead_hook(runtime):
    job_id, token = await _add(runtime, "test.flaky")
    FAIL_TIMES[token] = 100
    job = await _until_settled(runtime, job_id)
    assert (job.state, job.attempts) == ("dead", runtime.settings.job_max_attempts)
    assert job.last_error == f"RuntimeError: failure {runtime.settings.job_max_attempts}"
    assert DEAD.count(token) == 1
    await runtime.dispatcher.run_until_idle()
    assert RUNS[token] == runtime.settings.job_max_attempts  # a dead job is never picked up again


async def test_per_job_max_attempts_overrides_the_setting(runtime):
    job_id, token = await _add(runtime, "test.flaky", max_attempts=1)
    FAIL_TIMES[token] = 100
    job = await _until_settled(runtime, job_id)
    assert (job.state, job.attempts, RUNS[token]) == ("dead", 1, 1)


async def test_permanent_errors_dead_letter_at_once(runtime):
    job_id, token = await _add(runtime, "test.permanent")
    await runtime.dispatcher.run_until_idle()
    job = await _job(runtime, job_id)
    assert (job.state, job.attempts, RUNS[token]) == ("dead", 1, 1)
    assert job.last_error == "PermanentError: the payload can never work"


async def test_unknown_kind_is_dead_not_retried(runtime):
    async with runtime.db.write() as session:
        job_id = await enqueue(session, "test.nobody-handles-this", {}, workspace_id=None)
    await runtime.dispatcher.run_until_idle()
    job = await _job(runtime, job_id)
    assert job.state == "dead" and "no handler" in job.last_error


async def test_retry_later_waits_the_given_time(runtime):
    job_id, token = await _add(runtime, "test.later")
    await runtime.dispatcher.run_until_idle()
    job = await _job(runtime, job_id)
    assert job.state == "pending"
    assert 80 < (job.run_at - utcnow()).total_seconds() <= 90
    assert await runtime.dispatcher.run_until_idle() == 0 and RUNS[token] == 1


async def test_enqueue_is_part_of_the_transaction(runtime):
    with pytest.raises(RuntimeError):
        async with runtime.db.write() as session:
            await enqueue(session, "test.flaky", {"token": "rolled-back"}, workspace_id=None)
            raise RuntimeError("the write fails")
    async with runtime.db.write() as session:
        first = await enqueue(session, "test.flaky", {"token": "k"}, workspace_id=None, idempotency_key="k1")
    async with runtime.db.write() as session:
        second = await enqueue(session, "test.flaky", {"token": "k"}, workspace_id=None, idempotency_key="k1")
    assert first == second
    async with runtime.db.read() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(Job))).scalar_one() == 1


async def test_lapsed_lease_is_taken_over_and_the_old_owner_cannot_finish_it(runtime):
    """A worker that claimed a job and died (or stalled past its lease) loses it; its late write is void."""
    job_id, token = await _add(runtime, "test.flaky")
    crashed = Dispatcher(runtime.services, worker_id="crashed-worker")
    (claimed,) = await crashed.claim(10)
    assert (claimed.state, claimed.locked_by, claimed.attempts) == ("running", "crashed-worker", 1)
    survivor = Dispatcher(runtime.services, worker_id="survivor")
    assert await survivor.claim(10) == []  # the lease still holds
    async with runtime.db.write() as session:  # let the lease lapse
        await session.execute(
            sa.update(Job).where(Job.id == job_id).values(locked_until=utcnow() - dt.timedelta(seconds=1))
        )
    (taken,) = await survivor.claim(10)
    assert (taken.locked_by, taken.attempts) == ("survivor", 2)
    assert await crashed._finish(claimed, state="done", error=None) is False  # the stalled owner: ignored
    job = await _job(runtime, job_id)
    assert (job.state, job.locked_by) == ("running", "survivor")
    await survivor._execute(taken)
    job = await _job(runtime, job_id)
    assert (job.state, job.attempts, RUNS[token]) == ("done", 2, 1)


async def test_job_abandoned_too_often_is_dead_lettered(runtime):
    job_id, token = await _add(runtime, "test.flaky", max_attempts=2)
    for n in range(2):
        (job,) = await Dispatcher(runtime.services, worker_id=f"doomed-{n}").claim(1)
        async with runtime.db.write() as session:
            await session.execute(
                sa.update(Job).where(Job.id == job_id).values(locked_until=utcnow() - dt.timedelta(seconds=1))
            )
    await runtime.dispatcher.run_until_idle()
    job = await _job(runtime, job_id)
    assert (job.state, job.attempts) == ("dead", 3)
    assert "abandoned" in job.last_error and RUNS[token] == 0 and DEAD.count(token) == 1


async def test_running_jobs_have_their_lease_renewed(runtime):
    """A job longer than the lease keeps it while its worker lives: nobody else starts it meanwhile."""
    original = runtime.settings
    runtime.settings = original.replace(job_lease_seconds=1.5)
    worker = Dispatcher(runtime.services, worker_id="long-runner", poll_interval=0.05)
    try:
        job_id, token = await _add(runtime, "test.slow", seconds=2.5)
        await worker.start()
        rival = Dispatcher(runtime.services, worker_id="rival")
        leases = []
        for _ in range(10):
            await asyncio.sleep(0.2)
            # The rival may pick up periodic housekeeping the worker has not reached yet (ten kinds, eight
            # slots): what matters is that it never gets the long job.
            assert job_id not in [j.id for j in await rival.claim(10)]
            job = await _job(runtime, job_id)
            if job.state == "running":
                leases.append(job.locked_until)
        assert len(set(leases)) >= 2  # renewed while running
        job = await _until_done_by(runtime, job_id, 5.0)
        assert (job.state, job.attempts, RUNS[token]) == ("done", 1, 1)
    finally:
        await worker.stop()
        runtime.settings = original


async def _until_done_by(runtime, job_id: uuid.UUID, timeout: float) -> Job:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        job = await _job(runtime, job_id)
        if job.state in ("done", "dead"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("job did not finish")


def test_coalescing_groups_are_cut_at_the_kinds_limit_of_work():
    """`inbound.process` jobs weigh their events: a group holds at most BATCH_EVENTS of them (its
    transaction holds SQLite's writer), a heavier single job still runs, alone; workspaces never mix."""
    from relaydesk.inbound.handover import BATCH_EVENTS
    from relaydesk.jobs.dispatcher import coalesce

    ws_a, ws_b = uuid.uuid4(), uuid.uuid4()

    def job(ws: uuid.UUID, events: int) -> Job:
        return Job(
            id=uuid.uuid4(),
            workspace_id=ws,
            kind="inbound.process",
            payload={"inbound_event_ids": [str(uuid.uuid4()) for _ in range(events)]},
        )

    jobs = [job(ws_a, 10), job(ws_a, 10), job(ws_b, 5), job(ws_a, 10), job(ws_a, BATCH_EVENTS + 5)]
    jobs += [job(ws_a, 3), Job(id=uuid.uuid4(), workspace_id=ws_a, kind="webhook.deliver", payload={})]
    groups = coalesce(jobs)
    weights = [
        (g[0].kind, g[0].workspace_id, sum(len(j.payload.get("inbound_event_ids", [])) for j in g))
        for g in groups
    ]
    assert ("webhook.deliver", ws_a, 0) in weights
    inbound_a = [w for k, ws, w in weights if k == "inbound.process" and ws == ws_a]
    assert inbound_a == [30, BATCH_EVENTS + 5, 3]
    assert [w for k, ws, w in weights if ws == ws_b] == [5]
    assert sorted(j.id for g in groups for j in g) == sorted(j.id for j in jobs)
