"""Refuse outbound connections to loopback, private, link-local and other non-public addresses.

The check runs inside the HTTP client's connect step on the address actually dialled, so a hostname that
resolves to a public address at validation time and to 127.0.0.1 at connect time (DNS rebinding) is
still refused, and redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing

import httpcore
import httpx


class BlockedDestination(httpx.ConnectError):
    """The destination resolves to an address webhooks may not reach."""


def is_public_address(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return addr.is_global and not addr.is_multicast


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = [info[4][0] for info in infos]
        public = [a for a in addresses if is_public_address(a)]
        if not public or len(public) != len(addresses):
            raise httpcore.ConnectError(f"destination {host} is not a public address (blocked)")
        return await self._inner.connect_tcp(
            public[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self, *args: typing.Any, **kwargs: typing.Any
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx transport whose connections can only reach public addresses."""

    def __init__(self, **kwargs: typing.Any) -> None:
        super().__init__(**kwargs)
        pool = self._pool
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=pool._ssl_context,
            max_connections=pool._max_connections,
            max_keepalive_connections=pool._max_keepalive_connections,
            keepalive_expiry=pool._keepalive_expiry,
            http1=pool._http1,
            http2=pool._http2,
            network_backend=_GuardedBackend(),
        )


def make_clients(timeout: float) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """(guarded, unrestricted) clients; the unrestricted one serves workspaces that opted in."""
    guarded = httpx.AsyncClient(transport=GuardedTransport(), timeout=timeout, follow_redirects=False)
    unrestricted = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
    return guarded, unrestricted
