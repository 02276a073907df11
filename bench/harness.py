"""Shared pieces of the benchmarks: databases, a real server subprocess, a fast HTTP load client, reports.

Benchmarks are scripts (`.venv/bin/python bench/<name>.py`), so this module is imported as `harness`;
a script in a sub-folder (bench/ai/) adds `Path(__file__).parents[1]` to `sys.path` first.

Why a hand-written HTTP/1.1 client: on a 2-core machine the load generator competes with the server for
CPU, and httpx spends several times more CPU per request than the server's trivial endpoint does, so it
would measure itself. The raw client below costs a few microseconds per request (keep-alive, one write,
Content-Length framing), which keeps the ceiling a property of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
OUT = BENCH_DIR / "out"
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


# --- numbers and reports -------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values, so an empty phase cannot look fast."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table, so the same text goes to the terminal and into README.md."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import sqlite3

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        # Other work on the machine skews every latency: the reports carry the load they ran under.
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def write_report(name: str, data: dict[str, Any], text: str) -> Path:
    """Write `bench/out/<name>.json` (machine-readable) and `.md` (the tables); return the JSON path."""
    OUT.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]), **data}
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    (OUT / f"{name}.md").write_text(text + "\n")
    return path


# --- databases -----------------------------------------------------------------------------------------


async def create_pg_database(base_url: str, name: str) -> str:
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = create_async_engine(base_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        await admin.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name


async def drop_pg_database(base_url: str, name: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = create_async_engine(base_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


async def pg_database_exists(base_url: str, name: str) -> bool:
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = create_async_engine(base_url.rsplit("/", 1)[0] + "/postgres")
    try:
        async with admin.connect() as conn:
            found = await conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = $1", (name,))
            return found.first() is not None
    finally:
        await admin.dispose()


async def prepare_schema(url: str) -> None:
    """Build the schema from the models and stamp Alembic at head.

    Models lead the migration history during development (the history is regenerated from them), so a
    benchmark that ran `relaydesk migrate` could measure an outdated schema. Stamping makes the server's
    start-up `upgrade` a no-op on the model-built schema.
    """
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    from relaydesk.db.migrate import alembic_config
    from relaydesk.db.schema import create_schema

    await create_schema(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:

            def _stamp(sync_conn: Any) -> None:
                cfg = alembic_config(url)
                cfg.attributes["connection"] = sync_conn
                command.stamp(cfg, "head")

            await conn.run_sync(_stamp)
    finally:
        await engine.dispose()


# --- the server under test -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """`relaydesk serve` in a subprocess, exactly as an operator starts it, with its RSS sampled."""

    database_url: str
    master_key: str
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    # What to run instead of `python -m relaydesk.cli.main serve` (e.g. a bench-only wrapper script).
    command: list[str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    peak_rss: int = 0
    _stop_sampling: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None
    log_path: Path = field(default_factory=lambda: OUT / "server.log")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        OUT.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "RELAYDESK_DATABASE_URL": self.database_url,
            "RELAYDESK_MASTER_KEY": self.master_key,
            "RELAYDESK_HOST": "127.0.0.1",
            "RELAYDESK_PORT": str(self.port),
            "RELAYDESK_LOG_LEVEL": "warning",
            **self.extra_env,
        }
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.command or [sys.executable, "-m", "relaydesk.cli.main", "serve"],
            cwd=OUT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    break
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"server did not answer /health within {timeout}s")
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        assert self.proc is not None
        ps = psutil.Process(self.proc.pid)
        while not self._stop_sampling.is_set():
            with contextlib.suppress(psutil.Error):
                rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
                self.peak_rss = max(self.peak_rss, rss)
            self._stop_sampling.wait(0.05)

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self._stop_sampling.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- a small, fast HTTP/1.1 client ---------------------------------------------------------------------


class HttpError(RuntimeError):
    pass


class RawConnection:
    """One keep-alive HTTP/1.1 connection: one request at a time, Content-Length framed responses."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> RawConnection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        raw_head = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw_head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
            elif name.strip().lower() == b"transfer-encoding":
                raise HttpError("chunked responses are not supported by the bench client")
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.writer = None


@contextlib.asynccontextmanager
async def connection_pool(host: str, port: int, size: int) -> AsyncIterator[asyncio.Queue[RawConnection]]:
    pool: asyncio.Queue[RawConnection] = asyncio.Queue()
    conns = [await RawConnection(host, port).open() for _ in range(size)]
    for c in conns:
        pool.put_nowait(c)
    try:
        yield pool
    finally:
        for c in conns:
            await c.close()


def new_id() -> str:
    return uuid.uuid4().hex


# --- load generation (run in separate processes) -------------------------------------------------------


@dataclass
class LoadResult:
    ok: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    offered: int = 0

    def merge(self, other: LoadResult) -> LoadResult:
        errors = dict(self.errors)
        for k, v in other.errors.items():
            errors[k] = errors.get(k, 0) + v
        return LoadResult(
            ok=self.ok + other.ok,
            errors=errors,
            latencies_ms=self.latencies_ms + other.latencies_ms,
            started=min(x for x in (self.started, other.started) if x) if self.started else other.started,
            finished=max(self.finished, other.finished),
            offered=self.offered + other.offered,
        )


async def closed_loop(
    host: str, port: int, make_request: Any, *, duration: float, connections: int, start_at: float
) -> LoadResult:
    """Each connection sends its next request as soon as the previous answer arrives, for `duration`.

    Measures the most the server can do (throughput); its latencies are not what users see at a given
    load, which is what `open_loop` is for. `make_request(n)` returns (method, path, body, headers).
    """
    result = LoadResult()
    counter = iter(range(10**12))
    async with connection_pool(host, port, connections) as pool:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        result.started = time.time()
        end = time.monotonic() + duration

        async def worker() -> None:
            conn = await pool.get()
            while time.monotonic() < end:
                method, path, body, headers = make_request(next(counter))
                t0 = time.perf_counter()
                status, _ = await conn.request(method, path, body, headers)
                if time.monotonic() > end:
                    break  # answered after the window: not counted
                result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                if 200 <= status < 300:
                    result.ok += 1
                else:
                    result.errors[status] = result.errors.get(status, 0) + 1
            pool.put_nowait(conn)

        await asyncio.gather(*(worker() for _ in range(connections)))
        result.finished = time.time()
    result.offered = result.ok + sum(result.errors.values())
    return result


async def open_loop(
    host: str,
    port: int,
    make_request: Any,
    *,
    rate: float,
    duration: float,
    connections: int,
    start_at: float,
) -> LoadResult:
    """Send at a fixed rate whatever the server does, and time each answer from its *scheduled* send.

    Timing from the schedule (not from when a connection was free) avoids coordinated omission: a stall
    shows up in the latencies of every request that should have gone out during it.
    """
    result = LoadResult()
    total = int(rate * duration)
    async with connection_pool(host, port, connections) as pool:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        result.started = time.time()
        t0 = time.perf_counter()

        async def one(n: int, due: float) -> None:
            conn = await pool.get()
            try:
                method, path, body, headers = make_request(n)
                status, _ = await conn.request(method, path, body, headers)
            finally:
                pool.put_nowait(conn)
            result.latencies_ms.append((time.perf_counter() - due) * 1000)
            if 200 <= status < 300:
                result.ok += 1
            else:
                result.errors[status] = result.errors.get(status, 0) + 1

        tasks = []
        for n in range(total):
            due = t0 + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, due)))
        await asyncio.gather(*tasks)
        result.finished = time.time()
    result.offered = total
    return result


class PySpy:
    """Sample a running process with py-spy (`pip install py-spy`) into collapsed stacks.

    `top_frames` turns the stacks into "self time" and "total time" per function, which is what the
    README's profile-based reasons quote.
    """

    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        self.pid, self.out, self.rate = pid, out, rate
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PySpy:
        exe = Path(sys.executable).with_name("py-spy")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "record",
                "-p",
                str(self.pid),
                "-r",
                str(self.rate),
                "--gil",
                "--format",
                "raw",
                "-o",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def top_frames(
    collapsed: Path, n: int = 25, *, contains: str = ""
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(self%, total%) per frame from py-spy's collapsed output; `contains` filters frame names."""
    self_counts: dict[str, int] = {}
    total_counts: dict[str, int] = {}
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        leaf = frames[-1]
        self_counts[leaf] = self_counts.get(leaf, 0) + count
        for frame in set(frames):
            total_counts[frame] = total_counts.get(frame, 0) + count

    def top(d: dict[str, int]) -> list[tuple[str, float]]:
        items = [(k, v * 100 / max(1, samples)) for k, v in d.items() if contains in k]
        return sorted(items, key=lambda kv: -kv[1])[:n]

    return top(self_counts), top(total_counts)
