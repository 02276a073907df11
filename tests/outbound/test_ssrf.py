"""Webhooks may not reach loopback, private, link-local or metadata addresses unless the workspace opts in.

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

from relaydesk.channels.api.tests.support import (
    ScriptedReceiver,
    agent_reply,
    drain,
    job_for,
    message_json,
    run_once,
    start_conversation,
)
from relaydesk.outbound import ssrf
from relaydesk.outbound.ssrf import GuardedTransport, is_public_address


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
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("::1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("fc00::1", False),
        ("fe80::1", False),
        ("224.0.0.1", False),
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
    ],
)
def test_address_classification(address, public):
    assert is_public_address(address) is public


def _blocked_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/hook",
        f"http://[::1]:{port}/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        f"http://localhost:{port}/hook",
        f"http://127.1:{port}/hook",
        f"http://2130706433:{port}/hook",  # 127.0.0.1 as a decimal integer
    ]


async def test_guarded_client_refuses_private_targets_without_connecting(receiver, dialled):
    async with httpx.AsyncClient(transport=GuardedTransport(), timeout=2) as guarded:
        for url in _blocked_urls(receiver.port):
            with pytest.raises(httpx.ConnectError) as info:
                await guarded.post(url, content=b"{}")
            assert "blocked" in str(info.value) or "cannot resolve" in str(info.value), url
    assert dialled == []
    assert receiver.received == []


async def test_unrestricted_client_reaches_loopback(receiver, dialled):
    async with httpx.AsyncClient(timeout=2) as unrestricted:
        assert (await unrestricted.post(receiver.url, content=b"{}")).status_code == 200
    assert dialled == ["127.0.0.1"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_delivery_to_a_private_target_is_refused_and_fails(
    client, runtime, make_workspace, run_jobs, receiver, host
):
    url = receiver.url.replace("127.0.0.1", host)
    ws = await make_workspace(webhook_url=url, allow_private=False)
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


async def test_opted_in_workspace_delivers_to_loopback(client, runtime, make_workspace, run_jobs, receiver):
    ws = await make_workspace(webhook_url=receiver.url, allow_private=True)
    receiver.secret = ws.outbound_secret
    conv = await start_conversation(client, ws, run_jobs)
    msg_id = await agent_reply(client, ws, conv)
    await run_jobs()
    assert receiver.accepted_ids == [msg_id]
    assert (await message_json(client, ws, conv, msg_id))["status"] == "sent"


async def test_redirects_are_not_followed(client, runtime, make_workspace, run_jobs, receiver):
    """Even for an opted-in workspace a 3xx is an answer, not an instruction: the target is never called."""
    target = await ScriptedReceiver().start()
    try:
        receiver.script = [(302, {"location": target.url})]
        ws = await make_workspace(webhook_url=receiver.url, allow_private=True)
        conv = await start_conversation(client, ws, run_jobs)
        msg_id = await agent_reply(client, ws, conv)
        await run_jobs()
        assert (await job_for(runtime, "outbound.deliver", msg_id)).state == "dead"
        msg = await message_json(client, ws, conv, msg_id)
        assert msg["status"] == "failed" and msg["failure_reason"] == "HTTP 302"
        assert len(receiver.received) == 1 and target.received == []
    finally:
        await target.stop()
    assert (
        runtime.services.guarded.follow_redirects is False
        and runtime.services.unrestricted.follow_redirects is False
    )


async def test_a_redirect_hop_to_a_private_address_is_blocked_at_connect(receiver, monkeypatch, dialled):
    """If a caller did follow redirects, the private hop is still refused by the transport.

    The first hop stands in for a public server: 127.0.0.1 is declared public for this test only.
    """
    real = ssrf.is_public_address
    monkeypatch.setattr(ssrf, "is_public_address", lambda ip: ip == "127.0.0.1" or real(ip))
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
