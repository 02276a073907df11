"""Inbound e-mail over IMAP: one long-lived receiver per e-mail inbox, run by the worker.

The receiver logs in (implicit TLS, STARTTLS, or plain text on loopback only), SELECTs the inbox's mailbox
and asks for what is new with `UID SEARCH UID <last+1>:*`, fetching it with `UID FETCH … BODY.PEEK[]`
(PEEK: the customer's mailbox is not marked read) in batches of at most `batch_size` mails. Between syncs
it waits in IDLE (RFC 2177) for the server to announce new mail, leaving IDLE at least every 29 minutes
and at every `resync_seconds` to search again: a push the server never sent cannot lose a mail for long.
When the connection drops, it reconnects with capped, jittered exponential back-off.

The position in the mailbox is `(mailbox, UIDVALIDITY, last UID)` (RFC 3501 §2.3.1.1: UIDs only rise
within one UIDVALIDITY). It is kept by the `ReceiverSink` the worker gives the receiver (stored in the
database), and it advances only after the sink has stored the batch: a crash between the two fetches the
batch again, and the sink's dedupe (the RFC 5322 Message-ID) refuses the copies. A changed UIDVALIDITY
means the server renumbered the mailbox: the receiver starts again from UID 1, and the same dedupe keeps
what was already received from being created twice.

This module is pure protocol: it never touches the database (channels/ never does); the sink does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import aioimaplib

from relaydesk.outbound import ssrf

log = logging.getLogger(__name__)

Security = Literal["tls", "starttls", "plain"]
#: RFC 2177: a client should re-issue IDLE at least every 29 minutes, or servers may log it off.
MAX_IDLE_SECONDS = 29 * 60
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ImapError(Exception):
    """The server refused something (login, SELECT, SEARCH, FETCH) or broke the protocol."""


class ImapAuthError(ImapError):
    """The server refused the credentials: retrying at once cannot help (back-off jumps to its cap)."""


class ConnectionLost(ImapError):
    """The server closed the connection (restarted, timed the session out)."""


@dataclass(frozen=True)
class ImapAccount:
    """Where and as whom to log in. `plain` (no TLS) is accepted for loopback hosts only: a password
    never crosses a network in clear text."""

    host: str
    port: int
    username: str
    password: str
    security: Security = "tls"
    mailbox: str = "INBOX"
    #: For a server with a private CA (tests, the demo): PEM file of the CA to trust instead of the system's.
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.security not in ("tls", "starttls", "plain"):
            raise ValueError(f"unknown IMAP security {self.security!r}: use tls, starttls or plain")
        if self.security == "plain" and self.host not in _LOOPBACK:
            raise ValueError("IMAP without TLS is allowed only to a loopback host; use tls or starttls")

    def __repr__(self) -> str:  # never the password, in logs or tracebacks
        return f"ImapAccount({self.username}@{self.host}:{self.port}, {self.security}, {self.mailbox!r})"


@dataclass(frozen=True)
class Cursor:
    """How far the receiver has stored: every mail of `mailbox` with a UID up to `last_uid` under this
    `uidvalidity` is stored."""

    mailbox: str
    uidvalidity: int
    last_uid: int

    def to_json(self) -> dict[str, Any]:
        return {"mailbox": self.mailbox, "uidvalidity": self.uidvalidity, "last_uid": self.last_uid}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Cursor | None:
        try:
            return (
                cls(str(data["mailbox"]), int(data["uidvalidity"]), int(data["last_uid"])) if data else None
            )
        except (KeyError, TypeError, ValueError):
            return None  # unreadable: start over (the dedupe keeps that harmless)


@dataclass(frozen=True)
class FetchedMail:
    uid: int
    raw: bytes


@dataclass
class ReceiverStatus:
    """What the admin's inbox page and the API's inbox health show of a receiver."""

    state: Literal["connecting", "connected", "disconnected", "stopped"] = "connecting"
    last_sync_at: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None


class ReceiverSink(Protocol):
    """Where a background receiver's mail goes: the worker's `ReceiverContext` (jobs/handlers/receivers.py)
    adapted by imap_receiver.py, which stores through the inbound intake. The cursor is the receiver's own
    JSON document, opaque to the sink."""

    async def load_cursor(self) -> dict[str, Any] | None:
        """The stored position, or None before the first sync."""
        ...

    async def store(self, raws: list[bytes]) -> None:
        """Store the raw provider payloads (here: RFC 5322 mails) durably, each deduplicated by the
        channel's dedupe key; a copy stored before is no error. Raises if they are not all stored."""
        ...

    async def save_cursor(self, cursor: dict[str, Any]) -> None:
        """Record the position; raises if this process no longer holds the receiver (then it stops)."""
        ...

    async def report(self, status: ReceiverStatus) -> None:
        """Record the receiver's state (connected, last sync, last error); best effort."""
        ...

    async def credentials_refused(self, reason: str) -> None:
        """The server refused the login `Timing.max_auth_failures` times in a row: the receiver stops
        (retrying a wrong password for ever could lock the account); the inbox needs new credentials."""
        ...


@dataclass(frozen=True)
class Timing:
    batch_size: int = 100
    #: How often the mailbox is searched even without a push (and IDLE re-issued), in seconds.
    resync_seconds: float = 300.0
    #: Polling period for a server without IDLE.
    poll_seconds: float = 60.0
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    #: Per-command timeout (a FETCH of a full batch included).
    command_timeout: float = 60.0
    #: Logins refused in a row before the receiver gives up and asks for new credentials.
    max_auth_failures: int = 3
    #: A mail larger than this is not fetched (the e-mail parser's own limit, channels/email/limits.py).
    max_message_bytes: int = 25 * 1024 * 1024
    #: Bytes fetched in one `UID FETCH` at most (besides `batch_size` mails): bounds the memory a batch takes.
    max_batch_bytes: int = 32 * 1024 * 1024

    @property
    def idle_seconds(self) -> float:
        return min(self.resync_seconds, MAX_IDLE_SECONDS)


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before reconnect `attempt` (1, 2, …): exponential, capped, with full jitter in
    the upper half so many receivers cut off by one server restart do not all come back at once."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return ceiling / 2 + rand() * ceiling / 2


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_UID = re.compile(rb"\bUID (\d+)")


class ImapReceiver:
    """Runs until `stop()`: connect, sync, IDLE, sync, … and reconnect after any failure."""

    def __init__(
        self,
        account: ImapAccount,
        sink: ReceiverSink,
        timing: Timing | None = None,
        *,
        allow_private: bool = False,
    ) -> None:
        self.account = account
        #: The operator's choice for channel traffic (RELAYDESK_ALLOW_PRIVATE_TARGETS includes `channels`):
        #: without it, an IMAP host that resolves to a loopback or LAN address is refused, as for HTTP.
        self.allow_private = allow_private
        self.sink = sink
        self.timing = timing or Timing()
        self.status = ReceiverStatus()
        self.cursor: Cursor | None = None
        self._stopping = asyncio.Event()
        # Wakes whatever waits on the connection: set when it drops (`_dropped` too) or when asked to stop.
        self._lost = asyncio.Event()
        self._dropped = False
        self._client: aioimaplib.IMAP4 | None = None
        self._can_idle = False
        #: Set after every completed sync (tests and the bench wait on it).
        self.synced = asyncio.Event()
        self.syncs = 0

    # -- lifecycle ------------------------------------------------------------------------------------
    async def run(self) -> None:
        attempt = refused = 0
        while not self._stopping.is_set():
            try:
                await self._connect()
                attempt = refused = 0
                await self._set_status(state="connected")
                await self._serve()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: show it, back off, reconnect
                if self._stopping.is_set():
                    break
                attempt += 1
                reason = _describe(exc)
                log.warning("IMAP %r: %s (reconnect attempt %d)", self.account, reason, attempt)
                await self._set_status(state="disconnected", last_error=reason, last_error_at=_utcnow())
                if isinstance(exc, ImapAuthError):
                    refused += 1
                    if refused >= self.timing.max_auth_failures:
                        await self.sink.credentials_refused(reason)
                        break
                delay = (
                    self.timing.backoff_cap
                    if isinstance(exc, ImapAuthError)
                    else backoff_delay(attempt, self.timing.backoff_base, self.timing.backoff_cap)
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
            finally:
                await self._disconnect()
        await self._set_status(state="stopped")

    async def stop(self) -> None:
        """Ask `run` to end (it leaves IDLE and logs out)."""
        self._stopping.set()
        self._lost.set()
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                await client.stop_wait_server_push()

    # -- connection -----------------------------------------------------------------------------------
    async def _connect(self) -> None:
        account, timeout = self.account, self.timing.command_timeout
        self._lost = asyncio.Event()
        self._dropped = False
        await self._set_status(state="connecting")
        context = _tls_context(account) if account.security != "plain" else None
        address = await guarded_address(account.host, account.port, self.allow_private)
        client = _Imap4(
            address,
            account.host,
            account.port,
            timeout=timeout,
            conn_lost_cb=self._on_lost,
            ssl_context=context if account.security == "tls" else None,
        )
        self._client = client
        await client.wait_hello_from_server()
        if account.security == "starttls":
            await _starttls(client, context, account.host, timeout)  # type: ignore[arg-type]
        response = await client.login(account.username, account.password)
        if response.result != "OK":
            raise ImapAuthError(f"login refused: {_text(response)}")
        # The capabilities after login may differ (IDLE is often announced only to a logged-in client).
        await asyncio.wait_for(client.protocol.capability(), timeout)
        self._can_idle = client.has_capability("IDLE")
        response = await client.select(_quote(account.mailbox))
        if response.result != "OK":
            raise ImapError(f"cannot select mailbox {account.mailbox!r}: {_text(response)}")
        uidvalidity = _uidvalidity(response)
        stored = Cursor.from_json(await self.sink.load_cursor())
        if stored is None or stored.mailbox != account.mailbox or stored.uidvalidity != uidvalidity:
            if stored is not None:
                log.warning(
                    "IMAP %r: UIDVALIDITY changed (%s -> %s): resyncing the mailbox from the start",
                    account,
                    stored.uidvalidity,
                    uidvalidity,
                )
            self.cursor = Cursor(account.mailbox, uidvalidity, 0)
        else:
            self.cursor = stored

    def _on_lost(self, exc: Exception | None) -> None:
        self._dropped = True
        self._lost.set()
        client = self._client
        if client is not None:  # wake a pending IDLE wait at once
            client.protocol.idle_queue.put_nowait(aioimaplib.STOP_WAIT_SERVER_PUSH)

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if not self._dropped:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.logout(), 5)
        transport = client.protocol.transport
        if transport is not None:
            transport.close()
        for task in list(client.tasks):
            task.cancel()

    # -- work -----------------------------------------------------------------------------------------
    async def _serve(self) -> None:
        while not self._stopping.is_set():
            await self.sync()
            if self._stopping.is_set():
                return
            if self._can_idle:
                await self._idle()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lost.wait(), self.timing.poll_seconds)
            if self._lost.is_set() and not self._stopping.is_set():
                raise ConnectionLost("the IMAP server closed the connection")

    async def sync(self) -> int:
        """Fetch and store everything newer than the cursor, a batch at a time; returns how many."""
        client, cursor = self._client, self.cursor
        assert client is not None and cursor is not None
        response = await self._call(client.uid_search(f"UID {cursor.last_uid + 1}:*", charset=None))
        if response.result != "OK":
            raise ImapError(f"UID SEARCH refused: {_text(response)}")
        # `n:*` always matches the highest UID, even when it is below n: keep only what is new.
        uids = sorted(uid for uid in _search_uids(response) if uid > cursor.last_uid)
        fetched = 0
        for start in range(0, len(uids), self.timing.batch_size):
            for batch, too_large in await self._batches(client, uids[start : start + self.timing.batch_size]):
                mails = await self._fetch(client, batch) if batch else []
                if mails:
                    await self.sink.store([mail.raw for mail in mails])
                if too_large:
                    await self._set_status(
                        last_error=f"{len(too_large)} mail(s) over {self.timing.max_message_bytes} bytes were "
                        f"not fetched and stay in the mailbox (UID {', '.join(map(str, too_large))})",
                        last_error_at=_utcnow(),
                    )
                # Stored (or too large, or gone between SEARCH and FETCH): only now does the cursor pass them.
                self.cursor = cursor = replace(cursor, last_uid=max(batch + too_large))
                await self.sink.save_cursor(cursor.to_json())
                fetched += len(mails)
        self.syncs += 1
        await self._set_status(state="connected", last_sync_at=_utcnow())
        self.synced.set()
        return fetched

    async def _batches(self, client: aioimaplib.IMAP4, uids: list[int]) -> list[tuple[list[int], list[int]]]:
        """`uids` cut into fetches of at most `max_batch_bytes` (by the sizes the server states, so a batch
        of large mails cannot fill the memory), each with the UIDs before it that are over
        `max_message_bytes` (never fetched: the parser would refuse them anyway)."""
        response = await self._call(client.uid("fetch", ",".join(map(str, uids)), "(UID RFC822.SIZE)"))
        if response.result != "OK":
            raise ImapError(f"UID FETCH of sizes refused: {_text(response)}")
        sizes = _sizes(response.lines)
        batches: list[tuple[list[int], list[int]]] = []
        batch: list[int] = []
        skipped: list[int] = []
        total = 0
        for uid in uids:
            size = sizes.get(uid)
            if size is None:
                continue  # expunged since the search
            if size > self.timing.max_message_bytes:
                skipped.append(uid)
                continue
            if batch and total + size > self.timing.max_batch_bytes:
                batches.append((batch, skipped))
                batch, skipped, total = [], [], 0
            batch.append(uid)
            total += size
        if batch or skipped:
            batches.append((batch, skipped))
        return batches

    async def _fetch(self, client: aioimaplib.IMAP4, uids: list[int]) -> list[FetchedMail]:
        response = await self._call(client.uid("fetch", ",".join(map(str, uids)), "(UID BODY.PEEK[])"))
        if response.result != "OK":
            raise ImapError(f"UID FETCH refused: {_text(response)}")
        return _fetched_mails(response.lines)

    async def _call(self, command: Any) -> aioimaplib.Response:
        """Run one IMAP command, but give up as soon as the connection drops (aioimaplib would otherwise
        wait for the command's timeout)."""
        task = asyncio.ensure_future(command)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if task not in done:
            task.cancel()
            raise ConnectionLost("the IMAP server closed the connection")
        return task.result()

    async def _idle(self) -> None:
        """Wait in IDLE until the server announces mail, the resync period ends, or the line drops."""
        client = self._client
        assert client is not None
        idle = await client.idle_start(timeout=self.timing.idle_seconds)
        try:
            while client.has_pending_idle() and not self._lost.is_set():
                pushed = await client.wait_server_push(timeout=self.timing.idle_seconds + 5)
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(isinstance(line, bytes) and line.endswith(b"EXISTS") for line in pushed):
                    break
        except TimeoutError:
            pass
        if self._dropped:
            idle.cancel()
            return
        client.idle_done()  # also when asked to stop: leave IDLE properly, then log out
        await asyncio.wait_for(idle, self.timing.command_timeout)

    async def _set_status(self, **changes: object) -> None:
        for key, value in changes.items():
            setattr(self.status, key, value)
        try:
            await self.sink.report(replace(self.status))
        except Exception:  # the status line is best effort; the mail is what matters
            log.warning("recording the IMAP receiver's status failed", exc_info=True)


# -- protocol helpers ---------------------------------------------------------------------------------
class BlockedDestination(ImapError):
    """The IMAP host resolves to an address this installation may not connect to (outbound/ssrf.py)."""


async def guarded_address(host: str, port: int, allow_private: bool) -> str:
    """The checked address to dial for the IMAP host (outbound/ssrf.py `checked_address`): link-local and
    metadata addresses never, private ones (loopback, LAN) only when the operator allows private targets
    for channels."""
    try:
        return await ssrf.checked_address(host, port, allow_private=allow_private, what="the IMAP host")
    except ssrf.BlockedDestination as exc:
        hint = (
            ""
            if allow_private
            else " (the operator allows private targets with RELAYDESK_ALLOW_PRIVATE_TARGETS)"
        )
        raise BlockedDestination(f"{exc}{hint}") from None
    except ConnectionError as exc:
        raise ImapError(str(exc)) from None


class _Imap4(aioimaplib.IMAP4):
    """aioimaplib's client dialling a checked address while TLS verifies the certificate for the name."""

    def __init__(self, address: str, host: str, port: int, **kwargs: Any) -> None:
        self._address = address
        super().__init__(host=host, port=port, **kwargs)

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Callable[[Exception | None], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        local_loop = loop or asyncio.get_running_loop()
        self.protocol = aioimaplib.IMAP4ClientProtocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(
                lambda: self.protocol,
                self._address,
                port,
                ssl=ssl_context,
                server_hostname=host if ssl_context is not None else None,
            )
        )


def _tls_context(account: ImapAccount) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=account.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def _starttls(client: aioimaplib.IMAP4, context: ssl.SSLContext, host: str, timeout: float) -> None:
    """STARTTLS (RFC 3501 §6.2.1), which aioimaplib names but does not implement: after the server's OK,
    the same connection is wrapped in TLS and the capabilities are asked again (RFC 3501 requires a
    client to forget the ones it learned in clear text)."""
    protocol = client.protocol
    if "STARTTLS" not in protocol.capabilities:
        raise ImapError("the server does not offer STARTTLS")
    command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    response = await asyncio.wait_for(protocol.execute(command), timeout)
    if response.result != "OK":
        raise ImapError(f"STARTTLS refused: {_text(response)}")
    loop = asyncio.get_running_loop()
    transport = await asyncio.wait_for(
        loop.start_tls(protocol.transport, protocol, context, server_hostname=host), timeout
    )
    protocol.transport = transport
    protocol.capabilities = set()
    await asyncio.wait_for(protocol.capability(), timeout)


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(response: aioimaplib.Response) -> str:
    return " ".join(
        line.decode(errors="replace") if isinstance(line, bytes | bytearray) else str(line)
        for line in response.lines[-1:]
    )[:300]


def _uidvalidity(response: aioimaplib.Response) -> int:
    for line in response.lines:
        if isinstance(line, bytes):
            found = _UIDVALIDITY.search(line)
            if found:
                return int(found.group(1))
    raise ImapError("the server sent no UIDVALIDITY for the mailbox")


def _search_uids(response: aioimaplib.Response) -> list[int]:
    uids: list[int] = []
    for line in response.lines[:-1]:
        if isinstance(line, bytes):
            uids.extend(int(token) for token in line.split() if token.isdigit())
    return uids


_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


def _sizes(lines: list[bytes | bytearray]) -> dict[int, int]:
    found: dict[int, int] = {}
    for line in lines:
        if isinstance(line, bytes):
            uid, size = _FETCH_UID.search(line), _SIZE.search(line)
            if uid and size:
                found[int(uid.group(1))] = int(size.group(1))
    return found


def _fetched_mails(lines: list[bytes | bytearray]) -> list[FetchedMail]:
    """aioimaplib gives a FETCH as `b'n FETCH (UID u BODY[] {size}'`, the literal, `b')'`, …; the UID may
    also follow the literal (`b' UID u)'`), so it is looked for on both sides."""
    mails: list[FetchedMail] = []
    uid: int | None = None
    literal: bytes | None = None

    def flush() -> None:
        nonlocal uid, literal
        if uid is not None and literal is not None:
            mails.append(FetchedMail(uid, literal))
        uid, literal = None, None

    for line in lines:
        if isinstance(line, bytearray):
            literal = bytes(line)
            continue
        if b" FETCH (" in line:
            flush()
        found = _FETCH_UID.search(line)
        if found:
            uid = int(found.group(1))
    flush()
    return mails


def _describe(exc: Exception) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "the IMAP server did not answer in time"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "the IMAP server refused the connection"
    if isinstance(exc, OSError):
        return f"cannot reach the IMAP server: {exc.strerror or exc}"
    text = str(exc) or type(exc).__name__
    return text[:300]


__all__ = [
    "MAX_IDLE_SECONDS",
    "BlockedDestination",
    "ConnectionLost",
    "Cursor",
    "FetchedMail",
    "ImapAccount",
    "ImapAuthError",
    "ImapError",
    "ImapReceiver",
    "ReceiverSink",
    "ReceiverStatus",
    "Timing",
    "backoff_delay",
]
