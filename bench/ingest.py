"""Inbound ingestion end to end against a real `relaydesk serve`, with `GET /health` as the ceiling.

    .venv/bin/python bench/ingest.py                      # fresh SQLite file under bench/out/
    .venv/bin/python bench/ingest.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Phases, all against the same server process (in-process dispatcher on, as `relaydesk serve` runs):
1. `health`: closed loop on the trivial endpoint: the most this server stack answers per second.
2. `ingest-max`: closed loop of signed API-channel messages. A message counts once it is acknowledged
   (202), stored as a message row and its `message.created` event row exists; the rate is persisted
   messages divided by the time from the phase start until the last one was persisted (backlog included).
3. `ingest-200`: open loop at a fixed offered rate (200/s by default): acknowledgement latency measured
   from each request's scheduled send time, and the server-side lag from receipt to stored message.
The server's peak RSS (process and children) is sampled throughout.
4. `acknowledge only`: a second server on a fresh database, started with `serve --no-worker`, under the
   same closed loop as phase 2: what the provider-facing door alone (verify the signature, parse, seal the
   raw body, group-commit it with its job) answers per second. No processing happens, so this is an upper
   bound on phase 2 whatever the processing costs; `--no-ack-only` skips it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import random
import sys
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import harness
from harness import LoadResult, percentile, render_table

TARGET_RATIO = 0.40
TARGET_P99_MS = 50.0
TARGET_RSS_MB = 300.0


# --- setup ---------------------------------------------------------------------------------------------


async def setup(url: str, master_key: str) -> dict[str, str]:
    """Schema plus one workspace with an agent and an API inbox, written through the real actions."""
    from relaydesk.actions.inboxes import create_inbox
    from relaydesk.actions.workspaces import add_member, create_user, create_workspace
    from relaydesk.config import load_settings
    from relaydesk.privacy import storage
    from relaydesk.runtime import build_runtime

    await harness.prepare_schema(url)
    runtime = build_runtime(load_settings(environ={}, database_url=url, master_key=master_key))
    try:
        async with runtime.db.write() as session:
            ws = await create_workspace(session, "Bench", f"bench-{uuid.uuid4().hex[:6]}")
            user = await create_user(session, f"agent-{ws.slug}@example.com", "Agent", None)
            await add_member(session, ws.id, user.id, "agent")
            inbox = await create_inbox(session, ws.id, name="API", channel_type="api", settings={})
            creds = storage.read_inbox_credentials(inbox)
        return {
            "workspace_id": str(ws.id),
            "inbox_public_id": inbox.public_id,
            "inbound_secret": creds["inbound_secret"],
        }
    finally:
        await runtime.stop()


# --- requests (built inside the load processes) --------------------------------------------------------

_TEXTS = [
    "Hello, my order #{n} has not arrived yet, can you check?",
    "Can I change the delivery address for order {n}?",
    "Thanks, that solved it.",
    "The parcel arrived damaged, I would like a refund please.",
]


class IngestRequests:
    """Picklable factory of signed inbound requests; ids are unique per phase and process."""

    def __init__(self, public_id: str, secret: str, prefix: str, contacts: int, seed: int) -> None:
        self.path = f"/inbound/api/{public_id}"
        self.secret, self.prefix, self.contacts, self.seed = secret, prefix, contacts, seed
        self._rng: random.Random | None = None

    def __call__(self, n: int) -> tuple[str, str, bytes, dict[str, str]]:
        from relaydesk.channels.api.client import signed_request_headers

        if self._rng is None:
            self._rng = random.Random(self.seed)
        c = self._rng.randrange(self.contacts)
        body = json.dumps(
            {
                "type": "message",
                "id": f"{self.prefix}-{n}",
                "contact": {"id": f"cust-{c}", "name": f"Customer {c}"},
                "text": self._rng.choice(_TEXTS).format(n=n),
            },
            separators=(",", ":"),
        ).encode()
        return "POST", self.path, body, signed_request_headers(self.secret, body)


def health_request(_n: int) -> tuple[str, str, bytes, dict[str, str]]:
    return "GET", "/health", b"", {}


def _run_load(spec: dict[str, Any]) -> LoadResult:
    if spec["mode"] == "closed":
        coro = harness.closed_loop(
            "127.0.0.1",
            spec["port"],
            spec["factory"],
            duration=spec["duration"],
            connections=spec["connections"],
            start_at=spec["start_at"],
        )
    else:
        coro = harness.open_loop(
            "127.0.0.1",
            spec["port"],
            spec["factory"],
            rate=spec["rate"],
            duration=spec["duration"],
            connections=spec["connections"],
            start_at=spec["start_at"],
        )
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def run_load(pool: Any, specs: list[dict[str, Any]]) -> LoadResult:
    start_at = time.time() + 1.0  # every process starts sending at the same instant
    results = pool.map(_run_load, [{**s, "start_at": start_at} for s in specs])
    total = LoadResult()
    for r in results:
        total = total.merge(r)
    return total


# --- persistence watching ------------------------------------------------------------------------------


class Watcher:
    """Counts what the server persisted, from the database: the database is the truth, not the 202."""

    def __init__(self, url: str, workspace_id: str) -> None:
        self.engine = create_async_engine(url)
        self.workspace_id = uuid.UUID(workspace_id)

    async def counts(self) -> tuple[int, int]:
        from relaydesk.models import Event, Message

        async with self.engine.connect() as conn:
            messages = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(Message)
                    .where(Message.workspace_id == self.workspace_id)
                )
            ).scalar_one()
            events = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(Event)
                    .where(Event.workspace_id == self.workspace_id, Event.type == "message.created")
                )
            ).scalar_one()
        return int(messages), int(events)

    async def wait_for(self, expected: int, timeout: float) -> tuple[float, int, int]:
        """Poll until `expected` messages and events exist; return (time reached, messages, events)."""
        deadline = time.time() + timeout
        messages = events = 0
        while time.time() < deadline:
            messages, events = await self.counts()
            if messages >= expected and events >= expected:
                return time.time(), messages, events
            await asyncio.sleep(0.05)
        return float("nan"), messages, events

    async def lag_ms(self, prefix: str) -> list[float]:
        """Server-side receipt-to-stored-message delay for one phase's messages."""
        from relaydesk.models import InboundEvent, Message

        async with self.engine.connect() as conn:
            received = dict(
                (
                    await conn.execute(
                        sa.select(InboundEvent.dedupe_key, InboundEvent.received_at).where(
                            InboundEvent.dedupe_key.like(f"message:{prefix}-%")
                        )
                    )
                ).all()
            )
            stored = (
                await conn.execute(
                    sa.select(Message.provider_message_id, Message.created_at).where(
                        Message.provider_message_id.like(f"{prefix}-%")
                    )
                )
            ).all()
        out = []
        for pid, created in stored:
            got = received.get(f"message:{pid}")
            if got is not None:
                out.append((created - got).total_seconds() * 1000)
        return out

    async def close(self) -> None:
        await self.engine.dispose()


# --- phases --------------------------------------------------------------------------------------------


def summarise(name: str, r: LoadResult, duration: float, cpu: float) -> dict[str, Any]:
    return {
        "phase": name,
        "offered": r.offered,
        "ok": r.ok,
        "errors": r.errors,
        "ack_per_s": r.ok / duration,
        "p50_ms": percentile(r.latencies_ms, 50),
        "p99_ms": percentile(r.latencies_ms, 99),
        "max_ms": max(r.latencies_ms) if r.latencies_ms else float("nan"),
        "server_cpu_s": cpu,
    }


async def acknowledge_only(args: argparse.Namespace, master_key: str) -> dict[str, Any]:
    """Phase 4: the closed loop of phase 2 against `serve --no-worker` on a fresh database."""
    pg_name = f"relaydesk_bench_ack_{uuid.uuid4().hex[:8]}"
    if args.database_url:
        url = await harness.create_pg_database(args.database_url, pg_name)
    else:
        url = f"sqlite+aiosqlite:///{harness.OUT / f'ingest-ack-{uuid.uuid4().hex[:8]}.db'}"
    ids = await setup(url, master_key)
    server = harness.ServerProcess(
        url, master_key, command=[sys.executable, "-m", "relaydesk.cli.main", "serve", "--no-worker"]
    ).start()
    try:
        with mp.get_context("spawn").Pool(args.procs) as pool:
            specs = [
                {
                    "port": server.port,
                    "duration": args.duration,
                    "connections": args.connections,
                    "mode": "closed",
                    "factory": IngestRequests(
                        ids["inbox_public_id"], ids["inbound_secret"], f"ack{i}", args.contacts, 50 + i
                    ),
                }
                for i in range(args.procs)
            ]
            cpu0 = server.cpu_seconds()
            r = await asyncio.get_running_loop().run_in_executor(None, run_load, pool, specs)
            cpu = server.cpu_seconds() - cpu0
        result = summarise("acknowledge only (no processing)", r, args.duration, cpu)
        result["server_cpu_ms_per_msg"] = cpu * 1000 / max(1, r.ok)
        return result
    finally:
        server.stop()
        if args.database_url and not args.keep:
            await harness.drop_pg_database(args.database_url, pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL base URL: a fresh database is created on it")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase (default 20)")
    parser.add_argument("--rate", type=float, default=200.0, help="offered messages/s of the open-loop phase")
    parser.add_argument("--procs", type=int, default=1, help="load-generator processes (default 1)")
    parser.add_argument("--connections", type=int, default=32, help="connections per load process")
    parser.add_argument("--contacts", type=int, default=2000, help="distinct customers writing")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--profile", action="store_true", help="py-spy the server during ingest-max")
    parser.add_argument(
        "--no-ack-only", action="store_true", help="skip phase 4 (acknowledge-only server, no processing)"
    )
    parser.add_argument("--name", default=None, help="report name under bench/out/ (default ingest-<db>)")
    args = parser.parse_args()
    asyncio.run(_main_async_setup_and_run(args))


async def _main_async_setup_and_run(args: argparse.Namespace) -> None:
    from relaydesk.server.keys import generate_master_key

    master_key = generate_master_key()
    harness.OUT.mkdir(parents=True, exist_ok=True)
    backend = "postgresql" if args.database_url else "sqlite"
    pg_name = f"relaydesk_bench_ingest_{uuid.uuid4().hex[:8]}"
    if args.database_url:
        url = await harness.create_pg_database(args.database_url, pg_name)
    else:
        db_file = harness.OUT / f"ingest-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite+aiosqlite:///{db_file}"
    ids = await setup(url, master_key)
    server = harness.ServerProcess(url, master_key).start()
    watcher = Watcher(url, ids["workspace_id"])
    ctx = mp.get_context("spawn")
    phases: list[dict[str, Any]] = []
    try:
        with ctx.Pool(args.procs) as pool:
            base = {"port": server.port, "duration": args.duration, "connections": args.connections}
            loop = asyncio.get_running_loop()

            # 1. ceiling
            cpu0 = server.cpu_seconds()
            r = await loop.run_in_executor(
                None, run_load, pool, [{**base, "mode": "closed", "factory": health_request}] * args.procs
            )
            health = summarise("health (closed loop)", r, args.duration, server.cpu_seconds() - cpu0)
            phases.append(health)

            # 2. ingest at full speed; persisted throughput includes draining the backlog
            specs = [
                {
                    **base,
                    "mode": "closed",
                    "factory": IngestRequests(
                        ids["inbox_public_id"], ids["inbound_secret"], f"max{i}", args.contacts, i
                    ),
                }
                for i in range(args.procs)
            ]
            cpu0 = server.cpu_seconds()
            assert server.proc is not None
            profile = harness.PySpy(server.proc.pid, harness.OUT / "ingest-profile.txt")
            with profile if args.profile else contextlib.nullcontext():
                r = await loop.run_in_executor(None, run_load, pool, specs)
                done_at, messages, events = await watcher.wait_for(r.ok, args.drain_timeout)
            cpu = server.cpu_seconds() - cpu0
            ingest = summarise("ingest (closed loop)", r, args.duration, cpu)
            ingest["persisted"] = messages
            ingest["events"] = events
            ingest["persisted_per_s"] = messages / (done_at - r.started)
            ingest["drain_s"] = done_at - r.finished
            ingest["server_cpu_ms_per_msg"] = cpu * 1000 / max(1, messages)
            phases.append(ingest)

            # 3. fixed offered load, open loop, one process (200/s needs no more)
            before, _ = await watcher.counts()
            spec = {
                **base,
                "mode": "open",
                "rate": args.rate,
                "connections": max(args.connections, 64),
                "factory": IngestRequests(
                    ids["inbox_public_id"], ids["inbound_secret"], "paced", args.contacts, 99
                ),
            }
            cpu0 = server.cpu_seconds()
            r = await loop.run_in_executor(None, run_load, pool, [spec])
            done_at, messages, events = await watcher.wait_for(before + r.ok, args.drain_timeout)
            paced = summarise(
                f"ingest at {args.rate:.0f}/s (open loop)", r, args.duration, server.cpu_seconds() - cpu0
            )
            paced["persisted"] = messages - before
            paced["drain_s"] = done_at - r.finished
            lag = await watcher.lag_ms("paced")
            paced["stored_lag_p50_ms"] = percentile(lag, 50)
            paced["stored_lag_p99_ms"] = percentile(lag, 99)
            phases.append(paced)
    finally:
        await watcher.close()
        server.stop()
        if args.database_url and not args.keep:
            await harness.drop_pg_database(args.database_url, pg_name)
    if not args.no_ack_only:
        phases.append(await acknowledge_only(args, master_key))

    ratio = ingest["persisted_per_s"] / health["ack_per_s"]
    ack_only = next((p for p in phases if p["phase"].startswith("acknowledge only")), None)
    rss_mb = server.peak_rss / 2**20
    verdicts = {
        "ratio": {"value": ratio, "target": f">= {TARGET_RATIO:.0%}", "met": ratio >= TARGET_RATIO},
        "p99_ack_ms_at_rate": {
            "value": paced["p99_ms"],
            "target": f"< {TARGET_P99_MS:.0f} ms",
            "met": paced["p99_ms"] < TARGET_P99_MS and not paced["errors"],
        },
        "peak_rss_mb": {
            "value": rss_mb,
            "target": f"< {TARGET_RSS_MB:.0f} MB",
            "met": rss_mb < TARGET_RSS_MB,
        },
    }
    table = render_table(
        [
            "phase",
            "ok",
            "errors",
            "acked/s",
            "persisted/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "server CPU ms/msg",
        ],
        [
            [
                p["phase"],
                p["ok"],
                sum(p["errors"].values()),
                p["ack_per_s"],
                p.get("persisted_per_s", "-"),
                p["p50_ms"],
                p["p99_ms"],
                p["max_ms"],
                p.get("server_cpu_ms_per_msg", "-"),
            ]
            for p in phases
        ],
    )
    targets = render_table(
        ["target", "measured", "wanted", "met"],
        [
            [
                "ingest persisted/s ÷ health/s",
                f"{ratio:.1%}",
                verdicts["ratio"]["target"],
                verdicts["ratio"]["met"],
            ],
            [
                f"p99 ack at {args.rate:.0f}/s",
                f"{paced['p99_ms']:.1f} ms",
                verdicts["p99_ack_ms_at_rate"]["target"],
                verdicts["p99_ack_ms_at_rate"]["met"],
            ],
            [
                "server peak RSS",
                f"{rss_mb:.0f} MB",
                verdicts["peak_rss_mb"]["target"],
                verdicts["peak_rss_mb"]["met"],
            ],
        ],
    )
    extra = (
        f"ingest-max: {ingest['persisted']} messages and {ingest['events']} message.created events persisted, "
        f"backlog drained {ingest['drain_s']:.1f} s after the load stopped.\n"
        f"ingest-{args.rate:.0f}: receipt-to-stored lag p50 {paced['stored_lag_p50_ms']:.1f} ms, "
        f"p99 {paced['stored_lag_p99_ms']:.1f} ms; drained {paced['drain_s']:.1f} s after the load stopped."
    )
    if ack_only is not None:
        extra += (
            f"\nacknowledge only (serve --no-worker, nothing processed): {ack_only['ack_per_s']:,.1f}/s = "
            f"{ack_only['ack_per_s'] / health['ack_per_s']:.1%} of health: the most phase 2 could reach "
            "with processing for free."
        )
    if args.profile:
        own, total = harness.top_frames(harness.OUT / "ingest-profile.txt", 40)
        extra += "\n\nserver profile during ingest-max (py-spy, share of samples):\n" + render_table(
            ["function (self)", "%"], [[k, v] for k, v in own[:12]]
        )
        extra += "\n\n" + render_table(
            ["relaydesk function (total)", "%"], [[k, v] for k, v in total if "relaydesk/" in k][:15]
        )
    text = f"backend: {backend}, {args.duration:.0f} s per phase, {args.procs} load process(es)\n\n{table}\n\n{targets}\n\n{extra}"
    print(text)
    name = args.name or f"ingest-{backend}"
    path = harness.write_report(
        name,
        {
            "backend": backend,
            "machine": harness.machine_info(),
            "args": vars(args),
            "phases": phases,
            "targets": verdicts,
        },
        text,
    )
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
