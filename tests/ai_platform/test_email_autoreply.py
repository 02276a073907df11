"""The automated agent on an e-mail inbox: it answers a person's mail by SMTP with the RFC 3834 headers,
and never answers an automatic mail (out-of-office, list, bounce-like), which is only triaged."""

from __future__ import annotations

from relaydesk.channels.email.fake import FakeSmtpServer
from relaydesk.channels.email.tests.test_end_to_end import customer_mail, email_inbox, post_mail
from tests.ai_platform.conftest import decisions


async def test_ai_answers_a_person_by_mail_but_never_an_automatic_mail(
    client, runtime, make_workspace, seed_kb, enable_ai, run_jobs
):
    ws = await make_workspace()
    await seed_kb(ws)
    async with FakeSmtpServer() as smtp:
        inbox = await email_inbox(runtime, ws, smtp)
        await enable_ai(ws)
        question = customer_mail(
            "q-1@example.org", "How long does delivery take to Germany?", subject="Delivery"
        )
        assert (await post_mail(client, inbox, question)).status_code == 202
        await run_jobs()
        [answer] = await smtp.wait_for(1)
        assert "3 to 5 working days" in answer.message.get_body(("plain",)).get_content()
        assert answer.message["Auto-Submitted"] == "auto-replied"
        assert answer.message["X-Auto-Response-Suppress"] == "All"
        assert answer.message["In-Reply-To"] == "<q-1@example.org>"

        out_of_office = customer_mail(
            "ooo-1@example.org",
            "I am away until Monday. How long does delivery take to Germany?",
            subject="Automatic reply: Delivery",
            extra="Auto-Submitted: auto-replied\r\nIn-Reply-To: <"
            + answer.message["Message-ID"].strip("<>")
            + ">\r\n",
        )
        assert (await post_mail(client, inbox, out_of_office)).status_code == 202
        await run_jobs()
    assert len(smtp.received) == 1  # no answer to the automatic mail: no loop
    convs = (await client.get("/api/v1/conversations?status=all", headers=ws.agent.headers)).json()["items"]
    assert len(convs) == 1  # the out-of-office threaded into the same conversation
    assert [d["action"] for d in await decisions(client, ws, convs[0]["id"])] == ["answer"]
