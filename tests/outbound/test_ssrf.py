"""Outbound requests reach public addresses; private ones only where the operator allows them for the
request's purpose (webhooks, channels, ai); link-local and metadata addresses never.

The guard lives in the connect step of the HTTP client (outbound/ssrf.py): it resolves the host itself,
checks every address, and dials the checked IP, so there is no window between "validate" and "connect"
for DNS rebinding, and a redirect hop would be checked again (redirects are not followed anyway).
"""

from __future__ import annotations

import asyncio
import socket

import httpcore
import httpx
import pytest

from relaydesk.channels.api.fake import ScriptedReceiver
from relaydesk.channels.api.tests.support import (
    agent_reply,
    drain,
    job_for,
    message_json,
    run_once,
    start_conversation,
)
from relaydesk.config import ConfigError, load_settings
from relaydesk.outbound import ssrf
from relaydesk.outbound.ssrf import (
    FORBIDDEN,
    PRIVATE,
    PUBLIC,
    PURPOSES,
    GuardedTransport,
    OutboundHttp,
    classify,
    guarded_client,
    is_public_address,
)
from tests.ai_platform.fake_openai import FakeOpenAI


@pytest.fixture
async def receiver():
    rec = await ScriptedReceiver().start()
    yield rec
    await rec.stop()


@pytest.fixture
def dialled(monkeypatch) -> list[str]:
    """Every address the guarded client really dials (a spy around the real connect)."""
    calls: list[str] = []
    real = httpcore.AnyIOBackend.connect_tcp

    async def spy(self, host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(host)
        return await real(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", spy)
    return calls


@pytest.mark.parametrize(
    ("address", "verdict"),
    [
        ("127.0.0.1", PRIVATE),
        ("127.8.9.10", PRIVATE),
        ("::1", PRIVATE),
        ("10.0.0.1", PRIVATE),
        ("172.16.5.4", PRIVATE),
        ("192.168.1.1", PRIVATE),
        ("100.64.0.1", PRIVATE),  # carrier-grade NAT
        ("fc00::1", PRIVATE),
        ("fd12:3456::1", PRIVATE),  # unique-local
        # Link-local and cloud metadata: never, whatever the operator allows.
        ("169.254.169.254", FORBIDDEN),
        ("169.254.0.1", FORBIDDEN),
        ("100.100.100.200", FORBIDDEN),  # Alibaba Cloud metadata, inside 100.64/10
        ("fd00:ec2::254", FORBIDDEN),  # AWS metadata over IPv6, inside fc00::/7
        ("fe80::1", FORBIDDEN),
        ("fe80::1%lo", FORBIDDEN),  # with a zone, as getaddrinfo may return it
        ("0.0.0.0", FORBIDDEN),
        ("0.1.2.3", FORBIDDEN),
        ("::", FORBIDDEN),
        ("224.0.0.1", FORBIDDEN),
        ("ff02::1", FORBIDDEN),
        ("255.255.255.255", FORBIDDEN),
        # IPv6 forms carrying an IPv4 address are judged by that address too.
        ("::ffff:127.0.0.1", PRIVATE),  # IPv4-mapped
        ("::ffff:169.254.169.254", FORBIDDEN),
        ("::ffff:93.184.216.34", PUBLIC),
        ("::127.0.0.1", PRIVATE),  # IPv4-compatible (deprecated)
        ("::169.254.169.254", FORBIDDEN),
        ("64:ff9b::7f00:1", PRIVATE),  # NAT64 well-known prefix -> 127.0.0.1
        ("64:ff9b::a9fe:a9fe", FORBIDDEN),  # NAT64 -> 169.254.169.254
        ("64:ff9b::5db8:d822", PUBLIC),  # NAT64 -> 93.184.216.34
        ("64:ff9b:1::7f00:1", PRIVATE),  # NAT64 local-use prefix
        ("2002:7f00:1::", PRIVATE),  # 6to4 -> 127.0.0.1
        ("2002:a9fe:a9fe::1", FORBIDDEN),  # 6to4 -> 169.254.169.254
        ("2002:0a00:0001::1", PRIVATE),  # 6to4 -> 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", PRIVATE),  # Teredo, client 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:5601:5601", FORBIDDEN),  # Teredo, client 169.254.169.254
        ("93.184.216.34", PUBLIC),
        ("2606:2800:220:1:248:1893:25c8:1946", PUBLIC),
    ],
)
def test_address_classification(address, verdict):
    assert classify(address) == verdict
    assert is_public_address(address) is (verdict == PUBLIC)


def _blocked_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/hook",
        f"http://[::1]:{port}/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        f"http://localhost:{port}/hook",
        f"http://127.1:{port}/hook",
        f"http://2130706433:{port}/hook",  # 127.0.0.1 as a decimal integer
        f"http://[64:ff9b::7f00:1]:{port}/hook",  # NAT64
        f"http://[2002:7f00:1::]:{port}/hook",  # 6to4
        f"http://[::127.0.0.1]:{port}/hook",  # IPv4-compatible
        f"http://[::ffff:127.0.0.1]:{port}/hook",  # IPv4-mapped
        f"http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}/hook",  # Teredo
    ]


# Refused even where the operator allows private targets.
FORBIDDEN_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://0.0.0.0/",
]


async def test_guarded_client_refuses_private_targets_without_connecting(receiver, dialled):
    async with httpx.AsyncClient(transport=GuardedTransport(), timeout=2) as guarded:
        for url in _blocked_urls(receiver.port):
            with pytest.raises(httpx.ConnectError) as info:
                await guarded.post(url, content=b"{}")
            assert "blocked" in str(info.value) or "cannot resolve" in str(info.value), url
    assert dialled == []
    assert receiver.received == []


async def test_metadata_and_link_local_are_refused_even_where_private_targets_are_allowed(receiver, dialled):
    async with guarded_client(timeout=2, allow_private=True) as allowed:
        for url in FORBIDDEN_URLS:
            with pytest.raises(httpx.ConnectError, match="link-local, metadata or reserved"):
                await allowed.post(url, content=b"{}")
        assert (await allowed.post(receiver.url, content=b"{}")).status_code == 200  # loopback is fine
    assert dialled == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("answer", "allow_private", "message"),
    [
        ("64:ff9b::7f00:1", False, "not a public address"),
        ("2002:7f00:1::", False, "not a public address"),
        ("::127.0.0.1", False, "not a public address"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False, "not a public address"),
        ("169.254.169.254", True, "link-local, metadata"),
        ("fd00:ec2::254", True, "link-local, metadata"),
        ("64:ff9b::a9fe:a9fe", True, "link-local, metadata"),
    ],
)
async def test_names_resolving_to_embedded_or_metadata_forms_are_refused(
    monkeypatch, dialled, answer, allow_private, message
):
    """The check applies to what a name resolves to, not only to literal addresses in the URL."""
    loop = asyncio.get_running_loop()
    real_getaddrinfo = type(loop).getaddrinfo

    async def resolver(self, host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host != "sneaky.example":
            return await real_getaddrinfo(self, host, port, *args, **kwargs)
        family = socket.AF_INET6 if ":" in answer else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answer, port))]

    monkeypatch.setattr(type(loop), "getaddrinfo", resolver)
    async with guarded_client(timeout=2, allow_private=allow_private) as guarded:
        with pytest.raises(httpx.ConnectError, match=message):
            await guarded.post("http://sneaky.example/hook", content=b"{}")
    assert dialled == []


async def test_private_targets_are_allowed_per_purpose_only(receiver, dialled):
    outbound = OutboundHttp(timeout=2, allow_private=frozenset({"ai"}))
    try:
        assert (await outbound.client("ai").post(receiver.url, content=b"{}")).status_code == 200
        for purpose in ("webhooks", "channels"):
            with pytest.raises(httpx.ConnectError, match="not a public address"):
                await outbound.client(purpose).post(receiver.url, content=b"{}")
    finally:
        await outbound.aclose()
    assert dialled == ["127.0.0.1"]
    assert len(receiver.received) == 1


async def test_every_purpose_has_a_guarded_client_and_none_follows_redirects_or_proxies():
    outbound = OutboundHttp(timeout=2)
    try:
        for purpose in PURPOSES:
            client = outbound.client(purpose)
            assert isinstance(client._transport, GuardedTransport)
            assert client.follow_redirects is False and client.trust_env is False
            assert client._mounts == {}  # no proxy transport beside the guarded one
    finally:
        await outbound.aclose()


def test_the_operator_names_purposes_in_the_configuration():
    assert load_settings(environ={}).private_target_purposes == frozenset()
    settings = load_settings(environ={"RELAYDESK_ALLOW_PRIVATE_TARGETS": " Webhooks, ai "})
    assert settings.private_target_purposes == {"webhooks", "ai"}
    with pytest.raises(ConfigError, match=r"RELAYDESK_ALLOW_PRIVATE_TARGETS: unknown purpose.*metadata"):
        load_settings(environ={"RELAYDESK_ALLOW_PRIVATE_TARGETS": "webhooks,metadata"})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_delivery_to_a_private_target_is_refused_and_fails(
    client, runtime, make_workspace, run_jobs, receiver, host, public_only
):
    url = receiver.url.replace("127.0.0.1", host)
    ws = await make_workspace(webhook_url=url)
    conv = await start_conversation(client, ws, run_jobs)
    msg_id = await agent_reply(client, ws, conv)
    await run_once(runtime)
    job = await job_for(runtime, "outbound.deliver", msg_id)
    assert job.state == "pending" and "not a public address" in (job.last_error or "")  # retried

    async def dead() -> bool:
        return (await job_for(runtime, "outbound.deliver", msg_id)).state == "dead"

    await drain(runtime, dead)
    msg = await message_json(client, ws, conv, msg_id)
    assert msg["status"] == "failed" and "not a public address" in msg["failure_reason"]
    assert receiver.received == []


async def test_channel_delivery_reaches_loopback_where_the_operator_allows_it(
    client, runtime, make_workspace, run_jobs, receiver
):
    assert "channels" in runtime.services.http.allow_private  # the test settings allow every purpose
    ws = await make_workspace(webhook_url=receiver.url)
    receiver.secret = ws.outbound_secret
    conv = await start_conversation(client, ws, run_jobs)
    msg_id = await agent_reply(client, ws, conv)
    await run_jobs()
    assert receiver.accepted_ids == [msg_id]
    assert (await message_json(client, ws, conv, msg_id))["status"] == "sent"


async def test_redirects_are_not_followed(client, runtime, make_workspace, run_jobs, receiver):
    """Even where private targets are allowed a 3xx is an answer, not an instruction: never followed."""
    target = await ScriptedReceiver().start()
    try:
        receiver.script = [(302, {"location": target.url})]
        ws = await make_workspace(webhook_url=receiver.url)
        conv = await start_conversation(client, ws, run_jobs)
        msg_id = await agent_reply(client, ws, conv)
        await run_jobs()
        assert (await job_for(runtime, "outbound.deliver", msg_id)).state == "dead"
        msg = await message_json(client, ws, conv, msg_id)
        assert msg["status"] == "failed" and msg["failure_reason"] == "HTTP 302"
        assert len(receiver.received) == 1 and target.received == []
    finally:
        await target.stop()
    assert all(runtime.services.http.client(p).follow_redirects is False for p in PURPOSES)


async def test_a_redirect_hop_to_a_private_address_is_blocked_at_connect(receiver, monkeypatch, dialled):
    """If a caller did follow redirects, the private hop is still refused by the transport.

    The first hop stands in for a public server: 127.0.0.1 is declared public for this test only.
    """
    real = ssrf.classify
    monkeypatch.setattr(ssrf, "classify", lambda ip: PUBLIC if ip == "127.0.0.1" else real(ip))
    receiver.script = [(307, {"location": "http://169.254.169.254/latest/meta-data/"})]
    async with httpx.AsyncClient(transport=GuardedTransport(), timeout=2, follow_redirects=True) as guarded:
        with pytest.raises(httpx.ConnectError, match="blocked"):
            await guarded.post(receiver.url, content=b"{}")
    assert dialled == ["127.0.0.1"]
    assert len(receiver.received) == 1


async def test_dns_rebinding_is_checked_on_the_address_actually_dialled(monkeypatch):
    """Resolve to a public address the first time and to loopback the second (a rebinding DNS server).

    The guard dials the IP it checked, never the name again, so the first request goes to the public IP
    (stopped by the spy: tests never leave loopback) and the second is refused before any connect.
    """
    answers = [["93.184.216.34"], ["127.0.0.1"], ["93.184.216.34", "127.0.0.1"]]
    loop = asyncio.get_running_loop()
    real_getaddrinfo = type(loop).getaddrinfo

    async def rebinding(self, host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host != "rebind.example":
            return await real_getaddrinfo(self, host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in answers.pop(0)]

    dialled: list[str] = []

    async def offline_connect(self, host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        dialled.append(host)
        raise httpcore.ConnectError("test stops here: no traffic leaves loopback")

    monkeypatch.setattr(type(loop), "getaddrinfo", rebinding)
    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", offline_connect)
    async with httpx.AsyncClient(transport=GuardedTransport(), timeout=2) as guarded:
        with pytest.raises(httpx.ConnectError, match="no traffic leaves loopback"):
            await guarded.post("http://rebind.example/hook", content=b"{}")
        assert dialled == ["93.184.216.34"]  # the checked IP, not the name
        with pytest.raises(httpx.ConnectError, match="blocked"):
            await guarded.post("http://rebind.example/hook", content=b"{}")
        with pytest.raises(httpx.ConnectError, match="blocked"):  # one private answer taints the name
            await guarded.post("http://rebind.example/hook", content=b"{}")
    assert dialled == ["93.184.216.34"]


async def test_the_ai_provider_endpoint_goes_through_the_guard(client, runtime, make_workspace, public_only):
    """The admin-chosen model endpoint is an outbound request like any other: a loopback model server is
    refused unless the operator allows private targets for `ai`, and metadata addresses always."""
    fake = await FakeOpenAI().start()
    try:
        ws = await make_workspace()
        settings = {
            "enabled": True,
            "provider": "openai",
            "openai_base_url": fake.base_url,
            "openai_model": fake.model,
            "openai_max_retries": 0,
        }
        body = {"settings": settings, "api_key": fake.api_key}
        resp = await client.put("/api/v1/ai/settings", json=body, headers=ws.admin.headers)
        assert resp.status_code == 200, resp.text
        probe = resp.json()["probe"]
        assert probe["ok"] is False and "not a public address" in probe["error"]
        assert fake.requests == []

        runtime.services.http = OutboundHttp(timeout=2, allow_private=frozenset({"ai"}))
        resp = await client.put("/api/v1/ai/settings", json=body, headers=ws.admin.headers)
        assert resp.json()["probe"]["ok"] is True and fake.requests

        metadata = {**settings, "openai_base_url": "http://169.254.169.254/v1"}
        resp = await client.put("/api/v1/ai/settings", json={"settings": metadata}, headers=ws.admin.headers)
        assert "link-local, metadata" in resp.json()["probe"]["error"]
        await runtime.services.http.aclose()
    finally:
        runtime.services.http = public_only
        await fake.stop()
