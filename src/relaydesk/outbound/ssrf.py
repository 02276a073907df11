"""Every outbound HTTP request goes through one guarded transport, chosen by its purpose.

The check runs inside the HTTP client's connect step on the address actually dialled, so a hostname that
resolves to a public address at validation time and to 127.0.0.1 at connect time (DNS rebinding) is
still refused, and redirects are never followed.

Addresses fall in three classes (`classify`):

- `public`: reachable on the internet; always allowed.
- `private`: loopback, RFC 1918, carrier-grade NAT, unique-local and other non-global ranges. Refused
  unless the operator allows private targets for the request's purpose (`RELAYDESK_ALLOW_PRIVATE_TARGETS`,
  docs/configuration.md): a model server on localhost is normal for the AI provider, an integrator on the
  LAN for the API channel.
- `forbidden`: link-local (where cloud metadata services live), the known metadata addresses, the
  unspecified address, multicast and broadcast. Refused for every purpose, whatever the operator says.

IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
`64:ff9b::/96` and `64:ff9b:1::/48`, 6to4 `2002::/16`, Teredo `2001::/32`) are judged by the IPv4 address
they lead to as well, so `64:ff9b::7f00:1` counts as loopback, not as a public IPv6 address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What an outbound request is for; the operator may allow private targets per purpose.
PURPOSES = ("webhooks", "channels", "ai")
Purpose = typing.Literal["webhooks", "channels", "ai"]

PUBLIC, PRIVATE, FORBIDDEN = "public", "private", "forbidden"
_RANK = {PUBLIC: 0, PRIVATE: 1, FORBIDDEN: 2}

# Cloud metadata endpoints outside the link-local ranges (AWS IMDS over IPv6, Alibaba Cloud).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200", "169.254.169.254", "169.254.170.2")
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_TEREDO = ipaddress.ip_network("2001::/32")


def embedded_ipv4(addr: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to through a translation or tunnelling prefix."""
    found: list[ipaddress.IPv4Address] = []
    if addr.ipv4_mapped is not None:
        found.append(addr.ipv4_mapped)
    if addr.sixtofour is not None:
        found.append(addr.sixtofour)
    if addr in _TEREDO and addr.teredo is not None:
        found.extend(addr.teredo)  # (server, client); the client is where traffic ends up
    low32 = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if any(addr in net for net in _NAT64):
        found.append(low32)
    if addr in _IPV4_COMPATIBLE and int(addr) > 1:  # `::` and `::1` are IPv6's own, judged as such
        found.append(low32)
    return found


def _own_class(addr: IPAddress) -> str:
    if addr in METADATA_ADDRESSES or addr.is_link_local or addr.is_unspecified or addr.is_multicast:
        return FORBIDDEN
    if isinstance(addr, ipaddress.IPv4Address) and addr == ipaddress.IPv4Address("255.255.255.255"):
        return FORBIDDEN
    if isinstance(addr, ipaddress.IPv4Address) and addr in ipaddress.ip_network("0.0.0.0/8"):
        return FORBIDDEN  # "this network": 0.x.x.x reaches the local host on Linux
    return PUBLIC if addr.is_global else PRIVATE


def classify(ip: str) -> str:
    """`public`, `private` or `forbidden` (module docstring); the worst of the address and what it embeds."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address):
        addr = ipaddress.IPv6Address(int(addr))  # drop a %scope suffix; fe80::1%eth0 is still fe80::1
        if addr.ipv4_mapped is not None:
            return _own_class(addr.ipv4_mapped)  # the kernel dials the IPv4 address itself
        verdicts = [_own_class(addr), *(_own_class(v4) for v4 in embedded_ipv4(addr))]
        return max(verdicts, key=_RANK.__getitem__)
    return _own_class(addr)


def is_public_address(ip: str) -> bool:
    return classify(ip) == PUBLIC


class BlockedDestination(ConnectionError):
    """The host resolves to an address this installation may not connect to (see `classify`)."""


async def checked_address(host: str, port: int, *, allow_private: bool, what: str = "destination") -> str:
    """The address to dial for `host`, judged by `classify`: the one check every outbound connection makes
    (HTTP below, IMAP and SMTP in channels/email). Dialling the address checked, not the name again,
    defeats DNS rebinding. Raises `BlockedDestination`, or `ConnectionError` when the name does not resolve.
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectionError(f"cannot resolve {host}: {exc}") from None
    addresses = [info[4][0] for info in infos]
    verdicts = [classify(a) for a in addresses]
    if not addresses or FORBIDDEN in verdicts:
        raise BlockedDestination(f"{what} {host} is a link-local, metadata or reserved address (blocked)")
    # One refused answer taints the name: a resolver mixing public and private answers is suspicious.
    if PRIVATE in verdicts and not allow_private:
        raise BlockedDestination(f"{what} {host} is not a public address (blocked)")
    return str(addresses[0])


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allow_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            address = await checked_address(host, port, allow_private=self._allow_private)
        except ConnectionError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return await self._inner.connect_tcp(
            address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self, *args: typing.Any, **kwargs: typing.Any
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx transport whose connections reach public addresses, and private ones only if allowed.

    Proxies from the environment are not used (`trust_env` is off on the clients below): a proxy would
    dial the target itself, out of reach of this check."""

    def __init__(self, *, allow_private: bool = False, **kwargs: typing.Any) -> None:
        super().__init__(**kwargs)
        pool = self._pool
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=pool._ssl_context,
            max_connections=pool._max_connections,
            max_keepalive_connections=pool._max_keepalive_connections,
            keepalive_expiry=pool._keepalive_expiry,
            http1=pool._http1,
            http2=pool._http2,
            network_backend=_GuardedBackend(allow_private),
        )


def parse_purposes(raw: str) -> frozenset[str]:
    """`"webhooks, ai"` -> {"webhooks", "ai"}; an unknown name is a configuration error (ValueError)."""
    names = {part.strip().lower() for part in raw.split(",") if part.strip()}
    unknown = names - set(PURPOSES)
    if unknown:
        raise ValueError(
            f"unknown purpose(s) {', '.join(sorted(unknown))}; expected some of {', '.join(PURPOSES)}"
        )
    return frozenset(names)


class GuardedClient(httpx.AsyncClient):
    """An httpx client on the guarded transport that says whether it may reach private addresses, so a
    channel that speaks another protocol (SMTP) applies the same operator setting through the same check."""

    def __init__(self, *, timeout: float, allow_private: bool) -> None:
        super().__init__(
            transport=GuardedTransport(allow_private=allow_private),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        )
        self.allow_private = allow_private


def guarded_client(*, timeout: float, allow_private: bool) -> GuardedClient:
    return GuardedClient(timeout=timeout, allow_private=allow_private)


def private_allowed(http: httpx.AsyncClient) -> bool:
    """Whether `http` (a client from `OutboundHttp`) may reach private addresses; any other client: no."""
    return isinstance(http, GuardedClient) and http.allow_private


class OutboundHttp:
    """One guarded HTTP client per purpose; there is no unguarded client to pick by mistake."""

    def __init__(self, *, timeout: float, allow_private: frozenset[str] = frozenset()) -> None:
        self.allow_private = frozenset(allow_private)
        self._clients = {
            p: guarded_client(timeout=timeout, allow_private=p in self.allow_private) for p in PURPOSES
        }

    def client(self, purpose: Purpose) -> httpx.AsyncClient:
        return self._clients[purpose]

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.aclose()
