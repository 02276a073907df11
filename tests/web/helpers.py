"""Browserless helpers for the web tests: log in through the real form, read CSRF tokens from pages."""

from __future__ import annotations

import re

import httpx

META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
FORM_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def page_csrf(html: str) -> str:
    found = META_CSRF.search(html)
    assert found, "page has no csrf meta tag"
    return found.group(1)


async def login(client: httpx.AsyncClient, email: str, password: str, **extra: str) -> httpx.Response:
    form_page = await client.get("/login")
    found = FORM_CSRF.search(form_page.text)
    # Already signed in: /login redirects, and the form token is the pre-login cookie from before.
    token = found.group(1) if found else client.cookies.get("rd_prelogin", "")
    return await client.post(
        "/login", data={"csrf_token": token, "email": email, "password": password, **extra}
    )


def session_cookie(client: httpx.AsyncClient) -> str | None:
    return client.cookies.get("rd_session")


async def csrf_of(client: httpx.AsyncClient, path: str = "/account/security") -> str:
    resp = await client.get(path)
    assert resp.status_code == 200, resp.text
    return page_csrf(resp.text)


def cheap_argon2(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Real argon2id with small parameters: the web tests hash and verify dozens of passwords, and the
    production profile (64 MiB, t=3) costs ~1 s each on a loaded CI machine. tests/auth covers the real
    profile; test_login.py checks that a hash made with other parameters is upgraded at login."""
    from argon2 import PasswordHasher

    from relaydesk.auth import passwords

    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", fast)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", fast.hash("relaydesk-dummy-password-for-timing"))
