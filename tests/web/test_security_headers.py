"""Security headers on every answer, the framework's own included; one charset; Retry-After on 429;
`Secure` on the pre-login cookie when the deployment runs with secure cookies."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from litestar import get

from relaydesk.errors import Throttled
from relaydesk.server.app import create_app
from tests.web.helpers import login

HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options")


@get("/test-only/boom", include_in_schema=False, sync_to_thread=False)
def boom() -> None:
    raise RuntimeError("an unexpected failure")


@get("/test-only/throttled", include_in_schema=False, sync_to_thread=False)
def throttled() -> None:
    raise Throttled.after(41.5)


@pytest.fixture
async def app_client(runtime):  # type: ignore[no-untyped-def]
    """The real app, plus two routes that fail on purpose (a 500 and a throttled domain error)."""
    app = create_app(runtime=runtime, manage_runtime=False)
    app.register(boom)
    app.register(throttled)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        yield client


def assert_secured(resp: httpx.Response) -> None:
    for name in HEADERS:
        assert name in resp.headers, (
            f"{resp.request.method} {resp.request.url.path} ({resp.status_code}) lacks {name}"
        )
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert "unsafe-inline" not in resp.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no/such/page", 404),
        ("GET", "/api/v1/no-such-resource", 404),
        ("GET", "/api/v1/me", 401),
        ("DELETE", "/login", 405),
        ("GET", "/test-only/boom", 500),
        ("GET", "/static/app.css", 200),
        ("GET", "/health", 200),
        ("GET", "/login", 200),
    ],
)
async def test_every_answer_carries_the_security_headers(app_client, method, path, status):
    resp = await app_client.request(method, path)
    assert resp.status_code == status, resp.text[:200]
    assert_secured(resp)
    if status >= 400 and path.startswith(("/api/", "/test-only/")):
        assert set(resp.json()) == {"error"}


async def test_an_authenticated_404_and_405_on_the_api_are_secured_too(app_client, make_workspace):
    ws = await make_workspace()
    missing = await app_client.get("/api/v1/no-such-resource", headers=ws.admin.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert_secured(missing)
    wrong_method = await app_client.request("PATCH", "/api/v1/me", headers=ws.admin.headers)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert_secured(wrong_method)


async def test_html_says_its_charset_once(app_client):
    resp = await app_client.get("/login")
    assert resp.headers["content-type"] == "text/html; charset=utf-8"


async def test_a_throttled_api_answer_says_when_to_retry(app_client):
    resp = await app_client.get("/test-only/throttled")
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "42"
    assert resp.json()["error"]["code"] == "throttled"
    assert_secured(resp)


async def test_a_throttled_login_says_when_to_retry(client, make_workspace):
    ws = await make_workspace()
    for _ in range(3):
        assert (await login(client, ws.agent.email, "wrong password here")).status_code == 401
    blocked = await login(client, ws.agent.email, ws.agent.password)
    assert blocked.status_code == 429
    wait = int(blocked.headers["retry-after"])
    assert 1 <= wait <= 900 and f"Try again in {wait} seconds" in blocked.text


async def test_prelogin_cookie_is_secure_in_secure_mode(runtime, client):
    plain = await client.get("/login")
    assert "rd_prelogin=" in plain.headers["set-cookie"] and "Secure" not in plain.headers["set-cookie"]
    secure = dataclasses.replace(runtime, settings=runtime.settings.replace(secure_cookies=True))
    app = create_app(runtime=secure, manage_runtime=False)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40001))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver.local") as https:
        resp = await https.get("/login")
    cookie = resp.headers["set-cookie"]
    assert "rd_prelogin=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
