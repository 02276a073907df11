"""Threading real-shaped mails into conversations (actions/incoming.py `_thread_conversations`), on the
database the tests run against (SQLite, or PostgreSQL with RELAYDESK_TEST_DATABASE_URL)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from relaydesk.actions.conversations import change_status
from relaydesk.actions.incoming import receive_incoming_batch
from relaydesk.actions.messages import post_message
from relaydesk.channels.email import ids
from relaydesk.channels.email.mime import parse_message
from relaydesk.models import Conversation, Inbox, Message

DOMAIN = "support.example.com"


def mail(
    sender: str,
    message_id: str,
    text: str = "hello",
    *,
    subject: str = "Question",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    to: str = f"support@{DOMAIN}",
    extra: str = "",
) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Message-ID: <{message_id}>"]
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append("References: " + " ".join(f"<{r}>" for r in references))
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n" + text + "\r\n").encode()


async def receive(runtime, inbox_id, *raws: bytes) -> list[Message]:  # type: ignore[no-untyped-def]
    async with runtime.db.write() as session:
        inbox = await session.get(Inbox, inbox_id)
        results = await receive_incoming_batch(session, inbox, [parse_message(r).incoming for r in raws])
    async with runtime.db.read() as session:
        return [await session.get(Message, mid) for mid, _ in results]


async def our_reply(runtime, ws, conversation_id) -> str:  # type: ignore[no-untyped-def]
    """An agent's reply as the sender stores it: its Message-ID becomes its provider id."""
    async with runtime.db.write() as session:
        msg = await post_message(
            session, ws.id, conversation_id, text="We are on it", sender_user_id=ws.agent.user_id
        )
        msg.provider_message_id = ids.our_message_id(msg.id, DOMAIN)
        return msg.provider_message_id


async def test_replies_follow_in_reply_to_references_and_the_token(runtime, make_workspace):
    ws = await make_workspace()
    [first] = await receive(runtime, ws.api_inbox_id, mail("Ada <ada@example.org>", "a1@example.org"))
    conv = first.conversation_id
    ours = await our_reply(runtime, ws, conv)

    [by_header] = await receive(
        runtime, ws.api_inbox_id, mail("ada@example.org", "a2@example.org", in_reply_to=ours)
    )
    assert by_header.conversation_id == conv
    # In-Reply-To names a mail we never saw; References still lead to the thread.
    [by_refs] = await receive(
        runtime,
        ws.api_inbox_id,
        mail(
            "ada@example.org",
            "a3@example.org",
            in_reply_to="unknown@example.org",
            references=["a1@example.org"],
        ),
    )
    assert by_refs.conversation_id == conv
    # No headers at all (a client that drops them): the reply+token address routes it.
    [by_token] = await receive(
        runtime,
        ws.api_inbox_id,
        mail("ada@example.org", "a4@example.org", to=ids.reply_address(conv, DOMAIN)),
    )
    assert by_token.conversation_id == conv


async def test_a_new_subject_from_the_same_person_starts_a_new_conversation(runtime, make_workspace):
    ws = await make_workspace()
    [first] = await receive(
        runtime, ws.api_inbox_id, mail("ada@example.org", "b1@example.org", subject="Order 1")
    )
    [second] = await receive(
        runtime, ws.api_inbox_id, mail("ada@example.org", "b2@example.org", subject="Invoice")
    )
    assert second.conversation_id != first.conversation_id
    assert second.sender_contact_id == first.sender_contact_id
    async with runtime.db.read() as session:
        first_conv = await session.get(Conversation, first.conversation_id)
        assert first_conv.unread_count == 1  # untouched by the new mail


async def test_references_and_tokens_never_cross_to_another_contact(runtime, make_workspace):
    ws = await make_workspace()
    [ada] = await receive(runtime, ws.api_inbox_id, mail("ada@example.org", "c1@example.org"))
    [eve] = await receive(
        runtime,
        ws.api_inbox_id,
        mail(
            "eve@example.net",
            "c2@example.net",
            in_reply_to="c1@example.org",
            to=ids.reply_address(ada.conversation_id, DOMAIN),
        ),
    )
    assert eve.conversation_id != ada.conversation_id


async def test_references_only_count_on_the_same_inbox_and_workspace(runtime, make_workspace):
    ws, other = await make_workspace(), await make_workspace("Other")
    [there] = await receive(runtime, other.api_inbox_id, mail("ada@example.org", "d1@example.org"))
    [here] = await receive(
        runtime,
        ws.api_inbox_id,
        mail(
            "ada@example.org",
            "d2@example.org",
            in_reply_to="d1@example.org",
            to=ids.reply_address(there.conversation_id, DOMAIN),
        ),
    )
    assert here.conversation_id != there.conversation_id
    async with runtime.db.read() as session:
        conv = await session.get(Conversation, here.conversation_id)
        assert conv.workspace_id == ws.id


async def test_a_reply_in_a_resolved_thread_reopens_it(runtime, make_workspace):
    ws = await make_workspace()
    [first] = await receive(runtime, ws.api_inbox_id, mail("ada@example.org", "e1@example.org"))
    async with runtime.db.write() as session:
        await change_status(session, ws.id, first.conversation_id, "resolved")
    [reply] = await receive(
        runtime, ws.api_inbox_id, mail("ada@example.org", "e2@example.org", in_reply_to="e1@example.org")
    )
    assert reply.conversation_id == first.conversation_id
    async with runtime.db.read() as session:
        assert (await session.get(Conversation, first.conversation_id)).status == "open"


async def test_a_batch_threads_a_reply_to_a_mail_of_the_same_batch(runtime, make_workspace):
    ws = await make_workspace()
    first, reply, unrelated, duplicate = await receive(
        runtime,
        ws.api_inbox_id,
        mail("ada@example.org", "f1@example.org", subject="Lid"),
        mail("ada@example.org", "f2@example.org", subject="Re: Lid", in_reply_to="f1@example.org"),
        mail("ada@example.org", "f3@example.org", subject="Other"),
        mail("ada@example.org", "f1@example.org", subject="Lid"),  # the same mail fetched twice
    )
    assert reply.conversation_id == first.conversation_id
    assert unrelated.conversation_id != first.conversation_id
    assert duplicate.id == first.id
    async with runtime.db.read() as session:
        count = (
            await session.execute(
                sa.select(sa.func.count()).select_from(Conversation).where(Conversation.workspace_id == ws.id)
            )
        ).scalar_one()
    assert count == 2


async def test_automatic_mail_is_marked_so_no_automatic_answer_follows(runtime, make_workspace):
    ws = await make_workspace()
    [ooo] = await receive(
        runtime,
        ws.api_inbox_id,
        mail("bob@example.net", "g1@example.net", extra="Auto-Submitted: auto-replied\r\n"),
    )
    assert ooo.content_attributes["no_auto_reply"] == "Auto-Submitted: auto-replied"
    [person] = await receive(runtime, ws.api_inbox_id, mail("bob@example.net", "g2@example.net"))
    assert "no_auto_reply" not in person.content_attributes


async def test_unknown_token_starts_a_new_conversation(runtime, make_workspace):
    ws = await make_workspace()
    [msg] = await receive(
        runtime,
        ws.api_inbox_id,
        mail("ada@example.org", "h1@example.org", to=ids.reply_address(uuid.uuid4(), DOMAIN)),
    )
    assert msg.conversation_id is not None
