"""Take the README's screenshots from a freshly seeded demo, so anyone can reproduce them.

Starts `python -m relaydesk demo` on a free loopback port with a new SQLite database in a temporary folder
(the demo's login file is written there too), waits for /health, then logs in as the demo's admin in a real
Chromium (Playwright; `CHROMIUM` overrides /usr/bin/chromium) and saves each page into docs/screenshots/
(or `--out DIR`). The demo's inbox has the offline AI on, so the assistant panel shows real suggestions.
Last, a visitor writes through the chat widget on the demo website (another port: another origin), an agent
answers from the inbox, and the website with the open widget is saved as widget.png.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the demo server exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the demo server did not answer {url} within {timeout:.0f} s")


async def _capture(base: str, site: str, email: str, password: str, out: Path) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
        await page.goto(base + "/login")
        await page.screenshot(path=str(out / "login.png"))
        await page.get_by_label("E-mail").fill(email)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(base + "/inbox")
        await expect(page.locator("#live-status")).to_have_text("● Live", timeout=20_000)
        await page.screenshot(path=str(out / "inbox.png"))

        await page.locator("#conv-list li.conv a", has_text="Maria Garcia").click()
        await expect(page.locator("#thread")).to_contain_text("Checking with the carrier", timeout=20_000)
        await page.screenshot(path=str(out / "conversation.png"))

        await page.locator("#conv-list li.conv a", has_text="Aiko Tanaka").click()
        await expect(page.locator("#ai-replies li.suggestion").first).to_be_visible(timeout=120_000)
        await page.screenshot(path=str(out / "ai-assist.png"))

        for name, path in (("admin-inboxes", "/admin/inboxes"), ("admin-knowledge", "/admin/knowledge")):
            await page.goto(base + path)
            await page.screenshot(path=str(out / f"{name}.png"))

        # The chat widget on the demo website (its own origin), answered from the inbox.
        site_page = await (await browser.new_context(viewport={"width": 1100, "height": 760})).new_page()
        await site_page.goto(site)
        await site_page.wait_for_function("window.Relaydesk && window.Relaydesk.version === 1")
        await site_page.mouse.click(1100 - 48, 760 - 48)
        await site_page.wait_for_function("document.querySelector('[data-relaydesk]')")
        frame = None
        while frame is None:
            frame = next((f for f in site_page.frames if "/frame?host=" in f.url), None)
            await site_page.wait_for_timeout(50)
        await frame.wait_for_load_state()
        await frame.get_by_label("Your name").fill("Noah Becker")
        await frame.locator("#consent").check()
        await frame.locator("#adult").check()
        await frame.locator("#text").fill("Hi! Can I still change the delivery address of order #1107?")
        await frame.locator("#text").press("Enter")
        await page.goto(base + "/inbox")
        await page.locator("#conv-list li.conv a", has_text="Noah Becker").click()
        await page.locator("#composer-text").fill("Yes, it has not shipped yet. Which address should we use?")
        await page.locator("#composer-text").press("Enter")
        await expect(frame.locator("#messages li.agent")).to_contain_text("has not shipped", timeout=20_000)
        await site_page.screenshot(path=str(out / "widget.png"))
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port, site_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="relaydesk-screenshots-") as tmp:
        env = {
            **os.environ,
            "RELAYDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/demo.db",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
        }
        server = subprocess.Popen(  # noqa: S603 (a fixed argument list, no shell)
            [sys.executable, "-m", "relaydesk", "demo", "--port", str(port), "--site-port", str(site_port)],
            cwd=tmp,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(base + "/health", server)
            email, password = (Path(tmp) / ".relaydesk" / "demo-login.txt").read_text().split("\n")[:2]
            site = f"http://127.0.0.1:{site_port}/"
            asyncio.run(_capture(base, site, email, password, args.out))
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    print(f"screenshots written to {args.out}")


if __name__ == "__main__":
    main()
