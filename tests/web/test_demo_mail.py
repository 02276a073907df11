"""The demo's e-mail inbox end to end: the demo's own SMTP and IMAP servers on 127.0.0.1, a newcomer's
mail sent with `relaydesk demo-mail send`, fetched over IMAP into the inbox, answered by an agent, and the
answer read back with `relaydesk demo-mail inbox`."""

from __future__ import annotations

import asyncio
import contextlib

import sqlalchemy as sa
from click.testing import CliRunner

from relaydesk.cli.main import main as cli_main
from relaydesk.demo import seed_demo, wire_demo_mail
from relaydesk.demo_mail import DemoMailServers, outside_mail
from relaydesk.jobs.handlers.receivers import Supervisor
from relaydesk.models import Message
from tests.web.helpers import csrf_of, login


async def _drain(run_jobs) -> None:  # type: ignore[no-untyped-def]
    """Run what is due; the seeded demo's own jobs (the AI on its API inbox) may outlast one pass."""
    with contextlib.suppress(TimeoutError):
        await run_jobs(timeout=60)


async def _wait_for(predicate, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.1)


async def test_a_newcomer_mails_the_demo_and_reads_the_agents_answer(
    client, runtime, run_jobs, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)  # the demo keeps its files in ./.relaydesk/
    servers = DemoMailServers()
    info = servers.start()
    supervisor = Supervisor(runtime.services, scan_seconds=0.2)
    task: asyncio.Task[None] | None = None
    try:
        demo = await seed_demo(runtime)
        inbox_id = await wire_demo_mail(runtime, info)
        assert await wire_demo_mail(runtime, info) == inbox_id  # a second start reuses the inbox
        task = asyncio.create_task(
            supervisor.run()
        )  # the worker's receivers, as `relaydesk worker` runs them

        sent = await asyncio.to_thread(
            CliRunner().invoke,
            cli_main,
            ["demo-mail", "send", "--from", "you@example.com", "Where is my order?", "Order 1042 is late."],
        )
        assert sent.exit_code == 0, sent.output

        async def arrived() -> bool:
            await _drain(run_jobs)
            async with runtime.db.read() as session:
                return bool(
                    (await session.execute(sa.select(Message.id).where(Message.inbox_id == inbox_id))).first()
                )

        await _wait_for(arrived)
        await login(client, demo.email, demo.password)
        convs = (await client.get("/api/v1/conversations", params={"inbox_id": str(inbox_id)})).json()[
            "items"
        ]
        conv = next(c for c in convs if c["contact"]["email"] == "you@example.com")
        reply = await client.post(
            f"/api/v1/conversations/{conv['id']}/messages",
            json={"content": "It left our warehouse today."},
            headers={"X-CSRF-Token": await csrf_of(client)},
        )
        assert reply.status_code == 201, reply.text

        async def answered() -> bool:
            await _drain(run_jobs)
            return bool(outside_mail("you@example.com"))

        await _wait_for(answered)
        answer = outside_mail("you@example.com")[0]
        assert "It left our warehouse today." in answer["text"]
        assert answer["subject"].startswith("Re: Where is my order?")

        shown = await asyncio.to_thread(
            CliRunner().invoke, cli_main, ["demo-mail", "inbox", "--for", "you@example.com"]
        )
        assert shown.exit_code == 0 and "It left our warehouse today." in shown.output
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        servers.stop()
