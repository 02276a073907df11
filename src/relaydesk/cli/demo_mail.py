"""`relaydesk demo-mail send | inbox`: write to the running demo's support address, read its answers.

Both talk to the demo's own mail servers on 127.0.0.1 (relaydesk/demo_mail.py), found through the file
`relaydesk demo` writes in the folder it runs in (`.relaydesk/demo-mail.json`).
"""

from __future__ import annotations

import click


@click.group("demo-mail")
def demo_mail() -> None:
    """Send the running demo an e-mail and read the answers it sent (local mail servers only)."""


@demo_mail.command("send")
@click.option(
    "--from", "sender", default="you@example.com", show_default=True, help="Your (made-up) address."
)
@click.option("--reply-to-id", default=None, help="Message-ID of the demo's mail you answer (threads it).")
@click.argument("subject")
@click.argument("body")
def send(sender: str, reply_to_id: str | None, subject: str, body: str) -> None:
    """Mail SUBJECT / BODY to the demo's support address through the demo's SMTP server."""
    from relaydesk.demo_mail import DemoMailInfo, send_demo_mail

    try:
        message_id = send_demo_mail(sender, subject, body, in_reply_to=reply_to_id)
    except (FileNotFoundError, OSError) as exc:
        raise click.ClickException(f"cannot reach the demo's mail server: {exc}") from None
    info = DemoMailInfo.load()
    click.echo(f"sent {message_id} to {info.support_address}; it shows in the demo's inbox in a moment")


@demo_mail.command("inbox")
@click.option("--for", "recipient", default=None, help="Only mails to this address.")
def inbox(recipient: str | None) -> None:
    """Print the mails the demo sent out (agents' and the AI's answers), oldest first."""
    from relaydesk.demo_mail import outside_mail

    try:
        mails = outside_mail(recipient)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    if not mails:
        click.echo("no answer yet")
    for item in mails:
        click.echo(f"--- {item['date']}  from {item['from']}  to {item['to']}")
        click.echo(f"Subject: {item['subject']}  ({item['message_id']})\n")
        click.echo(item["text"].rstrip() + "\n")
