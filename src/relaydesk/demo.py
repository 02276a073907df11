"""Seed a demo workspace so a new user can log in and look around at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from litestar import Request, post

from relaydesk.actions import knowledge as kb
from relaydesk.actions.ai import save_settings
from relaydesk.actions.ai_intents import builtin_id, create_intent, update_intent
from relaydesk.actions.conversations import assign, change_status, set_labels, set_priority
from relaydesk.actions.inboxes import create_inbox, update_inbox
from relaydesk.actions.incoming import receive_incoming
from relaydesk.actions.library import create_canned_response, create_label, create_team, set_team_members
from relaydesk.actions.messages import post_message
from relaydesk.actions.workspaces import add_member, create_user, create_workspace
from relaydesk.ai.agent.understanding import embed
from relaydesk.channels.envelopes import IncomingMessage
from relaydesk.db.base import utcnow
from relaydesk.errors import NotAuthenticated
from relaydesk.models.inboxes import Inbox
from relaydesk.models.workspaces import Workspace
from relaydesk.outbound.signing import SignatureError, verify
from relaydesk.privacy import storage
from relaydesk.runtime import Runtime

DEMO_SLUG = "acme-demo"
DEMO_INTEGRATOR_PATH = "/demo/integrator-webhook"
LOGIN_FILE = Path(".relaydesk/demo-login.txt")
log = logging.getLogger(__name__)

_CUSTOMERS = [
    (
        "Maria Garcia",
        "maria@example.com",
        "+34 600 123 456",
        [
            "Hi! Where is my order #1042? It was supposed to arrive yesterday.",
            "The tracking page has not changed since Monday.",
        ],
    ),
    (
        "Tom Becker",
        "tom.becker@example.org",
        "+49 151 2345678",
        [
            "I want to change the delivery address for order #1051, I'm moving next week.",
        ],
    ),
    (
        "Aiko Tanaka",
        "aiko@example.net",
        None,
        [
            "Can I get a refund for the blue jacket? It's too small.",
            "I still have the receipt.",
        ],
    ),
    (
        "Liam O'Connor",
        "liam@example.com",
        "+353 85 123 4567",
        [
            "Your app keeps logging me out, this is really frustrating!",
        ],
    ),
    ("Sofia Rossi", "sofia.rossi@example.it", None, ["Do you ship to Switzerland?"]),
]


# The knowledge base the AI answers from (offline, with the local provider).
_ARTICLES = [
    kb.ArticleFields(
        "How long does delivery take?",
        "Standard delivery takes 3 to 5 working days within the EU. Express delivery arrives the next working "
        "day if you order before 2 pm. Every order confirmation e-mail has a tracking link.",
        kind="faq",
        tags=["shipping"],
    ),
    kb.ArticleFields(
        "Which countries do you ship to?",
        "We ship to every EU country, the United Kingdom, Norway and Switzerland. Deliveries to Switzerland "
        "and Norway take 3 to 5 working days; customs duties are included in the price.",
        kind="faq",
        tags=["shipping"],
    ),
    kb.ArticleFields(
        "Can I return an item and get a refund?",
        "Yes: you can return any item within 30 days of delivery, for example if it is too small. Print the "
        "free return label from your account page and drop the parcel at any post office. The refund reaches "
        "your original payment method within 5 working days after the parcel arrives.",
        kind="faq",
        tags=["refund"],
    ),
    kb.ArticleFields(
        "Changing the delivery address",
        "You can change the delivery address of an order until it ships: open the order in your account and "
        "choose Change address. Once the parcel has shipped, the carrier's tracking page offers a redirect.",
        kind="article",
        tags=["shipping"],
    ),
]
# One intent of the demo's own beside the built-in ones (two of which the demo maps to labels below).
_GIFT_INTENT = {
    "name": "gift_wrapping",
    "description": "Gift wrapping and gift messages",
    "examples": [
        "can you gift wrap my order",
        "is gift wrapping available",
        "I'd like to add a gift message to the parcel",
        "please wrap it as a present",
        "how much does gift wrapping cost",
    ],
}


@dataclass
class DemoLogin:
    email: str
    password: str


async def seed_demo(runtime: Runtime) -> DemoLogin:
    """Create the demo workspace once; later runs only read back the saved login."""
    async with runtime.db.read() as session:
        exists = (await session.execute(sa.select(Workspace.id).where(Workspace.slug == DEMO_SLUG))).first()
    if exists and LOGIN_FILE.exists():
        email, password = LOGIN_FILE.read_text().split("\n")[:2]
        return DemoLogin(email, password)
    password = secrets.token_urlsafe(12)
    # Chunk and embed the articles before the write transaction (the first run loads the small local model).
    articles = await asyncio.to_thread(lambda: [kb.prepare(a, embed) for a in _ARTICLES])
    async with runtime.db.write() as session:
        ws = await create_workspace(session, "Acme Demo", DEMO_SLUG)
        admin = await create_user(session, "admin@acme.example", "Alex Admin", password)
        await add_member(session, ws.id, admin.id, "owner")
        agents = []
        for email, name in (("sam@acme.example", "Sam Support"), ("riley@acme.example", "Riley Reyes")):
            agent = await create_user(session, email, name, password)
            await add_member(session, ws.id, agent.id, "agent")
            agents.append(agent)
        team = await create_team(session, ws.id, "Orders", "Order status, changes and refunds")
        await set_team_members(session, ws.id, team.id, [a.id for a in agents])
        urgent = await create_label(session, ws.id, "urgent", "#dc2626")
        refund = await create_label(session, ws.id, "refund", "#2563eb")
        await create_label(session, ws.id, "shipping", "#059669")
        await create_canned_response(session, ws.id, "thanks", "Thank you for reaching out! We're on it.")
        await create_canned_response(
            session,
            ws.id,
            "tracking",
            "You can follow your parcel at any time from the link in your confirmation e-mail.",
        )
        # The demo's "integrator" is the demo server itself (integrator_webhook below), on loopback: the
        # `demo` command allows private targets for the `channels` purpose (cli/main.py).
        api_inbox = await create_inbox(
            session,
            ws.id,
            name="Shop backend (API)",
            channel_type="api",
            settings={"webhook_url": f"http://127.0.0.1:{runtime.settings.port}{DEMO_INTEGRATOR_PATH}"},
        )
        await _seed_ai(
            session, ws.id, api_inbox.id, admin.id, articles, refund_label=refund.id, urgent=urgent.id
        )
        start = utcnow() - dt.timedelta(hours=6)
        for n, (name, email, phone, texts) in enumerate(_CUSTOMERS):
            conv_id = None
            for k, text in enumerate(texts):
                msg, _ = await receive_incoming(
                    session,
                    api_inbox,
                    IncomingMessage(
                        external_contact_id=f"customer-{n + 1}",
                        provider_message_id=f"demo-{n + 1}-{k + 1}",
                        text=text,
                        contact_name=name,
                        contact_email=email,
                        contact_phone=phone,
                        sent_at=start + dt.timedelta(minutes=40 * n + k),
                    ),
                )
                conv_id = msg.conversation_id
            assert conv_id is not None
            if n == 0:
                await assign(session, ws.id, conv_id, assignee_id=agents[0].id, team_id=team.id)
                await set_labels(session, ws.id, conv_id, [urgent.id])
                await set_priority(session, ws.id, conv_id, "high")
                await post_message(
                    session,
                    ws.id,
                    conv_id,
                    text="Checking with the carrier now.",
                    private=True,
                    sender_user_id=agents[0].id,
                )
            if n == 2:
                await set_labels(session, ws.id, conv_id, [refund.id])
                await assign(session, ws.id, conv_id, team_id=team.id)
            if n == 4:
                await post_message(
                    session,
                    ws.id,
                    conv_id,
                    text="Yes, we ship to Switzerland within 3-5 working days.",
                    sender_user_id=agents[1].id,
                )
                await change_status(session, ws.id, conv_id, "resolved")
    LOGIN_FILE.parent.mkdir(parents=True, exist_ok=True)
    LOGIN_FILE.write_text(f"admin@acme.example\n{password}\n")
    LOGIN_FILE.chmod(0o600)
    return DemoLogin("admin@acme.example", password)


DEMO_WIDGET_NAME = "Website chat"


async def seed_demo_widget(runtime: Runtime, site_url: str) -> str:
    """The demo's widget inbox (made once; its allowed origins follow the demo website's port), for the
    demo website `relaydesk demo` serves beside Relaydesk. Returns the inbox's public id."""
    from relaydesk.actions.inboxes import update_inbox

    origins = [site_url, site_url.replace("127.0.0.1", "localhost")]
    async with runtime.db.write() as session:
        ws_id = (
            await session.execute(sa.select(Workspace.id).where(Workspace.slug == DEMO_SLUG))
        ).scalar_one()
        inbox = (
            await session.execute(
                sa.select(Inbox).where(Inbox.workspace_id == ws_id, Inbox.channel_type == "widget")
            )
        ).scalar_one_or_none()
        if inbox is None:
            inbox = await create_inbox(
                session,
                ws_id,
                name=DEMO_WIDGET_NAME,
                channel_type="widget",
                settings={"allowed_origins": origins, "title": "Acme support"},
            )
        elif inbox.settings.get("allowed_origins") != origins:
            await update_inbox(session, ws_id, inbox.id, settings={"allowed_origins": origins})
        return inbox.public_id


def demo_site(relaydesk_url: str, public_id: str) -> Any:
    """The demo website: a shop page on its own origin that embeds the widget with its one script tag
    (the widget's loopback host site, channels/widget/fake.py)."""
    from relaydesk.channels.widget.fake import HostSite

    return HostSite(relaydesk_url, public_id, title="Acme Shop (demo website)")


async def _seed_ai(
    session: Any,
    workspace_id: uuid.UUID,
    inbox_id: uuid.UUID,
    admin_id: uuid.UUID,
    articles: list[kb.Prepared],
    *,
    refund_label: uuid.UUID,
    urgent: uuid.UUID,
) -> None:
    """AI on for the demo's inbox, offline: suggestions for agents and intent triage, no automated replies
    (so the seeded conversations stay as seeded); the workspace level stays off."""
    for prepared in articles:
        await kb.create_article(session, workspace_id, prepared)
    await update_intent(
        session,
        workspace_id,
        builtin_id(workspace_id, "refund"),
        {"label_id": refund_label},
        actor_id=admin_id,
    )
    await update_intent(
        session,
        workspace_id,
        builtin_id(workspace_id, "account"),
        {"label_id": urgent, "priority": "high"},
        actor_id=admin_id,
    )
    await create_intent(session, workspace_id, _GIFT_INTENT, actor_id=admin_id)
    await save_settings(
        session,
        workspace_id,
        inbox_id,
        {"enabled": True, "provider": "local", "auto_reply": False, "auto_classify": True},
        actor_id=admin_id,
    )


@post(DEMO_INTEGRATOR_PATH, include_in_schema=False, status_code=200)
async def integrator_webhook(request: Request, runtime: Runtime) -> dict[str, str]:
    """Plays the integrator's endpoint in demo mode, so agent replies on the API inbox show as delivered.

    It checks the Standard Webhooks signature with the demo inbox's outbound secret, as a real integrator
    must; a forged call gets 401.
    """
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    async with runtime.db.read() as session:
        inboxes = (
            (
                await session.execute(
                    sa.select(Inbox)
                    .join(Workspace, Workspace.id == Inbox.workspace_id)
                    .where(Workspace.slug == DEMO_SLUG, Inbox.channel_type == "api")
                )
            )
            .scalars()
            .all()
        )
    for inbox in inboxes:
        try:
            verify(storage.read_inbox_credentials(inbox)["outbound_secret"], headers, body)
        except (SignatureError, KeyError):
            continue
        log.info("demo integrator received message %s", headers.get("webhook-id"))
        return {"status": "received"}
    raise NotAuthenticated("signature does not match the demo inbox")


DEMO_MAIL_INBOX = "Support mail (demo)"


async def wire_demo_mail(runtime: Runtime, info: Any) -> uuid.UUID:
    """The demo's e-mail inbox, pointed at the demo's own mail servers (relaydesk/demo_mail.py): created
    on the first run, its ports and password updated on every run (the servers are new each time)."""
    settings = {
        "from_address": info.support_address,
        "from_name": "Acme Support",
        "smtp_host": "127.0.0.1",
        "smtp_port": info.smtp_port,
        "smtp_security": "plain",
        "imap_host": "127.0.0.1",
        "imap_port": info.imap_port,
        "imap_security": "plain",
        "imap_username": info.support_address,
        "imap_mailbox": "INBOX",
    }
    credentials = {"imap_password": info.imap_password}
    async with runtime.db.write() as session:
        ws_id = (
            await session.execute(sa.select(Workspace.id).where(Workspace.slug == DEMO_SLUG))
        ).scalar_one()
        inbox = (
            await session.execute(
                sa.select(Inbox).where(
                    Inbox.workspace_id == ws_id, Inbox.channel_type == "email", Inbox.name == DEMO_MAIL_INBOX
                )
            )
        ).scalar_one_or_none()
        if inbox is None:
            inbox = await create_inbox(
                session,
                ws_id,
                name=DEMO_MAIL_INBOX,
                channel_type="email",
                settings=settings,
                credentials=credentials,
            )
        else:
            await update_inbox(session, ws_id, inbox.id, settings=settings, credentials=credentials)
        return inbox.id
