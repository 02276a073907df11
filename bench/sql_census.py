"""Count the SQL statements and write transactions one inbound message costs, in process.

    .venv/bin/python bench/sql_census.py [--messages 300] [--batch 8] [--database-url postgresql+asyncpg://...]

Latencies on a shared 2-core machine move with whatever else runs; statement counts do not. This runs the
real webhook handler (ASGI, no network) and the real job handler, records every statement with its time,
and prints per-message counts split into "acknowledge" (the HTTP request) and "process" (the job), so a
change to the hot path can be judged by what it removes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import event

import harness
from harness import render_table
from ingest import IngestRequests, setup


class Census:
    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        self.enabled = True

    def attach(self, engine: Any) -> None:
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _before(conn: Any, _cur: Any, _stmt: str, *_a: Any) -> None:
            conn.info["bench_t0"] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def _after(conn: Any, _cur: Any, stmt: str, *_a: Any) -> None:
            if self.enabled:
                words = stmt.split()
                verb = words[0].upper()
                table = ""
                for marker in ("FROM", "INTO", "UPDATE"):
                    if marker in (w.upper() for w in words):
                        idx = [w.upper() for w in words].index(marker)
                        table = words[idx + 1] if marker != "UPDATE" else words[1]
                        break
                entry = self.stats[f"{verb} {table}".strip()]
                entry[0] += 1
                entry[1] += time.perf_counter() - conn.info.get("bench_t0", time.perf_counter())

    def take(self) -> dict[str, list[float]]:
        out = dict(self.stats)
        self.stats = collections.defaultdict(lambda: [0, 0.0])
        return out


async def run(args: argparse.Namespace) -> None:
    from relaydesk.config import load_settings
    from relaydesk.jobs.dispatcher import Dispatcher
    from relaydesk.runtime import build_runtime
    from relaydesk.server.app import create_app
    from relaydesk.server.keys import generate_master_key

    master_key = generate_master_key()
    pg_name = f"relaydesk_bench_census_{uuid.uuid4().hex[:8]}"
    if args.database_url:
        url = await harness.create_pg_database(args.database_url, pg_name)
    else:
        url = f"sqlite+aiosqlite:///{harness.OUT / f'census-{uuid.uuid4().hex[:8]}.db'}"
        harness.OUT.mkdir(parents=True, exist_ok=True)
    ids = await setup(url, master_key)
    runtime = build_runtime(
        load_settings(environ={}, database_url=url, master_key=master_key, inprocess_worker=False)
    )
    await runtime.start(with_dispatcher=False)
    runtime.dispatcher = Dispatcher(runtime.services, concurrency=args.batch)
    census = Census()
    for engine in {id(e): e for e in (runtime.db.write_engine, runtime.db.read_engine)}.values():
        census.attach(engine)
    app = create_app(runtime=runtime, manage_runtime=False)
    n = args.messages
    # Half the customers write twice: first messages create a contact and a conversation, later ones not.
    requests = IngestRequests(ids["inbox_public_id"], ids["inbound_secret"], "census", n // 2, 1)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c:
            t0 = time.perf_counter()
            for i in range(n):
                _m, path, body, headers = requests(i)
                resp = await c.post(path, content=body, headers=headers)
                assert resp.status_code == 202, resp.text
            ack_s = time.perf_counter() - t0
            acknowledge = census.take()
            t0 = time.perf_counter()
            await runtime.dispatcher.run_until_idle(600)
            process_s = time.perf_counter() - t0
            process = census.take()
    finally:
        await runtime.stop()
        if args.database_url:
            await harness.drop_pg_database(args.database_url, pg_name)

    def rows(stats: dict[str, list[float]]) -> list[list[Any]]:
        ordered = sorted(stats.items(), key=lambda kv: -kv[1][0])
        return [[k, v[0] / n, v[1] * 1000 / n] for k, v in ordered]

    total_ack = sum(v[0] for v in acknowledge.values()) / n
    total_proc = sum(v[0] for v in process.values()) / n
    text = (
        f"{n} inbound messages, {n // 2} customers, processed {args.batch} at a time; statements per message: acknowledge {total_ack:.1f}, "
        f"process {total_proc:.1f}; wall: acknowledge {ack_s * 1000 / n:.2f} ms/msg, process "
        f"{process_s * 1000 / n:.2f} ms/msg (in process, sequential)\n\n"
        + render_table(["acknowledge: statement", "per msg", "ms per msg"], rows(acknowledge))
        + "\n\n"
        + render_table(["process: statement", "per msg", "ms per msg"], rows(process))
    )
    print(text)
    backend = "postgresql" if args.database_url else "sqlite"
    harness.write_report(
        f"sql_census-{backend}",
        {
            "machine": harness.machine_info(),
            "messages": n,
            "acknowledge": acknowledge,
            "process": process,
            "ack_ms_per_msg": ack_s * 1000 / n,
            "process_ms_per_msg": process_s * 1000 / n,
        },
        text,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument(
        "--batch",
        type=int,
        default=8,
        help="jobs claimed (and coalesced) at once; 1 processes every message alone, the worst case",
    )
    parser.add_argument("--database-url", help="PostgreSQL base URL: a fresh database is created on it")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
