"""Raw copies of the test database, as an attacker or a backup would hold them: the SQLite file (with its
WAL) or a `pg_dump` of the PostgreSQL database, plus a reader for rows in such a copy."""

from __future__ import annotations

import asyncio
import binascii
import shutil
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from relaydesk.runtime import Runtime


@dataclass
class DbCopy:
    backend: str
    path: Path

    def raw_bytes(self) -> bytes:
        """Everything the copy holds, byte for byte (SQLite: main file + WAL; PostgreSQL: the dump text)."""
        return b"".join(p.read_bytes() for p in sorted(self.path.parent.glob(self.path.name + "*")))

    def rows(self, table: str, columns: list[str]) -> list[dict[str, object]]:
        """Rows of one table in the copy (binary columns as bytes, ids as canonical strings)."""
        if self.backend == "sqlite":
            return _sqlite_rows(self.path, table, columns)
        return _dump_rows(self.path.read_text(), table, columns)


async def take_copy(runtime: Runtime) -> DbCopy:
    url = make_url(runtime.settings.database_url)
    target = Path(tempfile.mkdtemp(prefix="relaydesk-copy-"))
    if url.get_backend_name() == "sqlite":
        assert url.database
        source = Path(url.database)
        for suffix in ("", "-wal"):
            if Path(str(source) + suffix).exists():
                shutil.copyfile(str(source) + suffix, target / ("copy.db" + suffix))
        return DbCopy("sqlite", target / "copy.db")
    dump = target / "dump.sql"
    proc = await asyncio.create_subprocess_exec(
        "pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--no-owner", "-f", str(dump), str(url.database)
    )
    assert await asyncio.wait_for(proc.wait(), 120) == 0, "pg_dump failed"
    return DbCopy("postgresql", dump)


def _sqlite_rows(path: Path, table: str, columns: list[str]) -> list[dict[str, object]]:
    conn = sqlite3.connect(path)
    try:
        cur = conn.execute(f'SELECT {", ".join(columns)} FROM "{table}"')
        out = []
        for row in cur.fetchall():
            item: dict[str, object] = {}
            for name, value in zip(columns, row, strict=True):
                if isinstance(value, str) and len(value) == 32 and name.endswith("id"):
                    value = str(uuid.UUID(hex=value))
                item[name] = value
            out.append(item)
        return out
    finally:
        conn.close()


def _dump_rows(text: str, table: str, columns: list[str]) -> list[dict[str, object]]:
    """Parse the `COPY public.<table> (...) FROM stdin;` block of a plain-text dump."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"COPY public.{table} ("))
    header = lines[start][lines[start].index("(") + 1 : lines[start].index(")")]
    names = [n.strip().strip('"') for n in header.split(",")]
    out = []
    for line in lines[start + 1 :]:
        if line == "\\.":
            break
        fields = line.split("\t")
        item: dict[str, object] = {}
        for name in columns:
            value: object = fields[names.index(name)]
            if value == "\\N":
                value = None
            elif isinstance(value, str) and value.startswith("\\\\x"):
                value = binascii.unhexlify(value[3:])
            item[name] = value
        out.append(item)
    return out
