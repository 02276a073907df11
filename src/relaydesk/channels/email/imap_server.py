"""A real IMAP server on loopback for the tests, the bench and the demo: pymap with its in-memory backend.

pymap (PyPI) is an asyncio IMAP4rev1 server with IDLE, UIDPLUS, STARTTLS and per-mailbox UIDVALIDITY; its
`dict` backend keeps mailboxes in memory. It runs in the caller's event loop (or, for the demo, in a
thread of its own) on `127.0.0.1`, port 0 by default, and speaks the same wire protocol as any mail
provider's server, so the receiver (channels/email/imap.py) is tested over a socket, not against a mock.
`docs/decisions.md` says why pymap and not Dovecot.

What a test needs besides the protocol is done on the backend, the way a mail server's delivery agent
would: `deliver()` drops a mail into a mailbox (and wakes IDLE clients), `flags()` reads a mail's flags,
`renumber()` rebuilds a mailbox under a new UIDVALIDITY, `restart()` drops every connection and listens
again on the same port with the same mailboxes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ipaddress
import ssl
import tempfile
from pathlib import Path
from typing import Any, Literal

from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import Config, DictBackend, Login
from pymap.backend.dict import Identity as DictIdentity
from pymap.config import BackendCapability
from pymap.parsing.message import AppendMessage
from pymap.parsing.specials.flag import Flag
from pymap.user import Passwords, UserMetadata

TlsMode = Literal["none", "starttls", "implicit"]


class _LoopbackConfig(Config):
    #: Announce IDLE? (pymap 0.36 takes a `disable_idle` argument but ignores it.)
    offer_idle = True

    @property
    def greeting(self) -> bytes:  # pymap's default looks up this machine's FQDN (DNS): not on loopback
        return b"Server ready relaydesk-loopback"

    @property
    def backend_capability(self) -> BackendCapability:
        return BackendCapability(idle=self.offer_idle, object_id=True, multi_append=True)


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throw-away certificate for `host` (as an IP address SAN), valid for a day: (cert, key) PEM files.
    The certificate is its own CA: a client that trusts the cert file verifies the server properly."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "imap-cert.pem", directory / "imap-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class LoopbackImapServer:
    """pymap's in-memory IMAP server on 127.0.0.1. `users` maps login -> password."""

    def __init__(
        self,
        users: dict[str, str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsMode = "none",
        idle: bool = True,
    ) -> None:
        self.users = dict(users)
        #: Offer IDLE (RFC 2177)? Without it clients must poll, as with some providers' servers.
        self.idle = idle
        self.host = host
        self.port = port
        self.tls = tls
        self.ca_file: str | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._backend: DictBackend | None = None
        self._config: _LoopbackConfig | None = None
        self._server_tls: ssl.SSLContext | None = None

    async def start(self) -> LoopbackImapServer:
        if self._backend is None:
            await self._build()
        assert self._backend is not None and self._config is not None
        self._config.apply_context()
        from pymap.imap import IMAPServer

        imap = IMAPServer(self._backend.login, self._config)
        callback = ProxyProtocolReader(self._config.proxy_protocol).get_callback(imap)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # The callback only starts the connection's task; the writer is kept to cut it on `stop`.
            self._writers = {w for w in self._writers if not w.is_closing()} | {writer}
            await callback(reader, writer)

        self._server = await asyncio.start_server(
            serve,
            self.host,
            self.port,
            ssl=self._server_tls if self.tls == "implicit" else None,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _build(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="relaydesk-imap-")
        extra: dict[str, Any] = {}
        if self.tls != "none":
            cert, key = self_signed_certificate(Path(self._tmp.name), self.host)
            self.ca_file = str(cert)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            self._server_tls = context
            extra["ssl_context"] = context
        args = argparse.Namespace(
            debug=False, passlib_cfg=None, proxy_protocol=None, inherited_sockets=None, tls=self.tls
        )
        config = _LoopbackConfig(
            args,
            host=self.host,
            port=self.port,
            demo_data=False,
            demo_user="",
            demo_password="",
            # STARTTLS is offered (and LOGIN refused before it) only in starttls mode; implicit TLS
            # connections are encrypted from the first byte.
            tls_enabled=self.tls == "starttls",
            invalid_user_sleep=0.0,
            reject_dnsbl=False,
            **extra,
        )
        config.offer_idle = self.idle
        config.apply_context()
        login = Login(config)
        passwords = Passwords(config)
        for name, password in self.users.items():
            hashed = await passwords.hash_password(password)
            await DictIdentity(name, login, None, frozenset()).set(
                UserMetadata(config, name, password=hashed)
            )
        self._config, self._backend = config, DictBackend(login, config)

    async def stop(self) -> None:
        """Stop listening and cut every open connection (what a crashing server does to its clients)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    async def restart(self, downtime: float = 0.0) -> None:
        """Drop all connections, stay down `downtime` seconds, and listen again on the same port with the
        same mailboxes (a server restart, as the receiver sees it)."""
        await self.stop()
        if downtime:
            await asyncio.sleep(downtime)
        await self.start()

    async def close(self) -> None:
        await self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> LoopbackImapServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the delivery agent's side ----------------------------------------------------------------------
    async def _mailbox(self, user: str, mailbox: str, *, create: bool = True) -> Any:
        assert self._backend is not None
        identity = DictIdentity(user, self._backend.login, None, frozenset())
        async with identity.new_session() as session:
            mailboxes = session.mailbox_set
            if mailbox.upper() != "INBOX" and create:
                with contextlib.suppress(ValueError):
                    await mailboxes.add_mailbox(mailbox)
            return await mailboxes.get_mailbox(mailbox)

    async def deliver(self, user: str, raw: bytes, mailbox: str = "INBOX") -> int:
        """Put a mail into `user`'s `mailbox` (created if missing) as new and unseen; returns its UID."""
        box = await self._mailbox(user, mailbox)
        message = await box.append(AppendMessage(raw, dt.datetime.now(dt.UTC), frozenset()), recent=True)
        return int(message.uid)

    async def flags(self, user: str, uid: int, mailbox: str = "INBOX") -> set[str]:
        box = await self._mailbox(user, mailbox, create=False)
        async for message in box.messages():
            if message.uid == uid:
                return {str(flag) for flag in message.permanent_flags}
        raise KeyError(uid)

    async def uidvalidity(self, user: str, mailbox: str = "INBOX") -> int:
        return int((await self._mailbox(user, mailbox, create=False)).uid_validity)

    async def renumber(self, user: str, mailbox: str, raws: list[bytes]) -> int:
        """Rebuild `mailbox` (not INBOX) with `raws` in that order, under a new UIDVALIDITY, as a server does
        after restoring or migrating a mailbox; returns the new UIDVALIDITY."""
        assert mailbox.upper() != "INBOX"
        old = await self.uidvalidity(user, mailbox)
        assert self._backend is not None
        identity = DictIdentity(user, self._backend.login, None, frozenset())
        while True:
            async with identity.new_session() as session:
                await session.mailbox_set.delete_mailbox(mailbox)
                await session.mailbox_set.add_mailbox(mailbox)
            if await self.uidvalidity(user, mailbox) != old:
                break
        for raw in raws:
            await self.deliver(user, raw, mailbox)
        return await self.uidvalidity(user, mailbox)

    @staticmethod
    def seen_flag() -> str:
        return str(Flag(b"\\Seen"))
