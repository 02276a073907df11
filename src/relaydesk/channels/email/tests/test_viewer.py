"""An HTML mail viewed by an agent (routes.py): sanitised, sandboxed, inline images inlined, remote images
only on request, scoped to the agent's workspace; and the thread's JSON tells the inbox what to offer."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from relaydesk.channels.email.fake import FakeSmtpServer
from relaydesk.channels.email.tests.test_end_to_end import customer_mail, email_inbox, post_mail
from relaydesk.models import Message
from tests.web.helpers import login

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


async def _received(client, runtime, make_workspace, run_jobs):  # type: ignore[no-untyped-def]
    ws = await make_workspace()
    async with FakeSmtpServer() as smtp:
        inbox = await email_inbox(runtime, ws, smtp)
    raw = (FIXTURES / "multipart_inline_image.eml").read_bytes()
    assert (await post_mail(client, inbox, raw)).status_code == 202
    assert (await post_mail(client, inbox, customer_mail("plain-1@example.org", "plain"))).status_code == 202
    await run_jobs()
    async with runtime.db.read() as session:
        rows = (await session.execute(sa.select(Message).where(Message.inbox_id == inbox.id))).scalars()
        by_id = {m.provider_message_id: m for m in rows}
    return ws, by_id["a1b2c3d4.inline@example.com"], by_id["plain-1@example.org"]


async def test_html_mail_is_served_sandboxed_with_remote_images_blocked_until_asked(
    client, runtime, make_workspace, run_jobs
):
    ws, html_mail, plain_mail = await _received(client, runtime, make_workspace, run_jobs)
    await login(client, ws.agent.email, ws.agent.password)
    view = await client.get(f"/inbox/messages/{html_mail.id}/email")
    assert view.status_code == 200 and view.headers["content-type"].startswith("text/html")
    policy = view.headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy and "img-src data:;" in policy
    assert "https:" not in policy
    body = view.text
    assert "<script" not in body and "onclick" not in body and "javascript:" not in body
    assert 'data-remote-src="https://tracker.example.net/open.gif?u=chen"' in body
    assert 'src="data:image/png;base64,iVBOR' in body  # the cid: image, inlined
    shown = await client.get(f"/inbox/messages/{html_mail.id}/email?images=1")
    assert 'src="https://tracker.example.net/open.gif?u=chen"' in shown.text
    assert "img-src data: https: http:" in shown.headers["content-security-policy"]
    assert (await client.get(f"/inbox/messages/{plain_mail.id}/email")).status_code == 404

    thread = await client.get(
        f"/api/v1/conversations/{html_mail.conversation_id}/messages", headers=ws.agent.headers
    )
    [item] = thread.json()["items"]
    attrs = item["content_attributes"]
    assert attrs["email"]["remote_images"] == 1 and isinstance(attrs["email"]["html"], int)
    assert item["attachments"][attrs["original_attachment"]]["filename"] == "original.eml"
    assert "kettle" not in str(attrs)  # clear attributes hold no text of the mail


async def test_another_workspace_cannot_view_the_mail(client, runtime, make_workspace, run_jobs):
    _ws, html_mail, _plain = await _received(client, runtime, make_workspace, run_jobs)
    other = await make_workspace("Other")
    await login(client, other.agent.email, other.agent.password)
    assert (await client.get(f"/inbox/messages/{html_mail.id}/email")).status_code == 404
    client.cookies.clear()
    anonymous = await client.get(f"/inbox/messages/{html_mail.id}/email")
    assert anonymous.status_code in (302, 303) and "/login" in anonymous.headers["location"]
