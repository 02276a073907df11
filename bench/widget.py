"""The website chat widget: what a visitor downloads before their first message, and how fast a visitor's
message reaches the agent's open conversation, measured in the browser.

    .venv/bin/python bench/widget.py                     # fresh SQLite, 200 messages each way
    .venv/bin/python bench/widget.py --messages 500
    .venv/bin/python bench/widget.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

The server is `relaydesk serve` in a subprocess (in-process dispatcher, as the demo runs it) on a fresh
database; the widget's host site is the channel's own loopback fake (`channels/widget/fake.py: HostSite`)
on another port, i.e. another origin, as a customer's website is. Chromium (Debian's, driven by Playwright)
runs two contexts: a visitor on the host page and an agent signed in to the inbox with the conversation open.

- Size: every response from Relaydesk's origin the visitor's page loads from opening the host page until
  the first message is sent, except the visitor API and the socket (documents, scripts, styles: the
  loader, the frame, its script and styles), each gzipped at level 6 (what a reverse proxy typically
  sends) and summed. Target < 50 KB.
- Visitor -> agent: the clock starts in the chat frame just before it submits the message
  (`performance.timeOrigin + performance.now()`) and stops in the agent's page when a MutationObserver sees
  the message's element in the open thread. Both are the same machine's wall clock at sub-millisecond
  resolution. One message at a time, `--messages` of them. Target p95 < 200 ms.
- Agent -> visitor, the same way in the other direction (the agent presses Enter in the composer; the
  frame's list shows it): the same stack in reverse, for comparison in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import tempfile
import uuid
from pathlib import Path
from typing import Any

import harness
from harness import percentile, render_table

TARGET_SIZE_KB = 50.0
TARGET_P95_MS = 200.0
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1100, "height": 760}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

# Installed in the agent's page: the wall-clock time each `bench-<n>` message appeared in the thread.
WATCH_AGENT = """() => {
  window.__seen = {};
  const list = document.getElementById("messages");
  new MutationObserver(() => {
    const now = performance.timeOrigin + performance.now();
    for (const el of list.children) {
      const m = /bench-(\\d+)/.exec(el.textContent || "");
      if (m && !(m[1] in window.__seen)) window.__seen[m[1]] = now;
    }
  }).observe(list, { childList: true, subtree: true, characterData: true });
}"""
WATCH_VISITOR = WATCH_AGENT.replace("bench-", "reply-")
SEND_FROM_FRAME = """(n) => {
  document.getElementById("text").value = "bench-" + n;
  const t0 = performance.timeOrigin + performance.now();
  document.getElementById("composer").requestSubmit();
  return t0;
}"""


async def prepare(url: str, master_key: str, host_origin: str) -> dict[str, Any]:
    """A workspace with an agent, a widget inbox that allows the host site, and the agent's session."""
    from relaydesk.actions.inboxes import create_inbox
    from relaydesk.actions.workspaces import add_member, create_user, create_workspace
    from relaydesk.auth.sessions import start_session
    from relaydesk.config import load_settings
    from relaydesk.runtime import build_runtime

    settings = load_settings(environ={}, database_url=url, master_key=master_key)
    runtime = build_runtime(settings)
    await runtime.start(with_dispatcher=False)
    try:
        async with runtime.db.write() as session:
            ws = await create_workspace(session, "Bench", f"bench-{uuid.uuid4().hex[:6]}")
            user = await create_user(session, "agent@bench.example", "Agent", "bench password 1234 long")
            await add_member(session, ws.id, user.id, "agent")
            inbox = await create_inbox(
                session,
                ws.id,
                name="Website",
                channel_type="widget",
                settings={"allowed_origins": [host_origin]},
            )
            cookie = await start_session(
                session, settings, user.id, ws.id, ip="127.0.0.1", user_agent="bench"
            )
        return {"public_id": inbox.public_id, "cookie": cookie}
    finally:
        await runtime.stop()


async def open_chat(page: Any) -> Any:
    """Click the launcher where a person would (it lives in a closed shadow root) and wait for the frame."""
    await page.mouse.click(VIEWPORT["width"] - 48, VIEWPORT["height"] - 48)
    for _ in range(200):
        frame = next((f for f in page.frames if "/frame?host=" in f.url), None)
        if frame is not None:
            await frame.wait_for_load_state()
            return frame
        await page.wait_for_timeout(50)
    raise RuntimeError("the chat frame did not open")


async def measure(server_url: str, host_url: str, cookie: str, count: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            visitor_ctx = await browser.new_context(viewport=VIEWPORT)
            page = await visitor_ctx.new_page()
            downloads: list[Any] = []

            def keep(response: Any) -> None:
                request = response.request
                if response.url.startswith(server_url) and request.resource_type in (
                    "document",
                    "script",
                    "stylesheet",
                    "font",
                    "image",
                ):
                    downloads.append(response)

            page.on("response", keep)
            await page.goto(host_url + "/")
            await page.wait_for_function("window.Relaydesk && window.Relaydesk.version === 1")
            frame = await open_chat(page)
            await frame.locator("#prechat input[name=name]").fill("Bench Visitor")
            await frame.locator("#consent").check()
            if await frame.locator("#adult").is_visible():
                await frame.locator("#adult").check()
            assets = []
            for response in downloads:
                body = await response.body()
                assets.append(
                    {
                        "url": response.url.replace(server_url, ""),
                        "bytes": len(body),
                        "gzip": len(gzip.compress(body, compresslevel=6)),
                    }
                )
            page.remove_listener("response", keep)
            await frame.locator("#text").fill("bench-start")
            await frame.locator("#text").press("Enter")
            await frame.locator("#messages li.visitor").first.wait_for()

            agent_ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
            host = server_url.split("//", 1)[1].split(":")[0]
            await agent_ctx.add_cookies(
                [{"name": "rd_session", "value": cookie, "domain": host, "path": "/"}]
            )
            agent = await agent_ctx.new_page()
            await agent.goto(server_url + "/inbox")
            await agent.locator("#conv-list li.conv a").first.click()
            await agent.locator("#messages").get_by_text("bench-start").wait_for()
            await agent.evaluate(WATCH_AGENT)
            await frame.evaluate(WATCH_VISITOR)

            to_agent: list[float] = []
            for n in range(count):
                t0 = await frame.evaluate(SEND_FROM_FRAME, n)
                handle = await agent.wait_for_function("(n) => window.__seen[n]", arg=n, timeout=10_000)
                to_agent.append(float(await handle.json_value()) - t0)
                await asyncio.sleep(0.02)
            to_visitor: list[float] = []
            composer = agent.locator("#composer-text")
            for n in range(count):
                await composer.fill(f"reply-{n}")
                t0 = await agent.evaluate(
                    "() => { const t = performance.timeOrigin + performance.now();"
                    " document.getElementById('composer-text').dispatchEvent(new KeyboardEvent('keydown',"
                    " {key: 'Enter', bubbles: true, cancelable: true})); return t; }"
                )
                handle = await frame.wait_for_function("(n) => window.__seen[n]", arg=n, timeout=10_000)
                to_visitor.append(float(await handle.json_value()) - t0)
                await asyncio.sleep(0.02)
        finally:
            await browser.close()
    return {"assets": assets, "to_agent_ms": to_agent, "to_visitor_ms": to_visitor}


async def run(args: argparse.Namespace) -> None:
    from relaydesk.channels.loopback import Loopback
    from relaydesk.channels.widget.fake import HostSite
    from relaydesk.server.keys import generate_master_key

    master_key = generate_master_key()
    if args.database_url:
        name = f"relaydesk_bench_widget_{uuid.uuid4().hex[:8]}"
        url = await harness.create_pg_database(args.database_url, name)
    else:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='relaydesk-bench-widget-')) / 'bench.db'}"
    await harness.prepare_schema(url)
    server = harness.ServerProcess(url, master_key)
    site = HostSite(server.base_url, "")
    host = Loopback(site)
    host_port = await host.start()
    host_url = f"http://127.0.0.1:{host_port}"
    try:
        prepared = await prepare(url, master_key, host_url)
        site.public_id = prepared["public_id"]
        server.start()
        try:
            result = await measure(server.base_url, host_url, prepared["cookie"], args.messages)
        finally:
            server.stop()
    finally:
        await host.stop()
        if args.database_url:
            await harness.drop_pg_database(args.database_url, name)

    assets = result["assets"]
    total_gzip = sum(a["gzip"] for a in assets) / 1024
    size_rows = [[a["url"].split("?")[0], a["bytes"], a["gzip"]] for a in assets]
    size_rows.append(["total", sum(a["bytes"] for a in assets), sum(a["gzip"] for a in assets)])
    rows = []
    for what, values in (
        ("visitor -> agent's open conversation", result["to_agent_ms"]),
        ("agent -> visitor's chat (same stack, reverse)", result["to_visitor_ms"]),
    ):
        p50, p95 = percentile(values, 50), percentile(values, 95)
        rows.append(
            [
                what,
                len(values),
                f"{p50:.1f}",
                f"{p95:.1f}",
                f"{max(values):.1f}",
                f"< {TARGET_P95_MS:.0f}",
                p95 < TARGET_P95_MS,
            ]
        )
    ratio = percentile(result["to_agent_ms"], 50) / statistics.median(result["to_visitor_ms"])
    backend = "postgresql" if args.database_url else "sqlite"
    text = (
        f"backend: {backend}; Chromium {CHROMIUM}; server RSS peak {server.peak_rss / 2**20:.0f} MB\n\n"
        "Downloaded from Relaydesk before the first message:\n\n"
        + render_table(["asset", "bytes", "gzip -6 bytes"], size_rows)
        + f"\n\nwidget total gzipped: {total_gzip:.1f} KB (target < {TARGET_SIZE_KB:.0f} KB: "
        f"{'met' if total_gzip < TARGET_SIZE_KB else 'NOT met'})\n\n"
        + render_table(
            ["what (browser clock)", "messages", "p50 ms", "p95 ms", "max ms", "target p95", "met"], rows
        )
        + f"\n\nvisitor->agent / agent->visitor median ratio: {ratio:.2f}"
    )
    print(text)
    harness.write_report(
        f"widget-{backend}",
        {**result, "backend": backend, "total_gzip_kb": total_gzip, "machine": harness.machine_info()},
        text,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL base URL (a fresh database is made and dropped)")
    parser.add_argument("--messages", type=int, default=200, help="timed messages in each direction")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
