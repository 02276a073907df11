"""What encryption at rest costs the ingest path: the same closed-loop ingest with AES-256-GCM on and off.

    .venv/bin/python bench/encryption_cost.py [--rounds 2] [--duration 10]

Each round starts two fresh servers one after the other on fresh SQLite files, same load: `relaydesk
serve` as shipped (encryption on), and `bench/plaintext_serve.py` (the cipher replaced by the same framing
without encryption; the product itself has no such switch). The order alternates between rounds so drift
in the machine's load hits both sides alike; the report gives every round and the ratio of the medians of
persisted messages per second. Target (issue 4): encrypted >= 85 % of plaintext.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import uuid
from pathlib import Path
from typing import Any

import harness
from harness import render_table
from ingest import IngestRequests, Watcher, run_load, setup, summarise
from plaintext_serve import plaintext

TARGET = 0.85


async def one_run(label: str, args: argparse.Namespace, pool: Any) -> dict[str, Any]:
    from relaydesk.server.keys import generate_master_key

    master_key = generate_master_key()
    url = f"sqlite+aiosqlite:///{harness.OUT / f'enc-{label}-{uuid.uuid4().hex[:8]}.db'}"
    command = None
    if label == "plaintext":
        command = [sys.executable, str(Path(__file__).with_name("plaintext_serve.py"))]
        with plaintext():
            ids = await setup(url, master_key)
    else:
        ids = await setup(url, master_key)
    server = harness.ServerProcess(url, master_key, command=command).start()
    watcher = Watcher(url, ids["workspace_id"])
    try:
        spec = {
            "port": server.port,
            "duration": args.duration,
            "connections": args.connections,
            "mode": "closed",
            "factory": IngestRequests(ids["inbox_public_id"], ids["inbound_secret"], label, args.contacts, 7),
        }
        cpu0 = server.cpu_seconds()
        loop = asyncio.get_running_loop()
        r = await loop.run_in_executor(None, run_load, pool, [spec])
        done_at, messages, _events = await watcher.wait_for(r.ok, args.drain_timeout)
        result = summarise(label, r, args.duration, server.cpu_seconds() - cpu0)
        result["persisted"] = messages
        result["persisted_per_s"] = messages / (done_at - r.started)
        result["server_cpu_ms_per_msg"] = (server.cpu_seconds() - cpu0) * 1000 / max(1, messages)
        return result
    finally:
        await watcher.close()
        server.stop()


async def run(args: argparse.Namespace) -> None:
    harness.OUT.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    with mp.get_context("spawn").Pool(1) as pool:
        for i in range(args.rounds):
            order = ("encrypted", "plaintext") if i % 2 == 0 else ("plaintext", "encrypted")
            for label in order:
                runs.append({"round": i + 1, **await one_run(label, args, pool)})
    rate = {
        label: statistics.median(r["persisted_per_s"] for r in runs if r["phase"] == label)
        for label in ("encrypted", "plaintext")
    }
    ratio = rate["encrypted"] / rate["plaintext"]
    table = render_table(
        ["round", "server", "persisted/s", "p50 ack ms", "p99 ack ms", "server CPU ms/msg"],
        [
            [
                r["round"],
                r["phase"],
                r["persisted_per_s"],
                r["p50_ms"],
                r["p99_ms"],
                r["server_cpu_ms_per_msg"],
            ]
            for r in runs
        ],
    )
    text = (
        f"SQLite, closed loop, {args.connections} connections, {args.duration:.0f} s per run, "
        f"{args.rounds} round(s)\n\n{table}\n\n"
        f"median persisted/s: encrypted {rate['encrypted']:.1f}, plaintext {rate['plaintext']:.1f}; "
        f"ratio **{ratio:.1%}** (target >= {TARGET:.0%}, {'met' if ratio >= TARGET else 'missed'})"
    )
    print(text)
    path = harness.write_report(
        "encryption_cost",
        {"machine": harness.machine_info(), "args": vars(args), "runs": runs, "ratio": ratio},
        text,
    )
    print(f"\nwritten {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
