"""A visitor who left the chat gets the agent's reply by e-mail, through the chat's e-mail inbox (a real SMTP
server on 127.0.0.1, the e-mail channel's fake), and their e-mailed answer lands back in the same chat
conversation; while the visitor is there, nothing is mailed; a stranger quoting the same thread does not
get into the chat; the setting must name an e-mail inbox of the same workspace."""

from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa

from relaydesk.actions.inboxes import create_inbox, update_inbox
from relaydesk.channels.email.fake import FakeSmtpServer, MailgunDriver
from relaydesk.channels.widget.fake import consent
from relaydesk.channels.widget.tests.support import make_widget_inbox
from relaydesk.errors import InvalidInput
from relaydesk.models import Conversation, Message

HOST = "http://shop.example"
KEY = "key-fallback-signing"


async def email_inbox(runtime, workspace_id, smtp_port: int):  # type: ignore[no-untyped-def]
    async with runtime.db.write() as session:
        return await create_inbox(
            session,
            workspace_id,
            name="Support mail",
            channel_type="email",
            settings={
                "from_address": "support@support.example.com",
                "from_name": "Example Support",
                "reply_domain": "in.support.example.com",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_port,
                "smtp_security": "plain",
            },
            credentials={"mailgun_signing_key": KEY},
        )


def mail(sender: str, message_id: str, text: str, in_reply_to: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: reply+x@in.support.example.com\r\nSubject: Re: your message\r\n"
        f"Date: Fri, 04 Dec 2026 15:00:00 +0000\r\nMessage-ID: <{message_id}>\r\nIn-Reply-To: <{in_reply_to}>\r\n"
        f"\r\n{text}\r\n"
    ).encode()


async def wait_until(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_the_fallback_inbox_must_be_an_email_inbox_of_the_workspace(client, runtime, make_workspace):
    ws, other = await make_workspace(), await make_workspace("Other")
    inbox = await make_widget_inbox(runtime, ws.id, allowed_origins=[HOST])
    async with FakeSmtpServer() as smtp:
        mine = await email_inbox(runtime, ws.id, smtp.port)
        theirs = await email_inbox(runtime, other.id, smtp.port)
    for value in (str(ws.api_inbox_id), str(theirs.id), str(uuid.uuid4()), "not-an-id"):
        try:
            async with runtime.db.write() as session:
                await update_inbox(session, ws.id, inbox.id, settings={"email_fallback_inbox": value})
        except InvalidInput as exc:
            assert exc.details == {"field": "settings.email_fallback_inbox"}
        else:
            raise AssertionError(f"{value} was accepted")
    async with runtime.db.write() as session:
        saved = await update_inbox(session, ws.id, inbox.id, settings={"email_fallback_inbox": str(mine.id)})
        assert saved.settings["email_fallback_inbox"] == str(mine.id)
    # The chat knows replies may come by e-mail (its away notice says so outside business hours).
    frame = await client.get(f"/widget/{inbox.public_id}/frame", params={"host": HOST})
    assert '"email_fallback": true' in frame.text


async def test_a_visitor_who_left_is_answered_by_email_and_their_answer_returns_to_the_chat(
    client, relaydesk_server, make_workspace, visitors
):  # type: ignore[no-untyped-def]
    server = relaydesk_server
    runtime = server.runtime
    ws = await make_workspace()
    async with FakeSmtpServer() as smtp:
        mailbox = await email_inbox(runtime, ws.id, smtp.port)
        chat = await make_widget_inbox(
            runtime, ws.id, allowed_origins=[HOST], email_fallback_inbox=str(mailbox.id)
        )
        visitor = visitors(server.url, chat.public_id, HOST)
        assert (await visitor.start()).status_code == 201
        socket = await visitor.socket()
        await socket.next("hello")
        await socket.send(
            {
                "type": "message.create",
                "client_msg_id": "first-message-1",
                "text": "Where is my parcel?",
                "prechat": consent(name="Ada", email="ada@example.org"),
            }
        )
        ack = await socket.next("ack")
        conv_id = ack["message"]["conversation_id"]

        async def reply(text: str) -> dict:  # type: ignore[type-arg]
            resp = await client.post(
                f"/api/v1/conversations/{conv_id}/messages", json={"content": text}, headers=ws.agent.headers
            )
            assert resp.status_code == 201, resp.text
            return resp.json()

        async def status_of(message_id: str) -> Message:
            async with runtime.db.read() as session:
                return await session.get(Message, uuid.UUID(message_id))

        # The visitor is here: the reply reaches the chat, nothing is mailed.
        here = await reply("Let me look.")
        while (frame := await socket.next("message"))["message"]["from"] == "visitor":
            pass  # the visitor's own message comes first
        assert frame["message"]["text"] == "Let me look."
        await wait_until(lambda: _sent(status_of, here["id"]))
        assert smtp.received == [] and "delivered_by" not in (await status_of(here["id"])).content_attributes

        # The visitor closes the chat; the next reply goes by e-mail, threaded on the chat conversation.
        await socket.close()
        await asyncio.sleep(0.3)
        away = await reply("It left our warehouse today.")
        [out] = await smtp.wait_for(1, timeout=10)
        message = out.message
        our_id = f"rd.{away['id'].replace('-', '')}@in.support.example.com"
        assert out.rcpt_tos == ["ada@example.org"] and message["To"] == "ada@example.org"
        assert message["Message-ID"] == f"<{our_id}>"
        assert message["Reply-To"] == f"reply+{uuid.UUID(conv_id).hex}@in.support.example.com"
        assert "It left our warehouse today." in message.get_body(("plain",)).get_content()
        assert "Auto-Submitted" not in message  # a person's reply
        stored = await wait_until(lambda: _sent(status_of, away["id"]))
        assert stored.provider_message_id == our_id
        assert stored.content_attributes["delivered_by"] == {"channel": "email", "inbox_id": str(mailbox.id)}

        # Ada answers the mail: it lands in the chat conversation, as her message.
        driver = MailgunDriver(KEY)
        answer = mail("Ada <ada@example.org>", "ada-answer-1@example.org", "Great, thank you!", our_id)
        resp = await client.post(
            f"/inbound/email/{mailbox.public_id}",
            data=driver.mime_form(answer, "reply+x@in.support.example.com", "ada@example.org"),
        )
        assert resp.status_code == 202, resp.text
        # Someone else quoting the same mail stays in the e-mail inbox.
        stranger = mail("Mallory <mallory@example.net>", "mallory-1@example.net", "Let me in", our_id)
        resp = await client.post(
            f"/inbound/email/{mailbox.public_id}",
            data=driver.mime_form(stranger, "reply+x@in.support.example.com", "mallory@example.net"),
        )
        assert resp.status_code == 202, resp.text

        async def arrived() -> list[Message]:
            async with runtime.db.read() as session:
                rows = list(
                    (
                        await session.execute(
                            sa.select(Message).where(
                                Message.workspace_id == ws.id, Message.message_type == "incoming"
                            )
                        )
                    ).scalars()
                )
            return rows if len(rows) == 3 else []

        rows = await wait_until(arrived)
        by_pid = {m.provider_message_id: m for m in rows}
        ada = by_pid["ada-answer-1@example.org"]
        assert str(ada.conversation_id) == conv_id and ada.inbox_id == chat.id
        [first] = [m for m in rows if m.conversation_id == ada.conversation_id and m is not ada]
        assert first.sender_contact_id == ada.sender_contact_id  # the chat's contact, not a new one
        mallory = by_pid["mallory-1@example.net"]
        assert mallory.inbox_id == mailbox.id and str(mallory.conversation_id) != conv_id
        async with runtime.db.read() as session:
            chat_convs = (
                await session.execute(
                    sa.select(sa.func.count())
                    .select_from(Conversation)
                    .where(Conversation.inbox_id == chat.id)
                )
            ).scalar_one()
        assert chat_convs == 1

        # Back on the site, the visitor sees the mailed reply and their e-mailed answer in the chat.
        thread = (await visitor.history()).json()
        texts = [m["text"] for c in thread["conversations"] for m in c["messages"]]
        assert "It left our warehouse today." in texts and any(
            "Great, thank you!" in (t or "") for t in texts
        )


async def _sent(status_of, message_id: str):  # type: ignore[no-untyped-def]
    message = await status_of(message_id)
    return message if message.status == "sent" else None
