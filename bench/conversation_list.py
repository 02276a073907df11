"""The agent's conversation list, the thread and message search over a big workspace.

    .venv/bin/python bench/conversation_list.py                 # SQLite, 100,000 conversations / 1,000,000 messages
    .venv/bin/python bench/conversation_list.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

The data set is generated once and cached (bench/out/convlist-<size>.db plus a .json with its ids and
master key; on PostgreSQL a database named relaydesk_bench_convlist_<size>); `--rebuild` starts over.

How the data is written: rows go in with SQLAlchemy Core `insert()` executemany in big batches, straight
into contacts, conversations (with `last_message_id` and `unread_count`), messages, labels and the blind
search-token table (digests made by the workspace's real `BlindIndex`, so `search_messages` works). Sealing
a million messages one by one through privacy/storage/ would take far longer than the benchmark, so the
bulk rows carry no personal data (NULL content/PII: same row and index sizes minus the ciphertext), and the
newest `--real` conversations (every page the benchmark reads) get their contact PII and last message
written through `storage.write_contact` / `storage.write_message_content`, so the timed pages decrypt real
ciphertext exactly as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import random
import time
import uuid
from typing import Any

import sqlalchemy as sa

import harness
from harness import percentile, render_table

TARGET_LIST_P95_MS = 30.0
TARGET_SEARCH_P95_MS = 200.0
BATCH = 20_000


def _vocabulary(n: int, rng: random.Random) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "va", "zu", "be", "fo", "gi", "ha"]
    words: set[str] = {"order", "refund", "delivery", "invoice", "password"}
    out = ["order", "refund", "delivery", "invoice", "password"]
    while len(out) < n:
        w = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if w not in words:
            words.add(w)
            out.append(w)
    return out


# --- generation ----------------------------------------------------------------------------------------


async def generate(
    url: str, master_key: str, conversations: int, messages: int, real: int, seed: int
) -> dict[str, Any]:
    from relaydesk.actions.inboxes import create_inbox
    from relaydesk.actions.people import issue_api_token
    from relaydesk.actions.workspaces import add_member, create_user, create_workspace
    from relaydesk.config import load_settings
    from relaydesk.db.ids import uuid7
    from relaydesk.models import Contact, Conversation, ConversationLabel, Label, Message, SearchToken
    from relaydesk.privacy import storage
    from relaydesk.runtime import build_runtime
    from relaydesk.search import index as search_index

    rng = random.Random(seed)
    await harness.prepare_schema(url)
    runtime = build_runtime(load_settings(environ={}, database_url=url, master_key=master_key))
    t_start = time.perf_counter()
    try:
        async with runtime.db.write() as session:
            ws = await create_workspace(session, "Big", f"big-{uuid.uuid4().hex[:6]}")
            agents = []
            for i in range(10):
                user = await create_user(session, f"agent{i}-{ws.slug}@example.com", f"Agent {i}", None)
                await add_member(session, ws.id, user.id, "agent")
                agents.append(user.id)
            _, token = await issue_api_token(session, ws.id, agents[0], "bench")
            inboxes = [
                (await create_inbox(session, ws.id, name=f"API {i}", channel_type="api", settings={})).id
                for i in range(3)
            ]
            index = await storage.index_for(session, ws.id)
        label_ids = [uuid7() for _ in range(10)]
        # label i is on about 1/(2+i) of conversations: label 0 common (~50%), label 9 rare (~9%)
        label_share = [1 / (2 + i) for i in range(10)]
        vocab = _vocabulary(5000, rng)
        weights = list(
            itertools.accumulate(1 / (r + 1) for r in range(len(vocab)))
        )  # cumulative: O(log n) draws
        base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        per_conv = max(1, messages // conversations)
        ws_id = ws.id
        async with runtime.db.write_engine.begin() as conn:
            await conn.execute(
                sa.insert(Label),
                [
                    {
                        "id": lid,
                        "workspace_id": ws_id,
                        "name": f"label-{i}",
                        "color": "#6b7280",
                        "description": "",
                    }
                    for i, lid in enumerate(label_ids)
                ],
            )
        written = 0
        for start in range(0, conversations, BATCH // per_conv or 1):
            stop = min(conversations, start + max(1, BATCH // per_conv))
            contacts_rows, conv_rows, msg_rows, token_rows, link_rows = [], [], [], [], []
            for n in range(start, stop):
                contact_id, conv_id = uuid7(), uuid7()
                created = base + dt.timedelta(seconds=n * 60)
                contacts_rows.append(
                    {"id": contact_id, "workspace_id": ws_id, "created_at": created, "updated_at": created}
                )
                inbox = inboxes[n % len(inboxes)]
                count = per_conv if n < conversations - 1 else messages - per_conv * (conversations - 1)
                last_id, at = None, created
                for k in range(count):
                    mid = uuid7()
                    at = created + dt.timedelta(seconds=k * 5)
                    incoming = k % 2 == 0
                    msg_rows.append(
                        {
                            "id": mid,
                            "workspace_id": ws_id,
                            "conversation_id": conv_id,
                            "inbox_id": inbox,
                            "message_type": "incoming" if incoming else "outgoing",
                            "sender_kind": "customer" if incoming else "agent",
                            "sender_contact_id": contact_id if incoming else None,
                            "sender_user_id": None if incoming else agents[n % len(agents)],
                            "content": None,
                            "content_attributes": {},
                            "status": "delivered" if incoming else "sent",
                            "provider_message_id": f"p{written}" if incoming else None,
                            "created_at": at,
                        }
                    )
                    written += 1
                    if n < conversations - real or k < count - 1:
                        words = " ".join(rng.choices(vocab, cum_weights=weights, k=5))
                        token_rows += [
                            {
                                "workspace_id": ws_id,
                                "kind": search_index.MESSAGE,
                                "token": d,
                                "subject_id": mid,
                            }
                            for d in index.document_tokens(words)
                        ]
                    last_id = mid
                r = rng.random()
                status = (
                    "open" if r < 0.3 else "pending" if r < 0.35 else "snoozed" if r < 0.4 else "resolved"
                )
                a = rng.random()
                assignee = None if a < 0.2 else agents[rng.randrange(len(agents))]
                conv_rows.append(
                    {
                        "id": conv_id,
                        "workspace_id": ws_id,
                        "display_number": n + 1,
                        "inbox_id": inbox,
                        "contact_id": contact_id,
                        "status": status,
                        "priority": "none",
                        "assignee_id": assignee,
                        "custom_attributes": {},
                        "last_activity_at": at,
                        "last_incoming_at": at,
                        # resolving clears waiting_since (actions/conversations.py), so only the others wait
                        "waiting_since": at if status != "resolved" and rng.random() < 0.5 else None,
                        "last_message_id": last_id,
                        "unread_count": rng.randrange(4),
                        "created_at": created,
                        "updated_at": at,
                    }
                )
                for lid, share in zip(label_ids, label_share, strict=True):
                    if rng.random() < share:
                        link_rows.append({"workspace_id": ws_id, "conversation_id": conv_id, "label_id": lid})
            async with runtime.db.write_engine.begin() as conn:
                await conn.execute(sa.insert(Contact), contacts_rows)
                await conn.execute(sa.insert(Conversation), conv_rows)
                for i in range(0, len(msg_rows), BATCH):
                    await conn.execute(sa.insert(Message), msg_rows[i : i + BATCH])
                for i in range(0, len(token_rows), BATCH * 4):
                    await conn.execute(sa.insert(SearchToken), token_rows[i : i + BATCH * 4])
                if link_rows:
                    await conn.execute(sa.insert(ConversationLabel), link_rows)
            print(
                f"  {stop:>8,} conversations, {written:>9,} messages  ({time.perf_counter() - t_start:.0f} s)",
                flush=True,
            )
        # Statistics first: without them SQLite plans `unindex_subject` (run by write_contact) on the
        # search_tokens primary key's workspace prefix, a scan of every token of the workspace.
        await analyze(runtime)
        real_written = await _write_real(runtime, ws_id, real, rng, vocab, weights)
    finally:
        await runtime.stop()
    return {
        "workspace_id": str(ws_id),
        "me": str(agents[0]),
        "token": token,
        "label_common": str(label_ids[0]),
        "label_rare": str(label_ids[9]),
        "words": {"common": vocab[0], "medium": vocab[50], "rare": vocab[4000]},
        "real_conversations": real_written,
        "generate_seconds": time.perf_counter() - t_start,
    }


async def analyze(runtime: Any) -> None:
    if runtime.db.is_sqlite:
        async with runtime.db.write_engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")
        return
    async with runtime.db.write_engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("contacts", "conversations", "messages", "search_tokens", "conversation_labels"):
            await conn.exec_driver_sql(f"VACUUM ANALYZE {table}")


async def _write_real(
    runtime: Any, ws_id: uuid.UUID, real: int, rng: random.Random, vocab: list[str], weights: list[float]
) -> int:
    """Seal the newest conversations' contact PII and last message through privacy/storage/."""
    from relaydesk.models import Conversation

    async with runtime.db.read() as session:
        rows = (
            await session.execute(
                sa.select(Conversation.contact_id, Conversation.last_message_id, Conversation.workspace_id)
                .where(Conversation.workspace_id == ws_id)
                .order_by(Conversation.last_activity_at.desc())
                .limit(real)
            )
        ).all()
    return await _seal(runtime, [tuple(r) for r in rows], rng, vocab, weights)


async def _seal(
    runtime: Any, rows: list[tuple[Any, ...]], rng: random.Random, vocab: list[str], weights: list[float]
) -> int:
    """Write contact PII and last-message content through privacy/storage/ for (contact id, message
    id, workspace id) rows."""
    from relaydesk.models import Contact, Message
    from relaydesk.privacy import storage
    from relaydesk.search import index as search_index

    done = 0
    try:
        for i in range(0, len(rows), 500):
            chunk = rows[i : i + 500]
            async with runtime.db.write() as session:
                contacts = (
                    await session.execute(sa.select(Contact).where(Contact.id.in_([c for c, _, _ in chunk])))
                ).scalars()
                for contact in contacts:
                    await storage.write_contact(
                        session,
                        contact,
                        name=f"Customer {contact.id.hex[:6]}",
                        email=f"c{contact.id.hex[:8]}@example.com",
                    )
                # Bulk messages already carry search tokens for their generated words: replace them.
                await search_index.unindex_subjects(session, chunk[0][2], [m for _, m, _ in chunk])
                msgs = (
                    await session.execute(sa.select(Message).where(Message.id.in_([m for _, m, _ in chunk])))
                ).scalars()
                for msg in msgs:
                    await storage.write_message_content(
                        session, msg, " ".join(rng.choices(vocab, cum_weights=weights, k=12))
                    )
            done += len(chunk)
    except Exception as exc:  # the storage layer is evolving; the bulk data stays usable without it
        print(f"  writing real PII/content through privacy/storage/ failed after {done}: {exc!r}")
    return done


async def seal_view_pages(url: str, master_key: str, meta: dict[str, Any], seed: int) -> int:
    """Seal the rows of every timed page that the newest-first sealing missed (the first pages of
    sort=waiting are the longest-waiting conversations, page 51 is older still), so every timed page
    decrypts real ciphertext. Returns how many conversations were sealed."""
    from relaydesk.config import load_settings
    from relaydesk.models import Contact, Conversation
    from relaydesk.queries.conversations import ConversationFilter, list_conversations
    from relaydesk.runtime import build_runtime

    runtime = build_runtime(load_settings(environ={}, database_url=url, master_key=master_key))
    ws, me = uuid.UUID(meta["workspace_id"]), uuid.UUID(meta["me"])
    ids: set[uuid.UUID] = set()
    try:
        async with runtime.db.read() as session:
            for f in list_views(meta).values():
                cursor = None
                for _ in range(2):
                    items, cursor = await list_conversations(session, ws, me, f, cursor=cursor, limit=20)
                    ids |= {uuid.UUID(item["id"]) for item in items}
            cursor = None
            for n in range(51):
                items, cursor = await list_conversations(
                    session, ws, me, ConversationFilter(), cursor=cursor, limit=20
                )
                if n >= 49:
                    ids |= {uuid.UUID(item["id"]) for item in items}
            rows = (
                await session.execute(
                    sa.select(
                        Conversation.contact_id, Conversation.last_message_id, Conversation.workspace_id
                    )
                    .join(Contact, Contact.id == Conversation.contact_id)
                    .where(Conversation.id.in_(ids), Contact.name.is_(None))
                )
            ).all()
        rng = random.Random(seed)
        vocab = _vocabulary(5000, rng)
        weights = list(itertools.accumulate(1 / (r + 1) for r in range(len(vocab))))
        sealed = await _seal(runtime, [tuple(r) for r in rows], rng, vocab, weights)
        if sealed < len(rows):
            raise RuntimeError(f"sealed {sealed} of the {len(rows)} conversations of the timed pages")
        return sealed
    finally:
        await runtime.stop()


async def sync_indexes(url: str) -> list[str]:
    """Bring a cached data set in line with today's models: missing tables and columns are added and
    indexes rebuilt where they differ (an index change is what one benchmarks most often), then Alembic
    is stamped at head so the server's start-up upgrade has nothing to do (the data set was built from
    the models, which lead the migrations during development). Returns what changed."""
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    import relaydesk.models  # noqa: F401  (registers every table)
    from relaydesk.db.base import Base
    from relaydesk.db.migrate import alembic_config

    engine = create_async_engine(url)
    changed: list[str] = []

    def _sync(sync_conn: Any) -> None:
        inspector = sa.inspect(sync_conn)
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                table.create(sync_conn)
                changed.append(f"table {table.name}")
                continue
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    ddl = sa.schema.CreateColumn(column).compile(dialect=sync_conn.dialect)
                    sync_conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN {ddl}')
                    changed.append(f"column {table.name}.{column.name}")
            existing = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes(table.name)}
            for index in table.indexes:
                wanted = [c.name for c in index.columns]
                if not wanted or existing.get(index.name) == wanted:
                    continue
                if index.name in existing:
                    sync_conn.exec_driver_sql(f'DROP INDEX "{index.name}"')
                index.create(sync_conn)
                changed.append(f"{index.name}({', '.join(wanted)})")
        if changed:
            sync_conn.exec_driver_sql("ANALYZE")
        cfg = alembic_config(url)
        cfg.attributes["connection"] = sync_conn
        command.stamp(cfg, "head")

    try:
        async with engine.begin() as conn:
            await conn.run_sync(_sync)
    finally:
        await engine.dispose()
    return changed


# --- measuring -----------------------------------------------------------------------------------------


async def timed(fn: Any, runs: int) -> list[float]:
    await fn()  # warm caches and compiled statements once
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def timed_rounds(fns: dict[str, Any], runs: int) -> dict[str, list[float]]:
    """Like `timed` for several functions, interleaved: run i of every function, then run i + 1."""
    for fn in fns.values():
        await fn()
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            await fn()
            out[name].append((time.perf_counter() - t0) * 1000)
    return out


def list_views(meta: dict[str, Any]) -> dict[str, Any]:
    """The inbox views the benchmark times (every filter and sort the inbox page offers)."""
    from relaydesk.queries.conversations import ConversationFilter

    return {
        "all open": ConversationFilter(),
        "mine (open)": ConversationFilter(assignee="me"),
        "unassigned (open)": ConversationFilter(assignee="unassigned"),
        "label, common (open)": ConversationFilter(label_id=uuid.UUID(meta["label_common"])),
        "label, rare (open)": ConversationFilter(label_id=uuid.UUID(meta["label_rare"])),
        "all statuses": ConversationFilter(status="all"),
        "mine, all statuses": ConversationFilter(status="all", assignee="me"),
        "open, sort=waiting": ConversationFilter(sort="waiting"),
        "mine (open), sort=waiting": ConversationFilter(assignee="me", sort="waiting"),
        "all statuses, sort=waiting": ConversationFilter(status="all", sort="waiting"),
        "open, sort=created": ConversationFilter(sort="created"),
    }


async def measure_queries(url: str, master_key: str, meta: dict[str, Any], runs: int) -> list[dict[str, Any]]:
    from relaydesk.config import load_settings
    from relaydesk.privacy import storage
    from relaydesk.queries.conversations import ConversationFilter, list_conversations
    from relaydesk.queries.messages import list_messages
    from relaydesk.runtime import build_runtime

    runtime = build_runtime(load_settings(environ={}, database_url=url, master_key=master_key))
    ws, me = uuid.UUID(meta["workspace_id"]), uuid.UUID(meta["me"])
    views = list_views(meta)
    results = []
    try:
        pages = {}
        for name, f in views.items():

            async def page(f: ConversationFilter = f, name: str = name) -> Any:
                async with runtime.db.read() as session:
                    items, _ = await list_conversations(session, ws, me, f, cursor=None, limit=20)
                    assert len(items) == 20, name
                    return items

            pages[f"list: {name}"] = page
        # Round-robin: on a shared machine the background load drifts over a run, and timing the views
        # one after the other would hand each a different share of it.
        for what, ms in (await timed_rounds(pages, runs)).items():
            results.append({"what": what, "via": "query", "ms": ms})
        async with runtime.db.read() as session:
            first, cursor = await list_conversations(
                session, ws, me, ConversationFilter(), cursor=None, limit=20
            )
            for _ in range(49):  # page 50 of "all open"
                first, cursor = await list_conversations(
                    session, ws, me, ConversationFilter(), cursor=cursor, limit=20
                )

        async def deep_page() -> None:
            async with runtime.db.read() as session:
                await list_conversations(session, ws, me, ConversationFilter(), cursor=cursor, limit=20)

        results.append(
            {"what": "list: all open, page 51", "via": "query", "ms": await timed(deep_page, runs)}
        )
        conv_ids = [uuid.UUID(c["id"]) for c in first]

        async def thread() -> None:
            async with runtime.db.read() as session:
                await list_messages(session, ws, random.choice(conv_ids), cursor=None, limit=50)

        results.append(
            {"what": "thread: 50 newest messages", "via": "query", "ms": await timed(thread, runs)}
        )
        if meta.get("skip_search"):
            return results
        words = meta["words"]
        queries = {f"search: one {kind} word": word for kind, word in words.items()}
        queries["search: two words (common+medium)"] = f"{words['common']} {words['medium']}"
        queries["search: two words (common+rare)"] = f"{words['common']} {words['rare']}"
        searches = {}
        for what, query in queries.items():

            async def search(query: str = query) -> None:
                async with runtime.db.read() as session:
                    await storage.search_messages(session, ws, query, before=None, limit=20)

            searches[what] = search
        for what, ms in (await timed_rounds(searches, runs)).items():
            results.append({"what": what, "via": "query", "ms": ms})
    finally:
        await runtime.stop()
    return results


async def explain(url: str, master_key: str, meta: dict[str, Any]) -> str:
    """The plan of every statement each view and search runs: EXPLAIN QUERY PLAN on SQLite, EXPLAIN
    (ANALYZE, BUFFERS) on PostgreSQL. Statements are captured as the real code sends them."""
    from sqlalchemy import event

    from relaydesk.config import load_settings
    from relaydesk.privacy import storage
    from relaydesk.queries.conversations import list_conversations
    from relaydesk.runtime import build_runtime

    runtime = build_runtime(load_settings(environ={}, database_url=url, master_key=master_key))
    ws, me = uuid.UUID(meta["workspace_id"]), uuid.UUID(meta["me"])
    captured: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    calls: dict[str, Any] = {}
    for name, f in list_views(meta).items():

        async def page(session: Any, f: Any = f) -> None:
            await list_conversations(session, ws, me, f, cursor=None, limit=20)

        calls[f"list: {name}"] = page
    words = [
        *meta["words"].values(),
        f"{meta['words']['common']} {meta['words']['medium']}",
        f"{meta['words']['common']} {meta['words']['rare']}",
    ]
    for word in words:

        async def search(session: Any, word: str = word) -> None:
            await storage.search_messages(session, ws, word, before=None, limit=20)

        calls[f"search: {word}"] = search
    prefix = "EXPLAIN QUERY PLAN " if runtime.db.is_sqlite else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
    out: list[str] = []
    engine = runtime.db.read_engine.sync_engine
    try:
        for name, call in calls.items():
            async with runtime.db.read() as session:
                captured.clear()
                event.listen(engine, "before_cursor_execute", record)
                try:
                    await call(session)
                finally:
                    event.remove(engine, "before_cursor_execute", record)
                statements = list(captured)
                out.append(f"## {name}")
                for statement, params in statements:
                    conn = await session.connection()
                    rows = (await conn.exec_driver_sql(prefix + statement, params)).all()
                    plan = [str(r[-1]) for r in rows]
                    out.append("    " + " ".join(statement.split())[:160] + " ...")
                    out += [f"      {line}" for line in plan]
    finally:
        await runtime.stop()
    return "\n".join(out)


async def measure_http(
    url: str, master_key: str, meta: dict[str, Any], runs: int
) -> tuple[list[dict[str, Any]], float]:
    server = harness.ServerProcess(url, master_key, extra_env={"RELAYDESK_INPROCESS_WORKER": "false"}).start()
    results = []
    try:
        conn = await harness.RawConnection("127.0.0.1", server.port).open()
        headers = {"Authorization": f"Bearer {meta['token']}"}
        queries = {
            "all open": "",
            "mine (open)": "&assignee=me",
            "unassigned (open)": "&assignee=unassigned",
            "label, common (open)": f"&label_id={meta['label_common']}",
            "open, sort=waiting": "&sort=waiting",
            "all statuses": "&status=all",
        }
        calls = {}
        for name, q in queries.items():
            path = f"/api/v1/conversations?limit=20{q}"

            async def call(path: str = path) -> None:
                status, body = await conn.request("GET", path, headers=headers)
                if status != 200:
                    raise RuntimeError(f"{path}: {status} {body[:300]!r}")

            calls[f"list: {name}"] = call
        for what, ms in (await timed_rounds(calls, runs)).items():
            results.append({"what": what, "via": "HTTP", "ms": ms})
        await conn.close()
    finally:
        server.stop()
    return results, server.peak_rss / 2**20


async def run(args: argparse.Namespace) -> None:
    from relaydesk.server.keys import generate_master_key

    size = f"{args.conversations}x{args.messages}"
    backend = "postgresql" if args.database_url else "sqlite"
    meta_path = harness.OUT / f"convlist-{backend}-{size}.json"
    harness.OUT.mkdir(parents=True, exist_ok=True)
    pg_name = f"relaydesk_bench_convlist_{size}"
    if args.database_url:
        url = args.database_url.rsplit("/", 1)[0] + "/" + pg_name
        cached = meta_path.exists() and await harness.pg_database_exists(args.database_url, pg_name)
    else:
        db_file = harness.OUT / f"convlist-{size}.db"
        url = f"sqlite+aiosqlite:///{db_file}"
        cached = meta_path.exists() and db_file.exists()
    if args.rebuild or not cached:
        print(f"generating {args.conversations:,} conversations / {args.messages:,} messages ({backend}) ...")
        if args.database_url:
            await harness.create_pg_database(args.database_url, pg_name)
        else:
            for suffix in ("", "-wal", "-shm"):
                harness.OUT.joinpath(f"convlist-{size}.db{suffix}").unlink(missing_ok=True)
        master_key = generate_master_key()
        # Saved before generating: an interrupted run leaves a data set that can still be opened.
        meta_path.with_suffix(".key").write_text(master_key)
        meta = await generate(url, master_key, args.conversations, args.messages, args.real, args.seed)
        meta["master_key"] = master_key
        meta_path.write_text(json.dumps(meta, indent=2))
        print(f"generated in {meta['generate_seconds']:.0f} s")
    meta = json.loads(meta_path.read_text())
    rebuilt = await sync_indexes(url)
    if rebuilt:
        print("data set brought in line with the models: " + ", ".join(rebuilt))
    if not meta.get("view_pages_sealed"):
        sealed = await seal_view_pages(url, meta["master_key"], meta, args.seed)
        meta["view_pages_sealed"] = True
        meta["real_conversations"] = meta.get("real_conversations", 0) + sealed
        meta_path.write_text(json.dumps(meta, indent=2))
        print(f"sealed the {sealed} conversations of timed pages the newest-first sealing missed")
    if args.explain:
        print(await explain(url, meta["master_key"], meta))
        return
    results = await measure_queries(url, meta["master_key"], meta, args.runs)
    http, rss = await measure_http(url, meta["master_key"], meta, args.runs)
    results += http
    rows = []
    for r in results:
        p95 = percentile(r["ms"], 95)
        target = (
            TARGET_SEARCH_P95_MS
            if r["what"].startswith("search: one")
            else TARGET_LIST_P95_MS
            if r["what"].startswith("list")
            else None
        )
        r.update(
            runs=len(r["ms"]),
            p50_ms=percentile(r["ms"], 50),
            p95_ms=p95,
            target_ms=target,
            met=None if target is None else p95 < target,
        )
        rows.append(
            [
                r["what"],
                r["via"],
                r["runs"],
                r["p50_ms"],
                r["p95_ms"],
                "-" if target is None else f"< {target:.0f}",
                "-" if target is None else r["met"],
            ]
        )
    table = render_table(["what", "via", "runs", "p50 ms", "p95 ms", "target p95", "met"], rows)
    text = (
        f"backend: {backend}, {args.conversations:,} conversations / {args.messages:,} messages, "
        f"{meta.get('real_conversations', 0):,} conversations (the newest and every timed page) sealed "
        "through privacy/storage/; "
        f"server RSS during the HTTP runs {rss:.0f} MB\n\n{table}"
    )
    print(text)
    for r in results:
        r.pop("ms")
    path = harness.write_report(
        f"conversation_list-{backend}",
        {
            "backend": backend,
            "machine": harness.machine_info(),
            "args": vars(args),
            "data": {k: v for k, v in meta.items() if k not in ("master_key", "token")},
            "results": results,
        },
        text,
    )
    print(f"\nwritten {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL base URL (the data set gets its own database)")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--real", type=int, default=2_000, help="newest conversations sealed for real")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per measurement (default 200)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the cached data set")
    parser.add_argument(
        "--explain", action="store_true", help="print each statement's plan instead of timing"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
