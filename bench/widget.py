"""The website chat widget: how much a site's visitors download, and how fast a visitor's message reaches the
agent's open conversation, measured in the browser.

    .venv/bin/python bench/widget.py                  # 100 messages
    .venv/bin/python bench/widget.py --messages 300
    .venv/bin/python bench/widget.py --no-ai          # the demo's offline AI switched off for the widget inbox

- Size: the widget's code a visitor can download, each file gzipped (level 9) as a server or CDN would send
  it: the loader script every page loads (as served for the demo inbox), and the chat frame's script,
  stylesheet and page, loaded only when the visitor opens the chat. Target: the scripts < 50 KB gzipped.
- Latency: `relaydesk demo` in a subprocess (SQLite, in-process dispatcher, its demo website on another
  port: another origin), real Chromium (Playwright) with two contexts: the visitor on the demo website with
  the chat open, and an agent in the inbox with the visitor's conversation open. For each message the
  visitor's page takes `performance.timeOrigin + performance.now()` just before it sends; a
  MutationObserver in the agent's page takes the same clock when the message's text appears in the thread.
  Both pages run in one browser on one machine, so the two clocks are the same clock. Messages are sent one
  at a time, each after the previous one appeared. Target p95 < 200 ms on loopback.
- Same-run comparison (skip with `--no-reverse`): as many agent replies, timed from the agent's Enter in the
  composer until the visitor's chat shows them. The same server, bus, database and browser under the same
  load, so the ratio of the two directions is steadier than either figure on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import harness
from harness import percentile, render_table

ROOT = Path(__file__).resolve().parents[1]
WIDGET = ROOT / "src" / "relaydesk" / "channels" / "widget"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TARGET_SCRIPTS_GZ_KB = 50.0
TARGET_P95_MS = 200.0


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 9))


def sizes(loader: bytes) -> list[tuple[str, int, int]]:
    files = [
        ("loader.js (every page)", loader),
        ("frame.js (on open)", (WIDGET / "static" / "frame.js").read_bytes()),
        ("frame.css (on open)", (WIDGET / "static" / "frame.css").read_bytes()),
        ("frame.html (on open)", (WIDGET / "templates" / "frame.html").read_bytes()),
    ]
    return [(name, len(data), gz(data)) for name, data in files]


def start_demo(tmp: str, port: int, site_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RELAYDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/demo.db",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
        "RELAYDESK_LOG_LEVEL": "WARNING",
        # One synthetic visitor sends as fast as the agent sees it: far beyond a person's rate limit.
        "RELAYDESK_WIDGET_MESSAGES_PER_MINUTE": "100000",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "relaydesk", "demo", "--port", str(port), "--site-port", str(site_port)],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the demo exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


async def measure(
    base: str, site: str, email: str, password: str, count: int, ai: bool, reverse: bool = True
) -> tuple[list[float], list[float]]:
    from playwright.async_api import async_playwright, expect

    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
    ]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=args)
        visitor = await (await browser.new_context(viewport={"width": 1100, "height": 760})).new_page()
        await visitor.goto(site)
        await visitor.wait_for_function("window.Relaydesk && window.Relaydesk.version === 1")
        await visitor.evaluate("Relaydesk.open()")
        frame = None
        while frame is None:
            frame = next((f for f in visitor.frames if "/frame?host=" in f.url), None)
            await visitor.wait_for_timeout(20)
        await frame.wait_for_load_state()
        await frame.get_by_label("Your name").fill("Bench Visitor")
        await frame.locator("#consent").check()
        await frame.locator("#adult").check()
        await frame.locator("#text").fill("bench: hello")
        await frame.locator("#text").press("Enter")
        await expect(frame.locator("#messages li.visitor:not(.sending)")).to_have_count(1, timeout=20_000)

        agent = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
        await agent.goto(base + "/login")
        await agent.get_by_label("E-mail").fill(email)
        await agent.get_by_label("Password").fill(password)
        await agent.get_by_role("button", name="Log in").click()
        await agent.wait_for_url(base + "/inbox")
        await expect(agent.locator("#live-status")).to_have_text("● Live", timeout=20_000)
        if not ai:
            # The AI off for the widget inbox: what the widget and the inbox cost without the AI's jobs.
            status = await agent.evaluate(
                """async () => {
                  const csrf = document.querySelector('meta[name="csrf-token"]').content;
                  const inboxes = await (await fetch('/api/v1/inboxes')).json();
                  const widget = inboxes.items.find((i) => i.channel_type === 'widget');
                  const r = await fetch(`/api/v1/ai/inboxes/${widget.id}/settings`, {
                    method: 'PUT',
                    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                    body: JSON.stringify({settings: {enabled: false}}),
                  });
                  return r.status;
                }"""
            )
            assert status == 200, status
        await agent.locator("#conv-list li.conv a", has_text="Bench Visitor").click()
        await expect(agent.locator("#messages")).to_contain_text("bench: hello", timeout=20_000)
        await agent.evaluate(
            """() => {
              window.__seen = {};
              new MutationObserver(() => {
                const now = performance.timeOrigin + performance.now();
                for (const m of document.querySelectorAll('#messages')) {
                  for (const hit of m.textContent.matchAll(/bench-(\\d+)-mark/g)) {
                    if (!(hit[1] in window.__seen)) window.__seen[hit[1]] = now;
                  }
                }
              }).observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
            }"""
        )
        latencies = []
        for n in range(count):
            sent = await frame.evaluate(
                """(n) => {
                  document.getElementById('text').value = `bench-${n}-mark`;
                  const at = performance.timeOrigin + performance.now();
                  send();
                  return at;
                }""",
                n,
            )
            await agent.wait_for_function("(n) => n in window.__seen", arg=str(n), timeout=20_000)
            seen = await agent.evaluate("(n) => window.__seen[n]", str(n))
            latencies.append(seen - sent)
        # The same stack in reverse, in the same run: an agent's reply (composer, Enter) until the visitor's
        # chat shows it. Same server, bus, database and browser, so under the same load: the ratio says what
        # the visitor's direction costs beyond the machine's noise.
        await frame.evaluate(
            """() => {
              window.__seen = {};
              new MutationObserver(() => {
                const now = performance.timeOrigin + performance.now();
                for (const hit of document.getElementById('messages').textContent.matchAll(/reply-(\\d+)-mark/g)) {
                  if (!(hit[1] in window.__seen)) window.__seen[hit[1]] = now;
                }
              }).observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
            }"""
        )
        replies = []
        composer = agent.locator("#composer-text")
        for n in range(count if reverse else 0):
            await composer.fill(f"reply-{n}-mark")
            sent = await agent.evaluate(
                """() => {
                  const at = performance.timeOrigin + performance.now();
                  document.getElementById('composer-text').dispatchEvent(
                    new KeyboardEvent('keydown', {key: 'Enter', bubbles: true, cancelable: true}));
                  return at;
                }"""
            )
            await frame.wait_for_function("(n) => n in window.__seen", arg=str(n), timeout=20_000)
            replies.append(await frame.evaluate("(n) => window.__seen[n]", str(n)) - sent)
        await browser.close()
    return latencies, replies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument(
        "--no-ai", action="store_true", help="switch the demo's AI off for the widget inbox before measuring"
    )
    parser.add_argument(
        "--no-reverse", action="store_true", help="skip the agent -> visitor run (the same-run comparison)"
    )
    args = parser.parse_args()
    port, site_port = harness.free_port(), harness.free_port()
    with tempfile.TemporaryDirectory(prefix="relaydesk-bench-widget-") as tmp:
        demo = start_demo(tmp, port, site_port)
        try:
            base, site = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{site_port}/"
            wait_for(base + "/health", demo)
            wait_for(site, demo)
            page = httpx.get(site).text
            loader_url = page.split('<script src="', 1)[1].split('"', 1)[0]
            loader = httpx.get(loader_url).content
            email, password = (Path(tmp) / ".relaydesk" / "demo-login.txt").read_text().split("\n")[:2]
            latencies, replies = asyncio.run(
                measure(base, site, email, password, args.messages, not args.no_ai, not args.no_reverse)
            )
        finally:
            demo.terminate()
            try:
                demo.wait(timeout=20)
            except subprocess.TimeoutExpired:
                demo.kill()

    size_rows = sizes(loader)
    scripts_gz = sum(g for name, _, g in size_rows if name.split(" ")[0].endswith(".js")) / 1024
    size_table = render_table(
        ["file", "bytes", "gzipped bytes"], [[name, raw, g] for name, raw, g in size_rows]
    )
    p50, p95, worst = percentile(latencies, 50), percentile(latencies, 95), max(latencies)
    rows = [
        [
            "visitor -> agent",
            len(latencies),
            "no" if args.no_ai else "yes (demo)",
            p50,
            p95,
            worst,
            TARGET_P95_MS,
        ]
    ]
    if replies:
        rows.append(
            [
                "agent -> visitor (same run)",
                len(replies),
                "no" if args.no_ai else "yes (demo)",
                percentile(replies, 50),
                percentile(replies, 95),
                max(replies),
                "",
            ]
        )
    latency_table = render_table(
        ["direction", "messages", "AI on the inbox", "p50 ms", "p95 ms", "max ms", "target p95 ms"], rows
    )
    if replies:
        latency_table += (
            f"\n\nvisitor -> agent over agent -> visitor, same run: p50 {p50 / percentile(replies, 50):.2f}, "
            f"p95 {p95 / percentile(replies, 95):.2f}"
        )
    verdict = (
        f"scripts gzipped: {scripts_gz:.1f} KB (target < {TARGET_SCRIPTS_GZ_KB:.0f} KB: "
        f"{'met' if scripts_gz < TARGET_SCRIPTS_GZ_KB else 'MISSED'}); "
        f"visitor -> agent p95 {p95:.1f} ms (target < {TARGET_P95_MS:.0f} ms: "
        f"{'met' if p95 < TARGET_P95_MS else 'MISSED'})"
    )
    text = f"## Widget size\n\n{size_table}\n\n## Visitor message to the agent's open conversation\n\n{latency_table}\n\n{verdict}"
    print(text)
    data: dict[str, Any] = {
        "machine": harness.machine_info(),
        "sizes": [{"file": n, "bytes": r, "gzipped": g} for n, r, g in size_rows],
        "scripts_gzipped_kb": round(scripts_gz, 2),
        "latencies_ms": [round(v, 2) for v in latencies],
        "p50_ms": p50,
        "p95_ms": p95,
        "reverse_latencies_ms": [round(v, 2) for v in replies],
        "ai": not args.no_ai,
    }
    print(f"\nwritten: {harness.write_report('widget', data, text)}")


if __name__ == "__main__":
    main()
