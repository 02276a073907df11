"""The e-mail channel's background receiver (`ChannelSpec.receiver`): the IMAP receiver of one inbox,
wired to the worker's `ReceiverContext`.

The inbox's IMAP account comes from its settings (`imap_host`, `imap_port`, `imap_security`,
`imap_username`, `imap_mailbox`, declared by the e-mail spec) and its sealed credentials (`imap_password`);
an e-mail inbox without an IMAP host receives by webhook only and its receiver just waits. Each fetched mail is submitted like a
webhook request: dedupe key and parse from the e-mail spec (the Message-ID, or a digest of the mail when it
has none), body sealed, stored with its processing job by the intake. A mail the parser refuses (a mail
bomb, broken MIME) is not stored: it stays in the mailbox, untouched, and the inbox's health line says
which and why. The cursor is the inbox's `receiver_state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

from relaydesk.channels.email.imap import ImapAccount, ImapReceiver, ReceiverStatus, Timing
from relaydesk.channels.email.spec import RAW_MAIL, SPEC, EmailSpec, dedupe_key, to_parsed
from relaydesk.channels.spec import InboundRequest, InvalidPayload, ReceiverContext

#: Stored with each fetched mail: tells the spec's `parse` the body is the mail itself, not a webhook form.
MAIL_HEADERS = {"content-type": RAW_MAIL}


def account_from(credentials: dict[str, Any], settings: dict[str, Any]) -> ImapAccount | None:
    """The inbox's IMAP account, or None when it has no IMAP server. ValueError names what is missing."""
    host = str(settings.get("imap_host") or "").strip()
    if not host:
        return None
    username = str(settings.get("imap_username") or "").strip()
    password = str(credentials.get("imap_password") or "")
    if not username or not password:
        raise ValueError("the IMAP user name and password are required to receive by IMAP")
    return ImapAccount(
        host=host,
        port=int(settings.get("imap_port") or 993),
        username=username,
        password=password,
        security=settings.get("imap_security") or "tls",
        mailbox=str(settings.get("imap_mailbox") or "INBOX"),
        ca_file=settings.get("imap_ca_file") or None,
    )


class ContextSink:
    """The IMAP receiver's `ReceiverSink` over the worker's `ReceiverContext`."""

    def __init__(self, ctx: ReceiverContext, spec: EmailSpec) -> None:
        self.ctx = ctx
        self.spec = spec
        self._error_at: dt.datetime | None = None

    async def load_cursor(self) -> dict[str, Any] | None:
        return await self.ctx.load_state() or None

    async def store(self, raws: list[bytes]) -> None:
        # Submitted together, they are stored together: the intake commits what arrives meanwhile as one
        # transaction (group commit), so a batch costs about one commit, not one per mail.
        refused = [reason for reason in await asyncio.gather(*(self._submit(raw) for raw in raws)) if reason]
        if refused:
            await self.ctx.report_error(
                f"{len(refused)} fetched mail(s) could not be read and stay in the mailbox: {refused[0]}"
            )

    async def _submit(self, raw: bytes) -> str | None:
        request = InboundRequest.stored(raw, MAIL_HEADERS, dt.datetime.now(dt.UTC))
        try:
            mail = self.spec.mail(request)  # parsed once for both the dedupe key and the envelopes
        except InvalidPayload as exc:
            return str(exc)[:300]
        await self.ctx.submit(request, dedupe_key=dedupe_key(mail), parsed=to_parsed(mail))
        return None

    async def save_cursor(self, cursor: dict[str, Any]) -> None:
        await self.ctx.save_state(cursor)

    async def report(self, status: ReceiverStatus) -> None:
        if status.last_error and status.last_error_at != self._error_at:
            self._error_at = status.last_error_at
            await self.ctx.report_error(status.last_error)
        await self.ctx.report_status(status.state, last_sync_at=status.last_sync_at)

    async def credentials_refused(self, reason: str) -> None:
        await self.ctx.needs_reauthorisation(f"the IMAP server refused the login: {reason}")


class MailboxReceiver:
    """`Receiver` of the e-mail channel: runs the IMAP receiver until the context says stop."""

    def __init__(self, timing: Timing | None = None) -> None:
        self.timing = timing

    async def run(self, ctx: ReceiverContext) -> None:
        try:
            account = account_from(dict(ctx.credentials), dict(ctx.settings))
        except ValueError as exc:
            await ctx.report_error(str(exc))
            account = None
        if account is None:  # webhook-only inbox, or incomplete IMAP settings: nothing to run
            await ctx.stopping.wait()
            return
        receiver = ImapReceiver(account, ContextSink(ctx, SPEC), self.timing, allow_private=ctx.allow_private)

        async def stop_when_asked() -> None:
            await ctx.stopping.wait()
            await receiver.stop()

        watcher = asyncio.create_task(stop_when_asked())
        try:
            await receiver.run()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def receiver() -> MailboxReceiver:
    """The factory `ChannelSpec.receiver` names."""
    return MailboxReceiver()
